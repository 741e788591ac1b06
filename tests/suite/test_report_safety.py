"""suite report with what users give it: HTML in titles and labels, folders that hold other files, the root and the
home directory, reruns into the same folder, and stores of hundreds of experiments."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.stores import write_store
from suite.core.config import config_dict
from suite.core.errors import SuiteError
from suite.core.metrics import Metric
from suite.report.document import MANIFEST, Block, ReportFolder, figure_experiments, to_markdown
from suite.results.store import Store
from suite_tasks.mnist_pairs.task import MnistConfig
from tests.cli_helpers import suite, suite_here
from tests.conftest import REPO
from tests.stored_fixtures import ENV, add_experiment, comparison_store, round_result

HOSTILE = '<img src=x onerror="alert(1)"> & <b>'


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(result, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


# HTML in report.md ---------------------------------------------------------------------------------------------

def test_markdown_escapes_html_in_headings_paragraphs_tables_and_captions(tmp_path):
    blocks = [Block("h1", HOSTILE), Block("p", f"from {HOSTILE}.db by `suite report`"),
              Block("table", pd.DataFrame({"experiment": [HOSTILE], HOSTILE: ["<0.001"]})),
              Block("figure", tmp_path / "figures" / "x.png", f"caption {HOSTILE}")]
    markdown = to_markdown(blocks, tmp_path)
    assert "<" not in markdown.replace("<0.001", "") and ">" not in markdown
    escaped = '&lt;img src=x onerror="alert(1)"&gt; &amp; &lt;b&gt;'
    assert markdown.startswith(f"# {escaped}\n") and f"from {escaped}.db" in markdown
    assert f"| {escaped} | &lt;0.001 |" in markdown and f"![caption {escaped}](figures/x.png)" in markdown
    assert "|---|---:|" in markdown  # aligned by the text before escaping: a p-value column stays a number column


@pytest.mark.slow  # the real command line, drawing every figure
def test_report_md_escapes_the_title_store_path_and_config_values_and_a_rerun_replaces_the_report(tmp_path):
    db = tmp_path / "r<i>.db"
    store = comparison_store(db)
    config = config_dict(MnistConfig()) | {"branch": HOSTILE}  # a value as another tool may have stored it
    experiment = store.ensure_experiment("mnist", "hostile", config, ENV)
    for index, value in enumerate([0.8, 0.81, 0.83]):
        store.add_round(experiment, index, 0, round_result(value))
    store.close()
    args = ("report", "--task", "mnist", "--store", str(db), "--out", "rep", "--title", f"Title {HOSTILE}")
    first = suite(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "suite report: reading the rounds of 5 experiments" in first.stderr
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "<img" not in markdown and "<b>" not in markdown and "<i>" not in markdown
    assert markdown.startswith("# Title &lt;img src=x onerror=")
    assert "r&lt;i&gt;.db" in markdown and "branch=&lt;img" in markdown
    assert "<img src=x" not in (tmp_path / "rep" / "report.html").read_text()  # escaped there already
    listed = json.loads((tmp_path / "rep" / MANIFEST).read_text())["files"]
    assert {"report.md", "report.html", "figures/mean_ci.png", "figures/mean_ci.svg"} <= set(listed)
    assert set(snapshot(tmp_path / "rep")) == {*listed, MANIFEST}
    # a figure of the previous report that this one no longer draws goes; the rerun writes the same report
    (tmp_path / "rep" / MANIFEST).write_text(json.dumps({"files": [*listed, "figures/gallery_9.png"]}))
    (tmp_path / "rep" / "figures" / "gallery_9.png").write_bytes(b"old")
    again = suite(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not (tmp_path / "rep" / "figures" / "gallery_9.png").exists()
    assert json.loads((tmp_path / "rep" / MANIFEST).read_text())["files"] == listed


# --out ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("foreign", ["notes.txt", "figures/mine.png", "drafts/", "report.md"])
def test_a_folder_with_files_no_report_wrote_is_refused_and_left_untouched(tmp_path, foreign):
    comparison_store(tmp_path / "r.db").close()
    out = tmp_path / "rep"
    target = out / foreign
    if foreign.endswith("/"):
        target.mkdir(parents=True)
        (target / "draft.md").write_text("mine")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("mine")
    before = snapshot(out)
    result = suite_here("report", "--task", "mnist", "--store", str(tmp_path / "r.db"), "--out", str(out),
                        cwd=tmp_path)
    one_line_error(result, f"holds files that no report wrote there ({foreign})")
    assert "--force" in result.stderr
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted({foreign.split("/")[0]})


def test_a_manifest_lists_only_what_a_report_writes_and_never_a_link(tmp_path):
    out = tmp_path / "rep"
    (out / "figures").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (tmp_path / "elsewhere.md").write_text("theirs")
    (out / "report.md").symlink_to(tmp_path / "elsewhere.md")
    (out / MANIFEST).write_text(json.dumps({"files": ["notes.txt", "report.md", "../elsewhere.md"]}))
    with pytest.raises(SuiteError, match=r"no report wrote there \(notes.txt, report.md\)"):
        ReportFolder(out)


@pytest.mark.parametrize("out", ["/", "~", "{home}", "{home}/reports/.."])
def test_the_root_and_the_home_directory_are_refused_even_with_force(tmp_path, out):
    home = tmp_path / "home"
    home.mkdir()
    comparison_store(tmp_path / "r.db").close()
    for force in ((), ("--force",)):
        result = suite_here("report", "--task", "mnist", "--store", str(tmp_path / "r.db"), "--out",
                            out.format(home=home), *force, cwd=tmp_path, env={"HOME": str(home)})
        one_line_error(result, "refusing to write a report into")
    assert list(home.iterdir()) == [] and not (tmp_path / "~").exists()


def test_the_stores_read_and_a_previous_report_are_accepted(tmp_path):
    out = tmp_path / "ci"
    out.mkdir()
    for name in ("suite.db", "suite.db-wal", "base.db"):
        (out / name).write_bytes(b"")
    ReportFolder(out, keep=[out / "suite.db", out / "base.db"])  # the stores the command reads
    with pytest.raises(SuiteError, match=r"\(base.db\)"):
        ReportFolder(out, keep=[out / "suite.db"])
    # a report written before manifests: its report.md and the figures it links
    (out / "base.db").unlink()
    (out / "figures").mkdir()
    (out / "figures" / "roc.png").write_bytes(b"png")
    (out / "figures" / "roc.svg").write_bytes(b"svg")
    (out / "report.html").write_text("<html>")
    (out / "report.md").write_text("# old\n\nGenerated then by `suite report`.\n\n![ROC](figures/roc.png)\n\n"
                                   "*ROC* ([SVG](figures/roc.svg))\n")
    ReportFolder(out, keep=[out / "suite.db"])
    (out / "figures" / "other.png").write_bytes(b"png")
    with pytest.raises(SuiteError, match=r"\(figures/other.png\)"):
        ReportFolder(out, keep=[out / "suite.db"])


def test_a_rerun_replaces_its_own_files_keeps_others_with_force_and_lists_a_half_written_report(tmp_path):
    out = tmp_path / "rep"
    figure = out / "figures" / "a.png"

    def report(names: list[str], force: bool = False) -> None:
        with ReportFolder(out, force) as folder:
            for name in names:
                (out / "figures" / f"{name}.png").write_bytes(name.encode())
                (out / "figures" / f"{name}.svg").write_bytes(name.encode())
            folder.write([Block("h1", "t"), *(Block("figure", out / "figures" / f"{n}.png", n) for n in names)], "t")

    report(["a", "b"])
    report(["a"])  # b is the previous report's, not drawn again: removed
    assert sorted(snapshot(out)) == [MANIFEST, "figures/a.png", "figures/a.svg", "report.html", "report.md"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SuiteError, match="notes.txt"):
        report(["a"])
    report(["c"], force=True)
    assert (out / "notes.txt").read_text() == "mine" and not figure.exists()
    assert "notes.txt" not in json.loads((out / MANIFEST).read_text())["files"]
    (out / "notes.txt").unlink()
    with pytest.raises(RuntimeError), ReportFolder(out):  # a report that fails half-way, after drawing d
        (out / "figures" / "d.png").write_bytes(b"d")
        raise RuntimeError("plotting failed")
    assert "figures/d.png" in json.loads((out / MANIFEST).read_text())["files"]
    ReportFolder(out)  # so a rerun is accepted


# large stores ---------------------------------------------------------------------------------------------------

def test_figures_draw_the_reference_and_the_best_others():
    experiments = [{"id": i} for i in range(1, 31)]
    table = pd.DataFrame({"experiment": range(1, 31), "mean": [float(i % 7) for i in range(1, 31)]})
    table.loc[table["experiment"] == 30, "mean"] = float("nan")  # no finished round: last
    higher = figure_experiments(experiments, table, 5, Metric("test_accuracy", True), limit=4)
    assert [e["id"] for e in higher] == [5, 6, 13, 20]
    lower = figure_experiments(experiments, table, 5, Metric("test_loss", False), limit=4)
    assert [e["id"] for e in lower] == [5, 7, 14, 21]
    unranked = figure_experiments(experiments, table, 5, Metric("epochs"), limit=4)
    assert [e["id"] for e in unranked] == [1, 2, 3, 5]
    assert figure_experiments(experiments[:4], table, 5, Metric("epochs"), limit=4) == experiments[:4]


@pytest.mark.slow  # writes 300 experiments, then the report draws its figures
def test_a_report_of_hundreds_of_experiments_shows_progress_and_bounds_its_figures(tmp_path):
    write_store(tmp_path / "big.db", 300, 2, 4, epochs=1, diverged_every=100, log=lambda text: None)
    result = suite("report", "--task", "mnist", "--store", "big.db", "--out", "rep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    progress = result.stderr.strip().splitlines()
    assert progress[0] == "suite report: reading the rounds of 300 experiments"
    assert "suite report: drawing the figures of 10 experiments (of 300)" in progress
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "The figures below draw 10 of the 300 experiments: the reference (experiment 1) and the 9 others" in markdown
    comparison = markdown.split("## Comparison")[1].split("## ")[0]
    assert sum(line.startswith("| ") for line in comparison.splitlines()) == 301  # header and every experiment
    listing = suite_here("results", "--store", "big.db", cwd=tmp_path)
    lines = listing.stdout.splitlines()
    assert listing.returncode == 0 and lines[0] == "experiments in big.db" and len(lines) == 303  # plain text
    assert lines[102].split()[:4] == ["100", "mnist", "1", "(+1"]  # diverged rounds counted


def test_results_over_a_long_listing_agree_with_each_experiment_read_alone(tmp_path):
    store = Store(tmp_path / "r.db")
    for i in range(205):
        values = [0.8 + i / 10000, 0.81, None] if i % 50 == 0 else [0.8 + i / 10000, 0.82]
        add_experiment(store, values, lr=1e-3 + i / 1e6)
    store.close()
    listing = suite_here("results", "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[3:]}
    assert len(rows) == 205
    assert "2 (+1 diverged)  test_accuracy (%): 80.50 ± 0.71" in rows["1"]  # the diverged round is not a value
    assert rows["205"].split()[2] == "2" and "test_accuracy (%): 82.02 ± 0.03" in rows["205"]


@pytest.mark.slow  # starts the commands it times
def test_the_store_benchmark_writes_a_store_and_times_the_reading_commands(tmp_path):
    command = [sys.executable, "-m", "benchmarks.stores", "--experiments", "3", "--rounds", "2", "--scores", "4",
               "--runs", "1", "--no-report", "--store", str(tmp_path / "s.db")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "suite results: median" in done.stdout and "suite compare --task mnist: median" in done.stdout
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)  # the store is reused
    assert again.returncode == 0 and again.stdout.startswith(f"reusing {tmp_path / 's.db'}"), again.stderr
