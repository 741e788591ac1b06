"""suite compare in narrow terminals: every line within the width, each label whole on one line, no number or
interval broken across lines, nothing left out; wide terminals and the machine formats as they were."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from suite.core.metrics import declaration
from suite.report.formatting import (
    against_display,
    against_groups,
    cell_units,
    comparison_display,
    comparison_groups,
    fmt_difference,
    fmt_interval,
    fmt_p,
    render,
    render_against,
    wrap_units,
)
from suite.results.against import against_baseline, candidates, open_store
from suite.results.compare import comparison_table
from suite.results.selection import samples, select
from suite.results.store import Store
from suite_tasks.mnist_pairs.task import TASK
from tests.stored_fixtures import add_experiment

ACCURACY = declaration(TASK, "test_accuracy")
NARROW = (100, 80)
COMMAND = re.compile(r"\d+: suite run ")
# Configs whose labels name five fields ("model=siamese, w_sharing=True, aux_loss=True, dropout=0.5, lr=0.002"):
# too long for a table row below 200 columns, short enough for one legend line at 80.
CONFIGS = [{"model": "baseline"}, {"dropout": 0.5}, {"w_sharing": True, "lr": 0.002},
           {"w_sharing": True, "aux_loss": True, "dropout": 0.5, "lr": 0.002}]


def write_store(path: Path, shift: float = 0.0) -> Path:
    """Four experiments with long labels: one with a diverged round, one of another seed (so unpaired)."""
    store = Store(path)
    rounds = [[0.80, 0.82, 0.79, 0.81, 0.83], [0.84, 0.85, None, 0.83, 0.88], [0.90, 0.93, 0.91, 0.92, 0.94],
              [0.86, 0.84, 0.87, 0.85]]
    for config, values in zip(CONFIGS, rounds, strict=True):
        shifted = [None if v is None else v + shift for v in values]
        add_experiment(store, shifted, seed=7 if config.get("aux_loss") else 0, **config)
    store.close()
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("narrow")
    return str(write_store(folder / "cand.db", shift=-0.004)), str(write_store(folder / "base.db"))


def compare(*args: str, columns: int | None) -> str:
    """`suite compare` in a subprocess whose only clue to the width is $COLUMNS (no terminal on any stream)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env |= {"COLUMNS": str(columns)} if columns else {}
    result = subprocess.run([sys.executable, "-m", "suite", "compare", *args], env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows_of(*args: str) -> list[dict]:
    return json.loads(compare(*args, "--format", "json", columns=None))["rows"]


def number(value) -> float:
    return float("nan") if value is None else value


def comparison_numbers(row: dict) -> list[str]:
    """What a comparison row shows, as --format table prints it, from the raw numbers of --format json."""
    shown = [ACCURACY.show(row["mean"]), f"± {ACCURACY.show(row['std'])}", ACCURACY.show(row["median"]),
             fmt_interval(ACCURACY, number(row["t_low"]), number(row["t_high"]))]
    if row["difference"] is not None:
        shown += [fmt_difference(ACCURACY, row["difference"]),
                  fmt_interval(ACCURACY, number(row["diff_low"]), number(row["diff_high"])),
                  *(fmt_p(number(row[k])) for k in ("p_t", "p_rank", "p_t_holm", "p_rank_holm")),
                  *(format(row[k], "+.2f") for k in ("hedges_g", "d_z") if row[k] is not None),
                  format(row["p_improvement"], ".2f")]
    return shown


def verdict_numbers(row: dict) -> list[str]:
    """What a verdict row of --against shows, from the raw numbers of --format json."""
    return [*(ACCURACY.show(row[k]) for k in ("mean_baseline", "mean_candidate")),
            *(f"± {ACCURACY.show(row[k])}" for k in ("std_baseline", "std_candidate")),
            fmt_difference(ACCURACY, row["difference"]),
            fmt_interval(ACCURACY, number(row["diff_low"]), number(row["diff_high"])),
            *(fmt_p(number(row[k])) for k in ("p_t", "p_rank", "p_t_holm", "p_rank_holm"))]


def assert_readable(text: str, width: int, labels: list[str], numbers: list[str]) -> None:
    """Every line within `width`; every label whole on one line; every number and interval whole on one line (not
    as the start or end of a longer number). The reproducing commands ("4: suite run ...") are exempt from the width:
    they are printed unwrapped so that a copy of one is one shell line."""
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines if not COMMAND.match(line)) <= width, text
    assert "…" not in text
    for label in labels:
        assert any(label in line for line in lines), (label, text)
    for shown in numbers:
        whole = re.compile(rf"(?<![\d.]){re.escape(shown)}(?![\d])")
        assert any(whole.search(line) for line in lines), (shown, text)


# the command, in real processes ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("columns", NARROW)
def test_compare_fits_a_narrow_terminal_with_labels_in_a_legend(stores, columns):
    candidate, _ = stores
    rows = rows_of("--task", "mnist", "--store", candidate)
    text = compare("--task", "mnist", "--store", candidate, columns=columns)
    labels = [r["label"] for r in rows]
    assert all(len(label) > 60 for label in labels)  # too long for the table: the case this is about
    assert_readable(text, columns, labels, [n for r in rows for n in comparison_numbers(r)])
    assert "experiment, by id:" in text and "4 (+1 diverged)" in text and "Welch t / Mann-Whitney U" in text
    for row in rows:
        assert f"{row['experiment']}: {row['label']}" in text.splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("columns", NARROW)
def test_against_fits_a_narrow_terminal_with_labels_in_a_legend(stores, columns):
    candidate, baseline = stores
    args = ("--task", "mnist", "--store", candidate, "--against", baseline)
    rows = rows_of(*args)
    text = compare(*args, columns=columns)
    assert_readable(text, columns, [r["label"] for r in rows], [n for r in rows for n in verdict_numbers(r)])
    assert "Matched by task and configuration" in text  # the notes under it wrap at the width too


@pytest.mark.slow
def test_a_wide_terminal_keeps_one_table_with_the_full_labels_in_its_rows(stores):
    candidate, _ = stores
    rows = rows_of("--task", "mnist", "--store", candidate)
    lines = compare("--task", "mnist", "--store", candidate, columns=300).splitlines()
    for row in rows:
        interval = fmt_interval(ACCURACY, row["t_low"], row["t_high"])
        assert any(row["label"] in line and interval in line for line in lines)
    assert not any("by id:" in line or line.startswith("continued") for line in lines)


@pytest.mark.slow
def test_without_a_terminal_or_columns_the_table_fits_80_columns(stores):
    candidate, _ = stores
    rows = rows_of("--task", "mnist", "--store", candidate)
    text = compare("--task", "mnist", "--store", candidate, columns=None)
    assert_readable(text, 80, [r["label"] for r in rows], [n for r in rows for n in comparison_numbers(r)])


@pytest.mark.slow
@pytest.mark.parametrize("against", [False, True])
def test_the_machine_formats_do_not_depend_on_the_width(stores, against):
    candidate, baseline = stores
    args = ("--task", "mnist", "--store", candidate, *(("--against", baseline) if against else ()))
    shown = {f: compare(*args, "--format", f, columns=80) for f in ("markdown", "csv", "json")}
    for format_name, narrow in shown.items():
        assert narrow == compare(*args, "--format", format_name, columns=300), format_name
    assert all(f"| {r['label']} |" in shown["markdown"] for r in json.loads(shown["json"])["rows"])


@pytest.mark.slow
def test_a_long_table_is_plain_text_with_one_unbroken_line_per_row(tmp_path):
    store = Store(tmp_path / "long.db")
    for index in range(201):  # PLAIN_ROWS + 1
        add_experiment(store, [0.80 + index * 1e-4, 0.81, 0.79], lr=0.001 + index * 1e-5)
    store.close()
    args = ("--task", "mnist", "--store", str(tmp_path / "long.db"))
    rows = rows_of(*args)
    lines = compare(*args, columns=80).splitlines()
    for row in rows:
        interval = fmt_interval(ACCURACY, row["t_low"], row["t_high"])
        assert sum(line.split()[0] == str(row["experiment"]) and row["label"] in line and interval in line
                   for line in lines if line.strip()) == 1


# the layout, in this process ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables(stores):
    candidate, baseline = stores
    store = Store(Path(candidate), readonly=True)
    comparison = comparison_table(samples(store, select(store, [], "mnist", []), ACCURACY), 1, ACCURACY)
    against = against_baseline(open_store(Path(candidate)), open_store(Path(baseline)),
                               candidates(open_store(Path(candidate)), [], "mnist", []), None, 0.05, [])
    return comparison, against


def printed(renderable, width: int) -> str:
    with open(os.devnull, "w") as sink:
        console = Console(width=width, record=True, file=sink)
        console.print(renderable)
    return console.export_text()


def legend_pieces(labels, width: int) -> list[str]:
    """The labels that fit one legend line ("4: " before them) whole, and of the others their words."""
    return [piece for label in labels for piece in ([label] if len(label) + 3 <= width else label.split())]


@pytest.mark.parametrize("width", range(50, 260, 10))
def test_at_every_width_lines_fit_and_numbers_and_labels_stay_whole(tables, width):
    comparison, against = tables
    text = printed(render(comparison, ACCURACY, "table", "mnist"), width)
    intervals = [fmt_interval(ACCURACY, r["t_low"], r["t_high"]) for r in comparison.to_dict("records")]
    assert_readable(text, width, legend_pieces(comparison["label"], width), intervals)
    text = printed(render_against(against, "table", "against"), width)
    intervals = [fmt_interval(ACCURACY, r["diff_low"], r["diff_high"]) for r in against.table.to_dict("records")]
    assert_readable(text, width, legend_pieces(against.table["label"], width), intervals)


def test_every_column_of_the_displays_has_a_group(tables):
    comparison, against = tables
    for shown, groups in ((comparison_display(comparison, ACCURACY), comparison_groups(ACCURACY)),
                          (against_display(against.table), against_groups(against.table))):
        grouped = {name for group in groups for name in group}
        assert set(shown.columns) - {"id", "experiment"} <= grouped


def test_cells_wrap_between_whole_numbers_and_intervals_only():
    assert cell_units("+2.83 [-0.52, 6.19]") == ["+2.83", "[-0.52, 6.19]"]
    assert cell_units("79.73 ± 1.42") == ["79.73", "± 1.42"]
    assert cell_units("0.198 / <0.001") == ["0.198 /", "<0.001"]
    assert cell_units("a  b") == ["a  b"]  # spacing the units would not give back: one piece
    for text in ("+9.40 [4.87, 13.93]", "model=siamese, w_sharing=True, aux_loss=False", "3 of 3 / 3"):
        assert " ".join(cell_units(text)) == text
        for width in range(1, len(text) + 1):
            assert " ".join(wrap_units(cell_units(text), width)) == text
    assert wrap_units(cell_units("+9.40 [4.87, 13.93]"), 14) == ["+9.40", "[4.87, 13.93]"]
