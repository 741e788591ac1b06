"""View 2's summary: mean ± standard error over the folds' means, labelled LFW's result only with all 10 folds."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.task import TASK

VIEW2 = LfwConfig(protocol="view2")


def _rounds(accuracy):
    accuracy = np.asarray(accuracy, dtype=float)
    return pd.DataFrame({"round_index": range(len(accuracy)), "seed": 0, "test_accuracy": accuracy,
                         "test_tuned_accuracy": accuracy - 0.01})


def _lines(accuracy):
    lines = TASK.summary_lines(VIEW2, _rounds(accuracy))
    assert [line.split(" ")[0] for line in lines] == ["test_accuracy", "test_tuned_accuracy"]
    return lines


def _error(line):
    return float(line.split("): ")[1].split(" ± ")[1].split(" %")[0])


def test_three_rounds_are_three_of_ten_folds_not_lfws_result():
    for line in _lines([0.6, 0.7, 0.8]):
        assert "3 of LFW View 2's 10 folds" in line and "1 round each" in line
        assert "not LFW's View 2 result" in line and "--rounds 10" in line
        assert "LFW View 2: mean" not in line
    assert f"70.00 ± {100 * stats.sem([0.6, 0.7, 0.8]):.2f} %" in _lines([0.6, 0.7, 0.8])[0]


def test_ten_rounds_are_lfws_view2_result():
    accuracy = np.linspace(0.60, 0.78, 10) ** 2
    first = _lines(accuracy)[0]
    assert "LFW View 2: mean ± standard error over the 10 folds, 1 round each" in first
    assert "not LFW's" not in first and "of LFW View 2's" not in first
    assert _error(first) == pytest.approx(100 * stats.sem(accuracy), abs=0.005)
    assert first.endswith("per fold: " + ", ".join(f"{100 * v:.2f}" for v in accuracy))


def test_twenty_rounds_average_each_fold_first():
    rng = np.random.default_rng(0)
    accuracy = rng.uniform(0.6, 0.8, 20)  # rounds r and r + 10 test fold r
    fold_means = (accuracy[:10] + accuracy[10:]) / 2
    assert not np.isclose(stats.sem(fold_means), stats.sem(accuracy), atol=1e-4)  # so the check can tell them apart
    first = _lines(accuracy)[0]
    assert "over the 10 folds, 2 rounds each" in first
    assert _error(first) == pytest.approx(100 * stats.sem(fold_means), abs=0.005)
    assert f"): {100 * fold_means.mean():.2f} ± " in first
    assert first.endswith("per fold: " + ", ".join(f"{100 * v:.2f}" for v in fold_means))


def test_unequal_rounds_per_fold_and_a_single_fold():
    line = _lines(np.full(12, 0.7))[0]  # folds 0 and 1 twice, the rest once
    assert "rounds per fold: 1–2" in line and "LFW View 2: mean" in line
    single = _lines([0.7])[0]
    assert "1 of LFW View 2's 10 folds" in single and "no standard error" in single and "70.00 ± – %" in single


def test_view1_has_no_summary():
    assert TASK.summary_lines(LfwConfig(protocol="view1"), _rounds([0.6, 0.7, 0.8])) == []
