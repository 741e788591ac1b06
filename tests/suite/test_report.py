"""suite report: report.md with its figures and a self-contained report.html whose every image renders."""

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from suite.report.document import confident_examples
from tests.cli_helpers import suite, suite_here
from tests.stored_fixtures import add_experiment, comparison_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

# Appended to a copy of the report: after the page has loaded, count the images and those that failed to decode.
PROBE = """<script>window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
  document.body.setAttribute("data-images", images.length);
  document.body.setAttribute("data-broken", broken);
});</script>"""


def rendered_images(page: Path, tmp_path: Path) -> tuple[int, int]:
    """(images, broken images) of the page as headless Chromium renders it."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-images="(\d+)" data-broken="(\d+)"', dom)
    assert found, f"the probe did not run: {dom[:300]!r}"
    return int(found[1]), int(found[2])


def test_confident_examples_pick_the_surest_of_each_kind():
    scores = pd.DataFrame({"score": [0.95, 0.6, 0.9, 0.1, 0.4, 0.05, 0.7, 0.2],
                           "target": [1, 1, 0, 0, 0, 1, 0, 1]})
    got = confident_examples(scores, 2)
    assert got == {"true positive": [0, 1], "false positive": [2, 6], "true negative": [3, 4],
                   "false negative": [5, 7]}


@pytest.mark.slow  # the real command line, drawing every figure
def test_report_without_data_has_every_stored_figure_and_says_what_it_skipped(tmp_path):
    store = comparison_store(tmp_path / "r.db")
    add_experiment(store, [0.7, 0.72], scores=True, model="baseline", epochs=3)
    store.close()
    result = suite("report", "--task", "mnist", "--store", str(tmp_path / "r.db"), "--out", str(tmp_path / "rep"),
                   "--title", "Fixture report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "rep" / "report.md").read_text()
    page = (tmp_path / "rep" / "report.html").read_text()
    assert markdown.startswith("# Fixture report") and "<title>Fixture report</title>" in page
    figures = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", markdown)
    assert {Path(f).stem for f in figures} == {"differences", "mean_ci", "learning_curves", "roc", "runtime"}
    for figure in figures:
        assert (tmp_path / "rep" / figure).stat().st_size > 1000
        assert (tmp_path / "rep" / figure).with_suffix(".svg").is_file()
    assert page.count('<img src="data:image/png;base64,') == len(figures)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from outside the file
    assert "Data figures and galleries skipped: data directory data does not exist" in markdown
    assert "| experiment | model | w_sharing | aux_loss | epochs | shared by all |" in markdown


@pytest.mark.slow  # three commands on real MNIST, then Chromium
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian package chromium; .ci/run installs it)")
def test_report_on_real_mnist_renders_every_figure_in_chromium(tmp_path, mnist_data_dir):
    db = str(tmp_path / "r.db")
    for setting in (["--model", "baseline"], ["--w-sharing", "--aux-loss"]):
        run = suite("run", "mnist", *setting, "--rounds", "2", "--epochs", "1", "--pairs", "300", "--quiet",
                    "--store", db, cwd=tmp_path, data_dir=mnist_data_dir)
        assert run.returncode == 0, run.stderr
    result = suite("report", "--task", "mnist", "--store", db, "--out", str(tmp_path / "rep"), cwd=tmp_path,
                   data_dir=mnist_data_dir)
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "rep" / "report.md").read_text()
    for stem in ("gallery_1", "gallery_2", "label_balance", "roc"):
        assert f"(figures/{stem}.png)" in markdown
    images, broken = rendered_images(tmp_path / "rep" / "report.html", tmp_path)
    assert images == markdown.count("![") and broken == 0


@pytest.mark.slow  # starts Chromium
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian package chromium; .ci/run installs it)")
def test_the_probe_detects_a_broken_image(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA"></body></html>')
    assert rendered_images(page, tmp_path) == (1, 1)


@pytest.mark.parametrize("extra, message", [
    (["--out", "{file}"], "exists and is not a directory"),
    (["--data-dir", "{tmp}/nope"], "does not exist (from --data-dir)"),
    (["--baseline", "9"], "--baseline 9: not among the selected experiments"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, extra, message):
    comparison_store(tmp_path / "r.db").close()
    (tmp_path / "file").write_text("keep me")
    args = [a.format(file=tmp_path / "file", tmp=tmp_path) for a in extra]
    result = suite_here("report", "--task", "mnist", "--store", str(tmp_path / "r.db"), *args, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "file").read_text() == "keep me"
