"""suite compare: every number equals scipy's on the stored per-round values; pairing exactly when seeds match."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite.core.metrics import declaration
from suite.results.compare import (
    Sample,
    cohens_dz,
    compare,
    comparison_table,
    describe,
    hedges_g,
    holm,
    paired,
)
from suite.results.selection import samples, select
from suite_tasks.mnist_pairs.task import TASK
from tests.cli_helpers import suite_here
from tests.stored_fixtures import add_experiment, comparison_store

ACCURACY = declaration(TASK, "test_accuracy")
LOSS = declaration(TASK, "test_loss")
REF = np.array([0.80, 0.82, 0.79, 0.81, 0.83])  # experiment 1, seed 0
SIAMESE = np.array([0.84, 0.85, 0.86, 0.83, 0.88])  # experiment 2, seed 0: paired with 1
AUX = np.array([0.86, 0.84, 0.87, 0.85])  # experiment 4, seed 7: not paired with 1


def sample(values, seed=0, experiment_id=1) -> Sample:
    index = pd.MultiIndex.from_tuples([(seed, i) for i in range(len(values))], names=["seed", "round_index"])
    return Sample(experiment_id, f"#{experiment_id}", pd.Series(values, index=index))


def test_describe_equals_scipy():
    got = describe(REF)
    t = stats.t.interval(0.95, len(REF) - 1, loc=REF.mean(), scale=stats.sem(REF))
    assert got["n"] == 5 and got["mean"] == pytest.approx(REF.mean()) and got["median"] == np.median(REF)
    assert got["std"] == pytest.approx(REF.std(ddof=1))
    assert (got["t_low"], got["t_high"]) == pytest.approx(t)
    assert "boot_low" not in got  # the percentile bootstrap undercovers at these n (docs/statistics.md)


def test_one_round_has_a_mean_but_no_spread_or_interval():
    got = describe(np.array([0.9]))
    assert got["mean"] == 0.9 and np.isnan(got["std"]) and np.isnan(got["t_low"])


def test_paired_comparison_equals_scipy():
    got = compare(sample(REF), sample(SIAMESE, experiment_id=2), ACCURACY)
    t = stats.ttest_rel(SIAMESE, REF)
    assert got["paired"] and got["t_test"] == "paired t" and got["rank_test"] == "Wilcoxon"
    assert got["difference"] == pytest.approx(SIAMESE.mean() - REF.mean())
    assert got["p_t"] == pytest.approx(t.pvalue)
    assert (got["diff_low"], got["diff_high"]) == pytest.approx(tuple(t.confidence_interval(0.95)))
    assert got["p_rank"] == pytest.approx(stats.wilcoxon(SIAMESE, REF).pvalue)
    assert got["p_improvement"] == pytest.approx(np.mean(SIAMESE > REF))
    differences = SIAMESE - REF
    assert got["d_z"] == pytest.approx(differences.mean() / differences.std(ddof=1))
    assert got["d_z"] == pytest.approx(t.statistic / np.sqrt(len(REF)))
    assert got["n_paired"] == 5


def test_unpaired_comparison_equals_scipy():
    got = compare(sample(REF), sample(AUX, seed=7, experiment_id=4), ACCURACY)
    t = stats.ttest_ind(AUX, REF, equal_var=False)
    u = stats.mannwhitneyu(AUX, REF, alternative="two-sided")
    assert not got["paired"] and got["t_test"] == "Welch t" and got["rank_test"] == "Mann-Whitney U"
    assert got["p_t"] == pytest.approx(t.pvalue)
    assert (got["diff_low"], got["diff_high"]) == pytest.approx(tuple(t.confidence_interval(0.95)))
    assert got["p_rank"] == pytest.approx(u.pvalue)
    assert got["p_improvement"] == pytest.approx(u.statistic / (len(AUX) * len(REF)))
    assert np.isnan(got["d_z"]) and got["n_paired"] == 0


def test_pairing_is_on_the_shared_rounds():
    assert paired(sample(REF), sample(SIAMESE))
    assert not paired(sample(REF), sample(SIAMESE, seed=1))
    assert paired(sample(REF), sample(SIAMESE[:4]))  # four shared rounds: paired on those four
    assert not paired(sample(REF[:1]), sample(SIAMESE[:1]))  # one round: nothing to test


def test_experiments_sharing_some_rounds_are_compared_on_those_rounds_paired():
    # 10 rounds of seed 0 against 5 of seed 0 and 5 of seed 1: the 5 shared rounds pair up.
    rng = np.random.default_rng(3)
    ten = rng.normal(0.8, 0.02, 10)
    other_values = np.r_[ten[:5] + 0.01 + rng.normal(0, 0.002, 5), rng.normal(0.8, 0.02, 5)]
    keys = [(0, i) for i in range(5)] + [(1, i) for i in range(5)]
    other = Sample(2, "#2", pd.Series(other_values, index=pd.MultiIndex.from_tuples(keys)))
    got = compare(sample(ten), other, ACCURACY)
    t = stats.ttest_rel(other_values[:5], ten[:5])
    assert got["paired"] and got["n_paired"] == 5 and got["p_t"] == pytest.approx(t.pvalue)
    assert got["difference"] == pytest.approx((other_values[:5] - ten[:5]).mean())
    assert cohens_dz(other_values[:5] - ten[:5]) == pytest.approx(got["d_z"])


def test_lower_is_better_metrics_turn_the_probability_of_improvement_around():
    loss_ref, loss_other = 1 - REF, 1 - SIAMESE
    got = compare(sample(loss_ref), sample(loss_other, experiment_id=2), LOSS)
    assert got["p_improvement"] == pytest.approx(np.mean(loss_other < loss_ref))
    assert got["difference"] < 0


def test_hedges_g_is_cohens_d_with_the_small_sample_correction():
    pooled = np.sqrt(((len(SIAMESE) - 1) * SIAMESE.var(ddof=1) + (len(REF) - 1) * REF.var(ddof=1))
                     / (len(SIAMESE) + len(REF) - 2))
    d = (SIAMESE.mean() - REF.mean()) / pooled
    df = len(SIAMESE) + len(REF) - 2
    assert hedges_g(SIAMESE, REF) == pytest.approx(d * (1 - 3 / (4 * df - 1)), rel=2e-3)  # Hedges' approximation
    assert np.isnan(hedges_g(REF[:1], SIAMESE[:1]))


def test_holm_step_down():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02], nan_ok=True)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_identical_experiments_are_not_different():
    got = compare(sample(REF), sample(REF.copy(), experiment_id=2), ACCURACY)
    assert got["difference"] == 0 and got["p_rank"] == 1.0 and got["p_improvement"] == 0.5


def test_table_from_the_store_pairs_by_seed_and_holm_adjusts(tmp_path):
    store = comparison_store(tmp_path / "r.db")
    experiments = select(store, [], "mnist", [])
    table = comparison_table(samples(store, experiments, ACCURACY), 1, ACCURACY).set_index("experiment")
    assert list(table.index) == [1, 2, 3, 4]
    assert table.loc[[2, 3], "paired"].all() and not table.loc[4, "paired"]
    raw = [stats.ttest_rel(SIAMESE, REF).pvalue, stats.ttest_rel(np.array([0.90, 0.93, 0.91, 0.92, 0.94]), REF).pvalue,
           stats.ttest_ind(AUX, REF, equal_var=False).pvalue]
    assert table.loc[[2, 3, 4], "p_t_holm"].tolist() == pytest.approx(holm(raw))
    assert table.loc[1, "label"] == "model=baseline, w_sharing=False, aux_loss=False"


def test_where_filters_by_typed_config_values(tmp_path):
    store = comparison_store(tmp_path / "r.db")
    assert [e["id"] for e in select(store, [], "mnist", ["w_sharing=true"])] == [3]
    assert [e["id"] for e in select(store, [], "mnist", ["lr=1e-3", "model=siamese"])] == [2, 3, 4]


def test_cli_json_numbers_equal_scipy(tmp_path):
    comparison_store(tmp_path / "r.db").close()
    result = suite_here("compare", "1", "2", "4", "--store", str(tmp_path / "r.db"), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {r["experiment"]: r for r in json.loads(result.stdout)["rows"]}
    assert rows[2]["p_t"] == pytest.approx(stats.ttest_rel(SIAMESE, REF).pvalue)
    assert rows[4]["p_rank"] == pytest.approx(stats.mannwhitneyu(AUX, REF, alternative="two-sided").pvalue)
    assert rows[1]["difference"] is None and rows[1]["metric"] == "test_accuracy"


def test_cli_formats(tmp_path):
    comparison_store(tmp_path / "r.db").close()
    db = str(tmp_path / "r.db")
    csv = suite_here("compare", "--task", "mnist", "--baseline", "2", "--store", db, "--format", "csv", cwd=tmp_path)
    frame = pd.read_csv(io.StringIO(csv.stdout))
    assert frame["experiment"].tolist() == [2, 1, 3, 4] and frame["mean"].iloc[0] == pytest.approx(SIAMESE.mean())
    markdown = suite_here("compare", "1", "2", "--store", db, "--format", "markdown", cwd=tmp_path).stdout
    assert "| 2 | model=siamese | 5 | 85.20 ± 1.92 |" in markdown
    latex = suite_here("compare", "1", "2", "--store", db, "--format", "latex", cwd=tmp_path).stdout
    assert "\\begin{tabular}" in latex and "mean ± std (\\%)" in latex
    table = suite_here("compare", "1", "2", "--store", db, "--metric", "test_loss", cwd=tmp_path,
                  env={"COLUMNS": "250"}).stdout
    assert "test_loss" in table and "paired t / Wilcoxon" in table


@pytest.mark.parametrize("args, message", [
    (["99"], "no experiment 99"),
    (["1", "2", "--baseline", "3"], "--baseline 3: not among the selected experiments (1, 2)"),
    (["--task", "mnist", "--metric", "test_auc"], "--metric 'test_auc': not stored for experiment 1"),
    (["--task", "mnist", "--where", "colour=red"], "unknown option 'colour'"),
    (["--task", "mnist", "--where", "w_sharing"], "expected FIELD=VALUE"),
    (["--task", "mnist", "--where", "epochs=many"], "epochs: expected int, got 'many'"),
    (["--task", "mnist", "--where", "epochs=1000"], "no experiment with finished rounds matches"),
    (["--task", "imagenet"], "unknown task 'imagenet'"),
    (["1", "--format", "xml"], "--format: 'xml' is not one of: table, markdown, csv, latex, json"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    comparison_store(tmp_path / "r.db").close()
    result = suite_here("compare", *args, "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_experiments_of_two_tasks_are_not_compared(tmp_path):
    store = comparison_store(tmp_path / "r.db")
    other = store.ensure_experiment("lfw", "x", {}, {"code_version": "t", "torch_version": "x",
                                                     "python_version": "3", "device": "cpu"})
    from tests.stored_fixtures import round_result
    store.add_round(other, 0, 0, round_result(0.7))
    store.close()
    result = suite_here("compare", "1", str(other), "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert result.returncode == 2 and "different tasks (lfw, mnist)" in result.stderr


def test_missing_store(tmp_path):
    result = suite_here("compare", "--task", "mnist", "--store", str(tmp_path / "none.db"), cwd=tmp_path)
    assert result.returncode == 2 and "no results store" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_unused_helper_add_experiment_accepts_scores(tmp_path):
    from suite.results.store import Store
    store = Store(tmp_path / "r.db")
    experiment = add_experiment(store, [0.5], scores=True)
    round_id = int(store.rounds(experiment)["id"].iloc[0])
    assert store.scores(round_id)["target"].tolist() == [0, 1, 0, 1, 0, 1]


def test_a_narrow_terminal_folds_cells_instead_of_cutting_them(tmp_path):
    from rich.console import Console

    from suite.report.formatting import render
    store = comparison_store(tmp_path / "r.db")
    table = comparison_table(samples(store, select(store, [1, 2], None, []), ACCURACY), 1, ACCURACY)
    console = Console(width=100, record=True)
    console.print(render(table, ACCURACY, "table", "narrow"))
    text = console.export_text()
    assert "…" not in text and "+4.20" in text


def test_versus_previous_compares_each_row_with_the_one_above_in_the_given_order(tmp_path):
    store = comparison_store(tmp_path / "r.db")
    found = samples(store, select(store, [1, 3, 2], None, []), ACCURACY)
    table = comparison_table(found, 1, ACCURACY, versus="previous").set_index("experiment")
    assert list(table.index) == [1, 3, 2]
    assert table.loc[3, "versus"] == 1 and table.loc[2, "versus"] == 3
    w_sharing = np.array([0.90, 0.93, 0.91, 0.92, 0.94])
    raw = [stats.ttest_rel(w_sharing, REF).pvalue, stats.ttest_rel(SIAMESE, w_sharing).pvalue]
    assert table.loc[[3, 2], "p_t"].tolist() == pytest.approx(raw)
    assert table.loc[[3, 2], "p_t_holm"].tolist() == pytest.approx(holm(raw))
    assert table.loc[2, "difference"] == pytest.approx(SIAMESE.mean() - w_sharing.mean())


def test_each_row_carries_the_command_that_reproduces_it(tmp_path):
    store = comparison_store(tmp_path / "r.db")
    found = {s.experiment_id: s.command for s in samples(store, select(store, [], "mnist", []), ACCURACY)}
    assert found[1] == "suite run mnist --model baseline --rounds 5"
    assert found[3] == "suite run mnist --w-sharing --rounds 5"
    assert found[4] == "suite run mnist --aux-loss --rounds 4 --seed 7"
    markdown = suite_here("compare", "1", "3", "--versus", "previous", "--store", str(tmp_path / "r.db"),
                          "--format", "markdown", cwd=tmp_path).stdout
    assert "against the one before it" in markdown and "| start |" in markdown
    assert "`suite run mnist --w-sharing --rounds 5` |" in markdown
    text = suite_here("compare", "1", "3", "--versus", "previous", "--store", str(tmp_path / "r.db"),
                      cwd=tmp_path, env={"COLUMNS": "250"}).stdout
    assert "3: suite run mnist --w-sharing --rounds 5" in text


@pytest.mark.parametrize("args, message", [
    (["1", "2", "--versus", "next"], "--versus: 'next' is not one of: reference, previous"),
    (["1", "2", "--versus", "previous", "--baseline", "2"], "leave out --baseline"),
])
def test_bad_versus_is_one_line_and_exit_2(tmp_path, args, message):
    comparison_store(tmp_path / "r.db").close()
    result = suite_here("compare", *args, "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_labels_print_each_differing_value_with_its_own_type():
    from suite.results.selection import labels

    experiments = [{"id": i, "task": "mnist", "config": {"scale": scale, "ensemble": members, "head": "rule"}}
                   for i, (scale, members) in enumerate([(0.0, 1), (0.2, 3)], start=1)]
    assert labels(experiments) == {1: "scale=0.0, ensemble=1", 2: "scale=0.2, ensemble=3"}


def test_report_settings_and_labels_print_ints_as_ints_and_a_missing_value_alike():
    from suite.report.document import _configs
    from suite.results.selection import labels

    experiments = [{"id": i, "task": "mnist", "config": config} for i, config in enumerate(
        [{"ensemble": 1, "head": "rule"}, {"ensemble": 3, "head": "rule"}, {"head": "rule"}], start=1)]
    assert _configs(experiments)["ensemble"].tolist() == ["1", "3", "–"]
    assert labels(experiments) == {1: "ensemble=1", 2: "ensemble=3", 3: "ensemble=–"}
