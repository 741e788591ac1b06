"""Reports people read at a glance (issue 25): the report opens with one verdict sentence per experiment, with the
numbers `suite compare` prints; means and differences are dots with their intervals; captions say what each figure
drew; the loss of each training objective has its own panel; galleries say what each pair is; LFW's decoder
warnings name their file; and the page, as headless Chromium renders it, loads every figure and keeps every
caption's word."""

import html
import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

import suite
from suite.core import registry
from suite.core.metrics import Metric, declaration
from suite.report import plots
from suite.report.document import Block, learning_caption, to_html, to_markdown
from suite.report.formatting import summary_verdict
from suite.results.store import Store
from suite_tasks.lfw.data import _preprocess
from suite_tasks.mnist_pairs.task import TASK as MNIST
from tests.cli_helpers import suite_here
from tests.stored_fixtures import add_experiment, comparison_store
from tests.suite.test_report import CHROMIUM
from tests.toy_task import ToyConfig, ToyTask

ACCURACY = declaration(MNIST, "test_accuracy")
QUOTED = re.compile(r"“([^”]+)”")  # how a caption names a legend entry


class PictureToy(ToyTask):
    """The toy task with each vector of a pair shown as a 4×4 image (so reports draw galleries of it), and the
    report hooks declared: each model trains its own objective, and each pair's note gives its two sums."""

    name = "toy-pictures"

    def round_data(self, prepared, config: ToyConfig, generator: torch.Generator, round_index: int = 0):
        splits = super().round_data(prepared, config, generator, round_index)
        return {name: split | {"x": split["x"].view(len(split["x"]), 2, 4, 4)} for name, split in splits.items()}

    def objective(self, config: ToyConfig) -> str:
        return f"cross-entropy of the {config.model} logits"

    def example_note(self, config: ToyConfig, split, index: int) -> str:
        first, second = split["x"][index].flatten(1).sum(1).tolist()
        return f"sums {first:.2f} and {second:.2f}"


PICTURES = PictureToy()


def report(tmp_path: Path, store: Path, *args: str) -> tuple[str, str]:
    result = suite_here("report", "--store", str(store), "--out", str(tmp_path / "rep"), *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return ((tmp_path / "rep" / "report.md").read_text(encoding="utf-8"),
            (tmp_path / "rep" / "report.html").read_text(encoding="utf-8"))


def verdicts(markdown: str) -> dict[int, str]:
    """The summary's sentences by experiment id (its list items: `- #ID label — **verdict**: numbers`), unescaped."""
    summary = markdown.split("## Summary", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): html.unescape(m[0]) for m in re.finditer(r"^- #(\d+) .*$", summary, re.MULTILINE)}


def compare_rows(tmp_path: Path, store: Path, *args: str) -> dict[int, dict[str, str]]:
    """`suite compare --format markdown`'s rows by experiment id, cells by column."""
    result = suite_here("compare", "--store", str(store), "--format", "markdown", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return table_rows(result.stdout)


def table_rows(markdown: str) -> dict[int, dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]
    return {int(row["id"]): row for row in rows}


# the summary ----------------------------------------------------------------------------------------------------

@pytest.mark.slow  # two commands, the report drawing every figure
def test_the_report_opens_with_one_sentence_per_experiment_in_suite_compares_numbers(tmp_path):
    """Experiments 2 and 3 are paired with the reference and better, 4 ran other seeds (Welch's t): each sentence
    has the Δ, its interval and the first p (Holm) of `suite compare`'s row, and its verdict follows that p."""
    comparison_store(tmp_path / "r.db").close()
    markdown, page = report(tmp_path, tmp_path / "r.db", "--task", "mnist")
    assert markdown.split("\n\n")[1] == "## Summary"  # right under the title
    sentences = verdicts(markdown)
    rows = compare_rows(tmp_path, tmp_path / "r.db", "--task", "mnist")
    assert list(sentences) == list(rows) == [1, 2, 3, 4]
    assert " — **the reference**: test accuracy 81.00 %, the mean of 5 rounds, 95 % t interval " in sentences[1]
    for experiment in (2, 3, 4):
        row, sentence = rows[experiment], sentences[experiment]
        difference, interval = row["Δ mean [95% CI]"].split(" ", 1)
        p_holm = row["p (Holm)"].split(" / ")[0]
        test = row["tests"].split(" / ")[0]
        assert f": {difference} points {interval} against the reference" in sentence
        assert f"{test} p {p_holm.replace('<', '< ') if p_holm.startswith('<') else '= ' + p_holm} (Holm)" in sentence
        better = (float(p_holm.lstrip("<")) < 0.05) and difference.startswith("+")
        assert ("— **better**:" in sentence) is better, sentence
    assert "(5 paired rounds)" in sentences[2] and "(unpaired: 4 and 5 rounds)" in sentences[4]
    assert "Welch t" in sentences[4]
    assert page.index('<ul class="verdicts">') < page.index("<h2>Comparison</h2>")
    assert "<strong>the reference</strong>" in page


@pytest.mark.slow  # four commands
def test_could_detect_is_what_suite_compare_against_says_of_the_same_rounds(tmp_path):
    """One store with a baseline and a siamese experiment, and two stores holding the same rounds as the siamese
    configuration's baseline and candidate: the report's sentence and `suite compare --against`'s verdict line
    give the same difference, p and smallest detectable difference (one comparison each, so Holm changes none)."""
    reference, candidate = [0.80, 0.82, 0.79, 0.81, 0.83], [0.81, 0.815, 0.80, 0.805, 0.84]
    store = Store(tmp_path / "r.db")
    add_experiment(store, reference, model="baseline")
    add_experiment(store, candidate)
    store.close()
    for name, values in (("base.db", reference), ("cand.db", candidate)):
        other = Store(tmp_path / name)
        add_experiment(other, values)
        other.close()
    markdown, _ = report(tmp_path, tmp_path / "r.db", "--task", "mnist")
    sentence = verdicts(markdown)[2]
    against = suite_here("compare", "--store", "cand.db", "--against", "base.db", "--format", "markdown",
                         cwd=tmp_path)
    assert against.returncode == 0, against.stderr
    row = table_rows(against.stdout)[1]
    detectable = row["could detect (points)"]
    assert detectable.startswith("±") and row["verdict"] == "no significant change"
    assert "— **no detectable difference**:" in sentence
    assert f"these rounds could detect about {detectable} points (80 % power" in sentence
    assert f"{row['Δ [95% CI] (points)']} against the reference" in sentence.replace(" points [", " [")
    assert f"paired t p = {row['p (Holm)'].split(' / ')[0]} (Holm)" in sentence


@pytest.mark.parametrize(("metric", "difference", "p", "verdict"), [
    (Metric("test_accuracy", True), 0.02, 0.01, "better"),
    (Metric("test_accuracy", True), -0.02, 0.01, "worse"),
    (Metric("test_loss", False), -0.02, 0.01, "better"),
    (Metric("test_loss", False), 0.02, 0.049, "worse"),
    (Metric("threshold"), 0.02, 0.01, "higher"),
    (Metric("test_loss", False), -0.02, 0.05, "no detectable difference"),
    (Metric("test_loss", False), -0.02, float("nan"), "not tested"),
])
def test_the_verdict_is_the_holm_adjusted_t_p_in_the_direction_the_metric_declares(metric, difference, p, verdict):
    row = {"n": 5, "difference": difference, "p_t_holm": p, "identical": False}
    assert summary_verdict(row, metric, 0.05) == verdict
    assert summary_verdict(row | {"identical": True}, metric, 0.05) == "no difference"
    assert summary_verdict(row | {"n": 0}, metric, 0.05) == "not compared"


def test_verdict_lists_are_escaped_in_both_files_and_figures_show_at_their_drawn_size(tmp_path):
    hostile = '<img src=x onerror="alert(1)">'
    png = plots.epoch_seconds(pd.DataFrame({"experiment": ["a"], "seconds_per_epoch": [1.0]}), tmp_path / "figures"
                              / "runtime")
    blocks = [Block("verdicts", [(f"#1 {hostile}", "better", "+1.00 points, `code`")]),
              Block("table", pd.DataFrame({"command": ["`suite run mnist --w-sharing`"], "x": [hostile]})),
              Block("figure", png, "caption")]
    page, markdown = to_html(blocks, "t"), to_markdown(blocks, tmp_path)
    assert "<img src=x" not in page and "<img src=x" not in markdown
    assert "<li>#1 &lt;img src=x" in page and "<strong>better</strong>: +1.00 points, <code>code</code>" in page
    assert "<td><code>suite run mnist --w-sharing</code></td>" in page
    assert f"- #1 {html.escape(hostile, quote=False)} — **better**: +1.00 points, `code`" in markdown
    width = int(re.search(r'width="(\d+)"', page)[1])
    assert width == round(9.5 * 96)  # the figure's 9.5 inches, at 96 CSS pixels an inch


# captions from what was drawn ---------------------------------------------------------------------------------

def test_a_learning_caption_names_only_the_lines_drawn(tmp_path):
    curves = pd.DataFrame({"experiment": ["a", "a", "b", "b"], "round": [1, 1, 2, 2], "epoch": [1, 2, 1, 2],
                           "train_loss": [0.9, 0.5, 0.8, 0.4], "train_accuracy": [0.6, 0.8, 0.6, 0.7]})
    quantities = (declaration(MNIST, "loss"), declaration(MNIST, "accuracy"))
    png = plots.learning_curves(curves, tmp_path / "curves", None, quantities)
    caption = learning_caption(plots.drawn(png), quantities, None, 2)
    assert QUOTED.findall(caption) == ["training"] and "dashed" not in caption
    assert "No validation curves" in caption and "does not declare whether" in caption
    split = plots.learning_curves(curves, tmp_path / "split", None, quantities, {"a": "one", "b": "two"})
    caption = learning_caption(plots.drawn(split), quantities, {"a": "one", "b": "two"}, 2)
    assert "one panel per training objective" in caption and "does not declare" not in caption
    assert plots.drawn(split).panels == ("loss: one", "loss: two", "accuracy")


@pytest.fixture
def pictures_store(tmp_path, monkeypatch) -> Path:
    """Two experiments of the picture toy (an MLP and a linear model: two objectives), with validation splits."""
    monkeypatch.setitem(registry.tasks(), PICTURES.name, PICTURES)
    store = tmp_path / "pictures.db"
    for model in ("mlp", "linear"):
        suite.run(PICTURES, rounds=3, store=store, epochs=2, dim=16, val_pairs=16, model=model, progress=False)
    return store


@pytest.mark.slow  # trains two small experiments and draws every figure
def test_a_task_that_declares_objectives_and_notes_gets_loss_panels_and_gallery_notes(tmp_path, pictures_store):
    markdown, _ = report(tmp_path, pictures_store, "--task", PICTURES.name)
    curves = plots.drawn(tmp_path / "rep" / "figures" / "learning_curves.png")
    assert curves.panels == ("loss: cross-entropy of the mlp logits", "loss: cross-entropy of the linear logits",
                             "accuracy")
    assert {"training", "validation"} <= set(curves.legend)
    assert "“validation” dashed" in markdown and "one panel per training objective" in markdown
    gallery = plots.drawn(tmp_path / "rep" / "figures" / "gallery_1.png")
    assert all(re.fullmatch(r"predicted: first (<=|>) second \(\d\.\d{3}\)\nactual: first (<=|>) second\n"
                            r"test pair \d+: sums \d+\.\d\d and \d+\.\d\d", title) for title in gallery.panels)
    assert "with what the task says of it" in markdown


# the page in a browser ----------------------------------------------------------------------------------------

# Appended to a copy of the report: after the page has loaded, each figure (whether its image decoded, and its
# caption), the summary's sentences and the first heading after the title, as JSON in a <pre>.
PROBE = """<script>window.addEventListener("load", () => {
  const figures = [...document.querySelectorAll("figure")].map(f => {
    const image = f.querySelector("img");
    return {loaded: image.complete && image.naturalWidth > 0, shown: image.getBoundingClientRect().width,
            caption: f.querySelector("figcaption").textContent};
  });
  const verdicts = [...document.querySelectorAll("ul.verdicts li")].map(li => li.textContent);
  const result = document.createElement("pre");
  result.id = "probe";
  result.textContent = JSON.stringify({figures, verdicts, first: document.querySelector("h2").textContent});
  document.body.appendChild(result);
});</script>"""


def rendered(page: Path, tmp_path: Path) -> dict:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,900",
                          "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert found, f"the probe did not run: {dom[:300]!r}"
    return json.loads(html.unescape(found[1]))


def svg_texts(svg: Path) -> set[str]:
    return {html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg.read_text(encoding="utf-8"))}


@pytest.mark.slow  # trains two small experiments, draws every figure, starts Chromium
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian package chromium; .ci/run installs it)")
def test_in_chromium_every_figure_loads_and_every_legend_entry_a_caption_names_is_drawn(tmp_path, pictures_store):
    markdown, _ = report(tmp_path, pictures_store, "--task", PICTURES.name)
    page = rendered(tmp_path / "rep" / "report.html", tmp_path)
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\.png\)", markdown)  # the figures, in the page's order
    assert len(page["figures"]) == len(linked) >= 8  # differences, mean, curves, ROC, runtime, balance, 2 galleries
    assert page["first"] == "Summary" and len(page["verdicts"]) == 2
    assert page["verdicts"][0].startswith("#1 ") and " — the reference: " in page["verdicts"][0]
    for figure, stem in zip(page["figures"], linked, strict=True):
        assert figure["loaded"] and 0 < figure["shown"] <= 1100, (stem, figure)
        drawn = svg_texts(tmp_path / "rep" / f"{stem}.svg")
        for entry in QUOTED.findall(figure["caption"]):
            assert entry in drawn, f"{stem}: the caption names “{entry}”, the figure draws {sorted(drawn)}"
    curves = next(f["caption"] for f, s in zip(page["figures"], linked, strict=True) if s.endswith("learning_curves"))
    assert QUOTED.findall(curves) == ["training", "validation"]


# LFW's decoder warnings -----------------------------------------------------------------------------------------

def test_the_jpeg_decoders_warnings_name_their_file_in_one_line(tmp_path, capfd):
    """libjpeg writes "Corrupt JPEG data: …" to the C stderr naming no file; the load says which file it was."""
    from torchvision.io import encode_jpeg

    good = bytes(encode_jpeg(torch.arange(250 * 250).remainder(251).to(torch.uint8).view(1, 250, 250)).numpy())
    marker = good.index(b"\xff\xda")  # start of scan: junk before a marker is what libjpeg warns about
    paths = [tmp_path / "good.jpg", tmp_path / "odd one.jpg", tmp_path / "good2.jpg"]
    for path, data in zip(paths, (good, good[:marker] + b"\x12\x34" + good[marker:], good), strict=True):
        path.write_bytes(data)
    images = _preprocess(paths, "face", 32, 1)
    assert images.shape == (3, 1, 32, 32) and torch.equal(images[0], images[1])  # decoded anyway
    lines = capfd.readouterr().err.strip().splitlines()
    assert lines == [f"suite: the JPEG decoder warned about 1 of 3 images (decoded anyway): {paths[1]}: Corrupt "
                     "JPEG data: 2 extraneous bytes before marker 0xda"]
    _preprocess(paths[::2], "face", 32, 1)
    assert capfd.readouterr().err == ""  # nothing to say, nothing said
