"""suite compare/report --against: experiments of two stores matched by task and configuration, rounds paired by
(seed, round index), Holm across the matched experiments, and the --fail-if-worse gate with its exit codes."""

import io
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite.core.metrics import declaration
from suite.report.document import verdict_blocks
from suite.report.formatting import verdict_line
from suite.results.against import (
    Pair,
    against_baseline,
    candidates,
    minimum_detectable_effect,
    open_store,
    regressions,
    verdict_table,
)
from suite.results.compare import Sample, holm
from suite.results.store import Store
from suite_tasks.mnist_pairs.task import TASK
from tests.cli_helpers import suite, suite_here
from tests.stored_fixtures import add_experiment

ACCURACY = declaration(TASK, "test_accuracy")
BASELINE = {"baseline": [0.80, 0.82, 0.79, 0.81, 0.83],  # experiment config → per-round test accuracy (seed 0)
            "siamese": [0.84, 0.85, 0.86, 0.83, 0.88],
            "ws": [0.90, 0.93, 0.91, 0.92, 0.94]}
CONFIGS = {"baseline": {"model": "baseline"}, "siamese": {}, "ws": {"w_sharing": True}, "aux": {"aux_loss": True},
           "lr": {"lr": 0.01}}


def make_store(path, values: dict[str, list[float]], seeds: dict[str, int] | None = None) -> Store:
    """A store with one mnist experiment per named config (CONFIGS), created in the order given."""
    store = Store(path)
    for name, rounds in values.items():
        add_experiment(store, rounds, seed=(seeds or {}).get(name, 0), **CONFIGS[name])
    return store


def shifted(values: list[float], by) -> list[float]:
    return list(np.asarray(values) + np.asarray(by))


def stores(tmp_path, candidate: dict[str, list[float]], baseline: dict[str, list[float]] = BASELINE,
           seeds: dict[str, int] | None = None) -> tuple[str, str]:
    make_store(tmp_path / "base.db", baseline)
    make_store(tmp_path / "cand.db", candidate, seeds)
    return str(tmp_path / "cand.db"), str(tmp_path / "base.db")


def gate(tmp_path, *extra: str):
    return suite_here("compare", "--store", "cand.db", "--against", "base.db", *extra, cwd=tmp_path,
                      env={"COLUMNS": "250"})


# the minimum detectable effect ------------------------------------------------------------------------------

def test_minimum_detectable_effect_is_the_paired_t_tests_80_percent_power_point():
    assert minimum_detectable_effect(1.0, 10) == pytest.approx(0.996, abs=1e-3)  # the textbook "n = 10: d_z ≈ 1"
    assert minimum_detectable_effect(2.0, 10) == pytest.approx(2 * minimum_detectable_effect(1.0, 10))  # scales
    for n, alpha in ((3, 0.05), (5, 0.05), (5, 0.01), (20, 0.05)):
        delta = minimum_detectable_effect(0.7, n, alpha)
        critical = stats.t.ppf(1 - alpha / 2, n - 1)
        noncentrality = delta / 0.7 * np.sqrt(n)
        power = stats.nct.sf(critical, n - 1, noncentrality) + stats.nct.cdf(-critical, n - 1, noncentrality)
        assert power == pytest.approx(0.80, abs=1e-6)
    assert minimum_detectable_effect(1.0, 5, 0.01) > minimum_detectable_effect(1.0, 5, 0.05)
    assert np.isnan(minimum_detectable_effect(1.0, 1)) and np.isnan(minimum_detectable_effect(0.0, 5))


def test_a_true_difference_of_the_minimum_detectable_effect_is_found_80_percent_of_the_time():
    rng = np.random.default_rng(5)
    n, spread = 5, 0.01
    delta = minimum_detectable_effect(spread, n)
    differences = rng.normal(-delta, spread, size=(20000, n))
    found = np.mean(stats.ttest_1samp(differences, 0.0, axis=1).pvalue < 0.05)
    assert found == pytest.approx(0.80, abs=0.015)


# matching, pairing, numbers ---------------------------------------------------------------------------------

def test_experiments_match_by_task_and_configuration_not_by_id_and_unmatched_are_listed(tmp_path):
    base = make_store(tmp_path / "base.db", BASELINE)
    cand = make_store(tmp_path / "cand.db", {"lr": [0.9, 0.91], "ws": BASELINE["ws"],
                                             "siamese": shifted(BASELINE["siamese"], -0.01)})
    result = against_baseline(cand, base, candidates(cand, [], None, []), None)
    table = result.table.set_index("experiment")
    assert table.loc[2, "baseline"] == 3 and table.loc[3, "baseline"] == 2  # ws and siamese, stored in another order
    assert list(result.table["metric"]) == ["test_accuracy", "test_accuracy"]  # the task's primary metric
    assert [e["id"] for e in result.only_candidate] == [1] and result.only_candidate[0]["config"] == "lr=0.01"
    assert [e["id"] for e in result.only_baseline] == [1] and result.only_baseline[0]["config"] == "model=baseline"


def test_the_numbers_are_scipys_on_the_paired_rounds_with_holm_across_the_matched_experiments(tmp_path):
    changes = {"baseline": [0.01, 0.0, -0.01, 0.005, 0.0], "siamese": [-0.02, -0.01, -0.03, -0.015, -0.02],
               "ws": [0.02, 0.03, 0.01, 0.04, 0.02]}
    cand_path, base_path = stores(tmp_path, {k: shifted(BASELINE[k], v) for k, v in changes.items()})
    result = against_baseline(Store(cand_path), Store(base_path), candidates(Store(cand_path), [], None, []), None)
    raw = []
    for row, (name, change) in zip(result.table.to_dict("records"), changes.items(), strict=True):
        ours, theirs = np.asarray(shifted(BASELINE[name], change)), np.asarray(BASELINE[name])
        t = stats.ttest_rel(ours, theirs)
        assert row["n_paired"] == 5 and row["tested"]
        assert row["difference"] == pytest.approx(np.mean(change))
        assert (row["diff_low"], row["diff_high"]) == pytest.approx(tuple(t.confidence_interval(0.95)))
        assert row["p_t"] == pytest.approx(t.pvalue)
        assert row["p_rank"] == pytest.approx(stats.wilcoxon(ours, theirs).pvalue)
        assert row["mde"] == pytest.approx(minimum_detectable_effect(np.std(ours - theirs, ddof=1), 5))
        raw.append(t.pvalue)
    assert result.table["p_t_holm"].tolist() == pytest.approx(holm(raw))
    assert result.table["verdict"].tolist() == ["no significant change", "significantly worse",
                                                "significantly better"]


def test_only_the_shared_rounds_pair_and_fewer_than_two_are_not_tested(tmp_path):
    base = make_store(tmp_path / "base.db", BASELINE)
    cand = make_store(tmp_path / "cand.db", {"siamese": BASELINE["siamese"][:1] + [0.5, 0.5],  # 3 rounds, 3 shared
                                             "ws": [0.5, 0.5]}, seeds={"ws": 9})  # seed 9: none shared
    table = against_baseline(cand, base, candidates(cand, [], None, []), None).table.set_index("experiment")
    assert table.loc[1, "n_paired"] == 3 and table.loc[1, "n_baseline"] == 5 and table.loc[1, "tested"]
    assert table.loc[1, "mean_baseline"] == pytest.approx(np.mean(BASELINE["siamese"][:3]))
    assert not table.loc[2, "tested"] and np.isnan(table.loc[2, "p_t"]) and np.isnan(table.loc[2, "p_t_holm"])
    assert table.loc[2, "verdict"].startswith("not tested: 0 shared rounds")


def test_identical_rounds_are_no_change_and_never_gate(tmp_path):
    cand_path, base_path = stores(tmp_path, BASELINE)
    table = against_baseline(Store(cand_path), Store(base_path), candidates(Store(cand_path), [], None, []),
                             None).table
    assert table["identical"].all() and set(table["verdict"]) == {"no change: identical rounds"}
    assert regressions(table).empty


def test_a_metric_without_a_direction_cannot_gate(tmp_path):
    cand_path, base_path = stores(tmp_path, BASELINE)
    table = against_baseline(Store(cand_path), Store(base_path), candidates(Store(cand_path), [], None, []),
                             "epochs").table
    with pytest.raises(Exception, match="no declared direction"):
        regressions(table)


# the gate through the command line --------------------------------------------------------------------------

def test_a_clearly_worse_candidate_fails_naming_each_worse_experiment(tmp_path):
    worse = [-0.05, -0.04, -0.06, -0.05, -0.045]
    stores(tmp_path, {"baseline": BASELINE["baseline"], "siamese": shifted(BASELINE["siamese"], worse),
                      "ws": shifted(BASELINE["ws"], worse)})
    result = gate(tmp_path, "--fail-if-worse")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("suite: worse than baseline: mnist #") for line in lines)
    assert "#2 (" in lines[0] and "#3 (" in lines[1] and "test_accuracy: -4.90 points" in lines[0]
    assert "significantly worse" in result.stdout and "Gate: 2 of 3 tested experiments" in result.stdout
    assert "FAIL" in result.stdout


def test_equal_stores_pass(tmp_path):
    stores(tmp_path, BASELINE)
    result = gate(tmp_path, "--fail-if-worse")
    assert result.returncode == 0 and result.stderr == ""
    assert "no change: identical rounds" in result.stdout and "pass" in result.stdout


def test_noise_without_a_real_difference_passes_and_says_what_it_could_detect(tmp_path):
    noise = [0.004, -0.003, 0.001, -0.004, 0.002]
    stores(tmp_path, {k: shifted(v, noise) for k, v in BASELINE.items()})
    result = gate(tmp_path, "--fail-if-worse")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("no significant change") == 3
    detectable = minimum_detectable_effect(np.std(noise, ddof=1), 5) * 100
    assert f"±{detectable:.2f}" in result.stdout


def test_a_better_candidate_passes_and_is_called_better(tmp_path):
    stores(tmp_path, {k: shifted(v, [0.03, 0.04, 0.02, 0.03, 0.035]) for k, v in BASELINE.items()})
    result = gate(tmp_path, "--fail-if-worse")
    assert result.returncode == 0 and result.stdout.count("significantly better") == 3


def test_the_margin_lets_a_small_significant_regression_pass(tmp_path):
    small = [-0.008, -0.007, -0.009, -0.008, -0.006]  # about -0.76 points, clearly significant
    stores(tmp_path, {"siamese": shifted(BASELINE["siamese"], small)})
    assert gate(tmp_path, "--fail-if-worse").returncode == 1
    assert gate(tmp_path, "--fail-if-worse", "--margin", "0.5").returncode == 1
    passed = gate(tmp_path, "--fail-if-worse", "--margin=1")
    assert passed.returncode == 0 and passed.stderr == "" and "significantly worse" in passed.stdout
    assert "by more than 1 points: pass" in passed.stdout


def test_holm_runs_across_the_matched_experiments(tmp_path):
    """A regression with raw p = 0.019 fails a gate over it alone, and passes one over three experiments (Holm:
    3 × 0.019 > 0.05)."""
    change = [-0.010, -0.004, -0.012, -0.002, -0.007]
    stores(tmp_path, {"baseline": shifted(BASELINE["baseline"], [0.01, -0.01, 0.005, -0.005, 0.0]),
                      "siamese": shifted(BASELINE["siamese"], change),
                      "ws": shifted(BASELINE["ws"], [0.01, -0.01, 0.005, -0.005, 0.0])})
    assert stats.ttest_1samp(change, 0).pvalue == pytest.approx(0.0192, abs=1e-4)
    assert gate(tmp_path, "--fail-if-worse").returncode == 0
    alone = gate(tmp_path, "2", "--fail-if-worse")
    assert alone.returncode == 1 and "#2 (" in alone.stderr
    assert gate(tmp_path, "--fail-if-worse", "--alpha", "0.1").returncode == 1  # 0.058 < 0.1


def test_direction_comes_from_the_declaration_lower_loss_is_better(tmp_path):
    # add_experiment stores test_loss = 1 − accuracy: a higher accuracy comes with a lower, better loss
    stores(tmp_path, {k: shifted(v, [0.03, 0.04, 0.02, 0.03, 0.035]) for k, v in BASELINE.items()})
    better = gate(tmp_path, "--fail-if-worse", "--metric", "test_loss")
    assert better.returncode == 0 and better.stdout.count("significantly better") == 3
    stores_worse = {k: shifted(v, [-0.03, -0.04, -0.02, -0.03, -0.035]) for k, v in BASELINE.items()}
    (tmp_path / "cand.db").unlink()
    make_store(tmp_path / "cand.db", stores_worse)
    worse = gate(tmp_path, "--fail-if-worse", "--metric", "test_loss")
    assert worse.returncode == 1 and worse.stderr.count("test_loss: +0.0310") == 3


def test_unmatched_experiments_are_listed_in_the_table_output_and_json(tmp_path):
    stores(tmp_path, {"siamese": BASELINE["siamese"], "aux": [0.9, 0.91, 0.92]})
    table = gate(tmp_path)
    assert table.returncode == 0
    assert "only in the candidate store: #2 mnist aux_loss=True" in table.stdout
    assert "only in the baseline store: #1 mnist model=baseline" in table.stdout
    assert "only in the baseline store: #3 mnist w_sharing=True" in table.stdout
    raw = json.loads(gate(tmp_path, "--format", "json").stdout)
    assert [e["id"] for e in raw["only_candidate"]] == [2] and [e["id"] for e in raw["only_baseline"]] == [1, 3]
    assert raw["rows"][0]["experiment"] == 1 and raw["rows"][0]["baseline"] == 2 and raw["rows"][0]["identical"]
    markdown = gate(tmp_path, "--format", "markdown").stdout
    assert "| id | baseline id |" in markdown and "only in the baseline store: #1" in markdown


def test_task_and_where_restrict_the_candidates(tmp_path):
    worse = [-0.05, -0.04, -0.06, -0.05, -0.045]
    stores(tmp_path, {"siamese": shifted(BASELINE["siamese"], worse), "ws": shifted(BASELINE["ws"], worse)})
    assert gate(tmp_path, "--fail-if-worse").returncode == 1
    only_ws = gate(tmp_path, "--task", "mnist", "--where", "w_sharing=true", "--fail-if-worse", "--format", "json")
    assert only_ws.returncode == 1 and [r["experiment"] for r in json.loads(only_ws.stdout)["rows"]] == [2]
    assert [w["experiment"] for w in json.loads(only_ws.stdout)["worse"]] == [2]
    assert "model=baseline" not in only_ws.stdout  # the baseline's unmatched experiments are filtered the same way


def test_formats_csv_keeps_raw_fractions(tmp_path):
    stores(tmp_path, {"siamese": shifted(BASELINE["siamese"], [-0.01] * 5)})
    frame = pd.read_csv(io.StringIO(gate(tmp_path, "--format", "csv").stdout))
    assert frame.loc[0, "difference"] == pytest.approx(-0.01) and frame.loc[0, "scale"] == 100
    assert "CI] (points)" in gate(tmp_path, "--format", "latex").stdout


def foreign(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (text TEXT)")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("args, message", [
    (("--against", "nowhere.db"), "--against nowhere.db: no results store there"),
    (("--against", "."), "is a directory"),
    (("--against", "text.db"), "not a SQLite database"),
    (("--against", "foreign.db"), "not a suite results store"),
    (("--against", "empty.db"), "not a suite results store"),
    (("--against", "other.db"), "no experiment of cand.db has the task and configuration of one in other.db"),
    (("--fail-if-worse",), "--fail-if-worse: only with --against"),
    (("--alpha", "0.1"), "--alpha: only with --against"),
    (("--against", "base.db", "--margin", "1"), "--margin: only with --fail-if-worse"),
    (("--against", "base.db", "--fail-if-worse", "--margin=-1"), "--margin: must be a number >= 0"),
    (("--against", "base.db", "--fail-if-worse", "--margin", "nan"), "--margin: must be a number >= 0"),
    (("--against", "base.db", "--alpha", "0"), "--alpha: must be between 0 and 1"),
    (("--against", "base.db", "--alpha", "1.5"), "--alpha: must be between 0 and 1"),
    (("--against", "base.db", "--alpha", "x"), "--alpha"),
    (("--against", "base.db", "--baseline", "1"), "leave out --baseline"),
    (("--against", "base.db", "--versus", "previous"), "leave out --versus"),
    (("--against", "base.db", "--fail-if-worse", "--metric", "epochs"), "epochs has no declared direction"),
    (("--against", "base.db", "--metric", "nothing"), "--metric 'nothing': not stored"),
    (("--against", "base.db", "7"), "no experiment 7 in cand.db"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    stores(tmp_path, BASELINE)
    make_store(tmp_path / "other.db", {"aux": [0.9, 0.9]})
    (tmp_path / "text.db").write_text("not a database\n" * 20)
    (tmp_path / "empty.db").write_bytes(b"")
    foreign(tmp_path / "foreign.db")
    result = suite_here("compare", "--store", "cand.db", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("suite: error: ")
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_foreign_database_is_left_as_it_was(tmp_path):
    stores(tmp_path, BASELINE)
    foreign(tmp_path / "foreign.db")
    before = (tmp_path / "foreign.db").read_bytes()
    with pytest.raises(Exception, match="not a suite results store"):
        open_store(tmp_path / "foreign.db")
    assert (tmp_path / "foreign.db").read_bytes() == before


def test_nothing_testable_cannot_gate(tmp_path):
    stores(tmp_path, {"siamese": [0.8, 0.8]}, seeds={"siamese": 4})
    shown = gate(tmp_path)
    assert shown.returncode == 0 and "not tested: 0 shared rounds" in shown.stdout
    result = gate(tmp_path, "--fail-if-worse")
    assert result.returncode == 2 and "nothing could be tested" in result.stderr


@pytest.mark.slow  # the real entry point, in a process of its own
def test_the_console_command_exits_1_on_a_regression_and_0_without(tmp_path):
    worse = [-0.05, -0.04, -0.06, -0.05, -0.045]
    stores(tmp_path, {"siamese": shifted(BASELINE["siamese"], worse)})
    failed = suite("compare", "--store", "cand.db", "--against", "base.db", "--fail-if-worse", cwd=tmp_path)
    assert failed.returncode == 1 and failed.stderr.startswith("suite: worse than baseline: mnist #1")
    passed = suite("compare", "--store", "base.db", "--against", "base.db", "--fail-if-worse", cwd=tmp_path)
    assert passed.returncode == 0 and passed.stderr == ""


def test_the_gate_starts_without_torch_or_matplotlib(tmp_path):
    from tests.suite.test_startup import HEAVY, PROBE, run_probe

    stores(tmp_path, {"siamese": shifted(BASELINE["siamese"], [-0.05, -0.04, -0.06, -0.05, -0.045])})
    result, imported = run_probe(PROBE, "compare", "--store", "cand.db", "--against", "base.db", "--fail-if-worse",
                                 cwd=tmp_path)
    assert result.returncode == 1 and "worse than baseline" in result.stderr
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


# the report -------------------------------------------------------------------------------------------------

def test_verdict_lines_say_difference_interval_p_and_verdict(tmp_path):
    noise = [0.004, -0.003, 0.001, -0.004, 0.002]
    cand_path, base_path = stores(tmp_path, {"baseline": BASELINE["baseline"],
                                             "siamese": shifted(BASELINE["siamese"], noise),
                                             "ws": shifted(BASELINE["ws"], [-0.05, -0.04, -0.06, -0.05, -0.045])})
    result = against_baseline(Store(cand_path), Store(base_path), candidates(Store(cand_path), [], None, []), None)
    rows = result.table.to_dict("records")
    assert verdict_line(rows[0], 0.05).endswith("+0.00 points, all 5 shared rounds identical: no change")
    assert verdict_line(rows[1], 0.05).startswith("#2 model=siamese, w_sharing=False: +0.00 points [")
    assert "paired p 1.000 (Holm): no significant change; could detect ±" in verdict_line(rows[1], 0.05)
    assert verdict_line(rows[2], 0.05).startswith("#3 model=siamese, w_sharing=True: -4.90 points [")
    assert verdict_line(rows[2], 0.05).endswith("(Holm): significantly worse")
    blocks = verdict_blocks(result)
    assert [b.kind for b in blocks] == ["p"] * 4 and "base.db" in blocks[0].content


@pytest.mark.slow  # the real command line, drawing every figure
def test_the_report_opens_with_one_verdict_line_per_matched_experiment(tmp_path):
    stores(tmp_path, {"baseline": BASELINE["baseline"], "aux": [0.9, 0.91, 0.92],
                      "ws": shifted(BASELINE["ws"], [-0.05, -0.04, -0.06, -0.05, -0.045])})
    result = suite_here("report", "--task", "mnist", "--store", "cand.db", "--against", "base.db", "--out", "rep",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    paragraphs = (tmp_path / "rep" / "report.md").read_text().split("\n\n")
    assert paragraphs[0].startswith("# mnist") and paragraphs[1].startswith("Against the baseline store base.db")
    assert paragraphs[2].startswith("#1 model=baseline") and paragraphs[2].endswith("no change")
    assert paragraphs[3].startswith("#3 model=siamese") and paragraphs[3].endswith("significantly worse")
    assert paragraphs[4].startswith("Only in the candidate store: #2 mnist aux_loss=True")
    assert paragraphs[5].startswith("Only in the baseline store: #2 mnist defaults")
    assert paragraphs[6].startswith("Task mnist, 3 experiments from cand.db")
    assert "## Against the baseline" in paragraphs and "## Comparison" in paragraphs
    assert "significantly worse" in (tmp_path / "rep" / "report.html").read_text()


def test_report_bad_input_is_one_line_and_exit_2(tmp_path):
    stores(tmp_path, BASELINE)
    for args, message in ((("--against", "nowhere.db"), "no results store there"),
                          (("--alpha", "0.1"), "--alpha: only with --against"),
                          (("--against", "base.db", "--alpha", "2"), "--alpha: must be between 0 and 1")):
        result = suite_here("report", "--store", "cand.db", "--task", "mnist", "--out", "rep", *args, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
        assert not (tmp_path / "rep").exists()  # checked before anything is written


# the gate's error rate --------------------------------------------------------------------------------------

def simulated_pairs(rng, experiments: int, rounds: int, shift: float = 0.0) -> list[Pair]:
    """Store pairs of `experiments` matched experiments with no true difference (or the first one `shift` worse):
    each round has its own level (data, initial weights), shared by baseline and candidate, plus noise."""
    index = pd.MultiIndex.from_tuples([(0, r) for r in range(rounds)], names=["seed", "round_index"])
    pairs = []
    for e in range(experiments):
        level = 0.85 + rng.normal(0, 0.02, rounds)
        base = level + rng.normal(0, 0.005, rounds)
        cand = level + rng.normal(0, 0.005, rounds) - (shift if e == 0 else 0.0)
        pairs.append(Pair("mnist", ACCURACY, Sample(e, f"#{e}", pd.Series(base, index=index)),
                          Sample(e, f"#{e}", pd.Series(cand, index=index))))
    return pairs


def test_a_table_of_several_metrics_names_each_rows_task_and_metric():
    from suite.report.formatting import against_display

    loss = declaration(TASK, "test_loss")
    pairs = simulated_pairs(np.random.default_rng(1), 2, 5)
    pairs[1] = Pair("other", loss, pairs[1].baseline, pairs[1].candidate)
    shown = against_display(verdict_table(pairs))
    assert list(shown["task"]) == ["mnist", "other"] and list(shown["metric"]) == ["test accuracy (%)", "test loss"]
    assert "Δ [95% CI]" in shown.columns and "mean ± std" in shown.columns  # units in the cells, not the headers


@pytest.mark.slow  # 800 simulated store pairs of 4 experiments
def test_without_a_true_difference_the_gate_fires_in_at_most_alpha_of_store_pairs():
    rng = np.random.default_rng(19)
    simulations, alpha = 800, 0.05
    fired = significant = 0
    for _ in range(simulations):
        table = verdict_table(simulated_pairs(rng, experiments=4, rounds=5), alpha)
        fired += not regressions(table).empty
        significant += bool(table["significant"].any())
    bound = alpha + 2 * np.sqrt(alpha * (1 - alpha) / simulations)  # Monte Carlo slack of two standard errors
    assert significant / simulations <= bound  # family-wise error of the two-sided verdicts, Holm
    assert fired / simulations <= bound / 2 + 0.01  # the gate counts one direction only: about alpha / 2


@pytest.mark.slow
def test_a_real_regression_of_twice_the_detectable_size_is_caught():
    rng = np.random.default_rng(20)
    spread = 0.005 * np.sqrt(2)  # of the paired differences in simulated_pairs
    shift = 2 * minimum_detectable_effect(spread, 5, 0.05 / 4)  # what Holm needs when one of four changes
    caught = [set(regressions(verdict_table(simulated_pairs(rng, 4, 5, shift))).index) == {0} for _ in range(100)]
    assert np.mean(caught) >= 0.9
