"""The Python API (suite.run, suite.open, suite.compare): what a script or notebook gets is what the store holds and
what the command line prints."""

import json

import numpy as np
import pandas as pd
import pytest

import suite
from suite.core.errors import SuiteError
from tests.cli_helpers import suite_here
from tests.stored_fixtures import add_experiment, comparison_store
from tests.toy_task import TASK as TOY


def test_the_api_is_public() -> None:
    for name in ("run", "open", "compare", "Experiment", "Results"):
        assert name in suite.__all__ and getattr(suite, name) is not None


def test_run_returns_the_experiment_and_resumes(tmp_path) -> None:
    store = tmp_path / "api.db"
    first = suite.run(TOY, rounds=3, store=store, epochs=2, hidden=8, progress=False)
    assert first.task == "toy" and first.config["hidden"] == 8 and first.config["epochs"] == 2
    assert len(first.rounds) == 3 and sorted(first.rounds["round_index"]) == [0, 1, 2]
    summary = first.summary()
    assert summary.loc["test_accuracy", "n"] == 3
    assert summary.loc["test_accuracy", "mean"] == pytest.approx(first.rounds["test_accuracy"].mean())
    assert summary.loc["test_accuracy", "unit"] == "%" and summary.loc["test_accuracy", "higher_is_better"]
    again = suite.run(TOY, rounds=3, store=store, epochs=2, hidden=8, progress=False)
    assert again.id == first.id
    # reused, not trained again: the very rounds stored the first time
    pd.testing.assert_frame_equal(again.rounds.reset_index(drop=True), first.rounds.reset_index(drop=True))
    opened = suite.open(store).experiment(first.id)
    assert opened.config == first.config and len(opened.rounds) == 3


def test_run_refuses_unknown_and_impossible_options(tmp_path) -> None:
    with pytest.raises(SuiteError, match="unknown option.*hiden.*run options:.*toy options:"):
        suite.run(TOY, store=tmp_path / "x.db", hiden=8)
    with pytest.raises(SuiteError, match="--rounds: must be between 1 and 10,000, got 0"):
        suite.run(TOY, rounds=0, store=tmp_path / "x.db")
    with pytest.raises(SuiteError, match="hidden: must be <= 1024"):
        suite.run(TOY, store=tmp_path / "x.db", hidden=10**6)
    with pytest.raises(SuiteError, match="unknown task"):
        suite.run("no-such-task", store=tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()  # refused before the store is created


def test_experiments_table_has_config_columns_and_metric_summaries(tmp_path) -> None:
    comparison_store(tmp_path / "c.db")
    table = suite.open(tmp_path / "c.db").experiments()
    assert list(table["id"]) == [1, 2, 3, 4]
    assert {"model", "w_sharing", "aux_loss", "epochs", "lr"} <= set(table.columns)
    assert list(table["model"]) == ["baseline", "siamese", "siamese", "siamese"]
    assert list(table["rounds"]) == [5, 5, 5, 4]
    expected = [0.80, 0.82, 0.79, 0.81, 0.83]
    first = table.iloc[0]
    assert first["test_accuracy_mean"] == pytest.approx(np.mean(expected))
    assert first["test_accuracy_std"] == pytest.approx(np.std(expected, ddof=1))
    baseline = suite.open(tmp_path / "c.db").experiments("mnist", where={"model": "baseline"})
    assert list(baseline["id"]) == [1]
    shared = suite.open(tmp_path / "c.db").experiments(where=["w_sharing=True"])
    assert list(shared["id"]) == [3]


def test_rounds_curves_and_scores(tmp_path) -> None:
    store = comparison_store(tmp_path / "c.db")
    scored = add_experiment(store, [0.7, 0.75], scores=True, lr=0.01)
    results = suite.open(tmp_path / "c.db")
    rounds = results.rounds([1, scored])
    assert len(rounds) == 7 and set(rounds["experiment_id"]) == {1, scored}
    assert list(rounds.loc[rounds["experiment_id"] == scored, "test_accuracy"]) == [0.7, 0.75]
    curves = results.curves(scored)
    assert len(curves) == 2 * 3 and list(curves["epoch"][:3]) == [0, 1, 2]
    assert {"experiment_id", "seed", "round_index", "train_loss"} <= set(curves.columns)
    round_id = int(rounds.loc[rounds["experiment_id"] == scored, "round_id"].iloc[0])
    scores = results.scores(round_id)
    assert list(scores["score"]) == pytest.approx([0.9, 0.2, 0.6, 0.4, 0.3, 0.8])


def test_compare_is_what_the_command_line_prints(tmp_path) -> None:
    comparison_store(tmp_path / "c.db")
    frame = suite.compare(store=tmp_path / "c.db", task="mnist")
    printed = suite_here("compare", "--task", "mnist", "--store", str(tmp_path / "c.db"), "--format", "json",
                         cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    rows = json.loads(printed.stdout)["rows"]
    assert list(frame["experiment"]) == [1, 2, 3, 4] == [row["experiment"] for row in rows]
    assert list(frame["mean"]) == pytest.approx([row["mean"] for row in rows])
    against = suite.open(tmp_path / "c.db").compare([2, 3], baseline=3, versus="reference")
    assert list(against["experiment"]) == [3, 2]
    with pytest.raises(SuiteError, match="versus"):
        suite.compare(store=tmp_path / "c.db", task="mnist", versus="sideways")


def test_open_refuses_a_missing_store(tmp_path) -> None:
    with pytest.raises(SuiteError, match="no results store"):
        suite.open(tmp_path / "missing.db")
