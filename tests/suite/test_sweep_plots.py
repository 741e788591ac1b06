"""Sweep figures are real files: means per cell in percent, blank cells where nothing ran, sorted values of any type."""


import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suite.core.metrics import declaration
from suite.report import plots
from suite_tasks.mnist_pairs.task import TASK
from tests.suite.test_plots import figure_texts

M_TEST_ACCURACY = declaration(TASK, "test_accuracy")
M_TEST_LOSS = declaration(TASK, "test_loss")
M_VAL_ACCURACY = declaration(TASK, "val_accuracy")

LRS = [0.01, 0.001]  # deliberately not in sorted order
DROPOUTS = [0.5, 0.0, 0.25]


def sweep_frame() -> pd.DataFrame:
    """2 lr × 3 dropout × 2 rounds; accuracy grows with lr and falls with dropout; rounds 1 point apart."""
    rows = []
    for lr in LRS:
        for dropout in DROPOUTS:
            for round_, offset in enumerate((-0.004, 0.006)):
                accuracy = 0.85 + (0.05 if lr == 0.01 else 0.0) - 0.08 * dropout + offset
                rows.append({"lr": lr, "dropout": dropout, "round": round_, "test_accuracy": accuracy})
    return pd.DataFrame(rows)


def cell_means(frame: pd.DataFrame) -> dict[tuple[float, float], str]:
    """The expected annotation of each (lr, dropout) cell, computed independently of the figure code."""
    means = frame.groupby(["lr", "dropout"])["test_accuracy"].mean() * 100
    return {key: f"{value:.1f}" for key, value in means.items()}


def test_sweep_heatmap_annotates_each_cell_with_its_mean_in_percent(tmp_path):
    frame = sweep_frame()
    expected = cell_means(frame)
    assert len(set(expected.values())) == 6  # every cell distinguishable by its text
    png = plots.sweep_heatmap(frame, "lr", "dropout", M_TEST_ACCURACY, tmp_path / "figures" / "heatmap")
    assert png == tmp_path / "figures" / "heatmap.png"
    assert png.with_suffix(".svg").exists()
    texts = figure_texts(png)
    for value in expected.values():
        assert value in texts, value
    assert texts.count("n = 2") == 6
    assert "test accuracy (%) by lr and dropout" in texts
    assert "mean over rounds" in texts
    for label in ("lr", "dropout", "test accuracy (%)", "0.001", "0.01", "0", "0.25", "0.5"):
        assert label in texts, label
    assert not any(t.startswith("0.8") or t.startswith("0.9") for t in texts)  # fractions are shown as percent
    assert texts.index("0.001") < texts.index("0.01")  # x ticks in numeric order
    assert texts.index("0") < texts.index("0.25") < texts.index("0.5")


def test_sweep_heatmap_leaves_cells_without_rounds_blank(tmp_path):
    frame = sweep_frame()
    missing = (frame["lr"] == 0.01) & (frame["dropout"] == 0.5)
    expected = cell_means(frame)
    texts = figure_texts(plots.sweep_heatmap(frame[~missing], "lr", "dropout", M_TEST_ACCURACY, tmp_path / "gap"))
    assert expected[(0.01, 0.5)] not in texts
    assert texts.count("n = 2") == 5
    for key, value in expected.items():
        if key != (0.01, 0.5):
            assert value in texts, value
    assert "0.0" not in texts and "0" in texts  # blank, not zero; the dropout tick "0" is still there


def test_sweep_heatmap_averages_over_other_parameters_and_names_them(tmp_path):
    frame = pd.concat([sweep_frame().assign(batch_size=size, weight_decay=0.0) for size in (32, 8)],
                      ignore_index=True)
    frame.loc[frame["batch_size"] == 8, "test_accuracy"] -= 0.02
    expected = frame.groupby(["lr", "dropout"])["test_accuracy"].mean() * 100
    texts = figure_texts(plots.sweep_heatmap(frame, "dropout", "lr", M_TEST_ACCURACY, tmp_path / "others",
                                             others=["batch_size", "weight_decay"]))
    assert "test accuracy (%) by dropout and lr" in texts
    assert "mean over rounds and over batch_size, weight_decay" in " ".join(texts)  # the title may wrap
    assert texts.count("n = 4") == 6
    for value in expected:
        assert f"{value:.1f}" in texts


def test_sweep_heatmap_of_a_loss_keeps_its_scale(tmp_path):
    frame = sweep_frame().rename(columns={"test_accuracy": "test_loss"})
    texts = figure_texts(plots.sweep_heatmap(frame, "lr", "dropout", M_TEST_LOSS, tmp_path / "loss"))
    mean = frame[(frame["lr"] == 0.001) & (frame["dropout"] == 0.25)]["test_loss"].mean()
    assert f"{mean:.3g}" in texts and "test loss" in texts
    assert not any("(%)" in t for t in texts)


def test_sweep_heatmap_with_bool_and_string_values(tmp_path):
    frame = pd.DataFrame({"w_sharing": [True, False, True, False, True],
                          "optimizer": ["sgd", "sgd", "adam", "adam", "adam"],
                          "test_accuracy": [0.9, 0.8, 0.95, 0.85, 0.97]})
    texts = figure_texts(plots.sweep_heatmap(frame, "w_sharing", "optimizer", M_TEST_ACCURACY, tmp_path / "types"))
    for text in ("False", "True", "adam", "sgd", "w_sharing", "optimizer", "90.0", "80.0", "96.0", "85.0", "n = 1"):
        assert text in texts, text
    assert texts.count("n = 2") == 1
    assert texts.index("False") < texts.index("True") and texts.index("adam") < texts.index("sgd")


def test_sweep_values_sort_by_type_and_number():
    positions, labels = plots._levels(pd.Series([128, 8, 16, 8]))
    assert labels == ["8", "16", "128"] and positions.tolist() == [2, 0, 1, 0]  # numeric, not as strings
    assert plots._levels(pd.Series([1e-3, 1e-4, 0.01]))[1] == ["0.0001", "0.001", "0.01"]
    assert plots._levels(pd.Series([True, False]))[1] == ["False", "True"]
    assert plots._levels(pd.Series(["none", 0.5, 0.1], dtype=object))[1] == ["0.1", "0.5", "none"]
    assert plots._levels(pd.Series([32.0, np.nan, 8.0]))[1] == ["8", "32", "nan"]  # ints stored as floats


def test_sweep_marginals_draws_one_panel_per_parameter(tmp_path):
    frame = sweep_frame().assign(w_sharing=lambda f: f["round"] == 1, optimizer="adam")
    png = plots.sweep_marginals(frame, ["lr", "dropout", "w_sharing", "optimizer"], M_TEST_ACCURACY,
                                tmp_path / "figures" / "marginals")
    assert png == tmp_path / "figures" / "marginals.png"
    texts = figure_texts(png)
    for text in ("lr", "dropout", "w_sharing", "optimizer", "test accuracy (%)", "one round",
                 "mean with 95 % t interval", "0.001", "(n = 6)", "(n = 4)", "(n = 12)", "False",
                 "True", "adam"):
        assert text in texts, text
    assert any(t.startswith("test accuracy for each hyper-parameter") for t in texts)
    assert texts.count("test accuracy (%)") == 1  # the y axis is shared: labelled once per row
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[1] > 2 * pixels.shape[0]  # four panels side by side


def test_sweep_marginals_wrap_beyond_four_panels(tmp_path):
    frame = sweep_frame().assign(a=1, b="x", c=False, d=0.5)
    one_row = plots.sweep_marginals(frame, ["lr", "dropout", "a", "b"], M_TEST_ACCURACY, tmp_path / "four")
    two_rows = plots.sweep_marginals(frame, ["lr", "dropout", "a", "b", "c"], M_TEST_ACCURACY, tmp_path / "five")
    assert matplotlib.image.imread(two_rows).shape[0] > 1.5 * matplotlib.image.imread(one_row).shape[0]
    assert figure_texts(two_rows).count("test accuracy (%)") == 2  # one y label per row


def test_sweep_marginals_with_single_rounds_and_missing_values(tmp_path):
    frame = pd.DataFrame({"lr": [0.1, 0.01, 0.01], "test_loss": [0.5, 0.3, np.nan]})
    texts = figure_texts(plots.sweep_marginals(frame, ["lr"], M_TEST_LOSS, tmp_path / "single"))
    assert "test loss" in texts and texts.count("(n = 1)") == 2  # the NaN round is dropped; n = 1 draws no bar


def test_confidence_interval_is_students_t():
    group = np.array([0.81, 0.84, 0.86, 0.80, 0.83])
    low, high = stats.t.interval(0.95, len(group) - 1, loc=group.mean(), scale=stats.sem(group))
    assert plots._t_half_width(group) == pytest.approx((high - low) / 2, rel=1e-12)
    assert plots._t_half_width(group[:1]) is None


@pytest.mark.parametrize(("call", "message"), [
    (lambda f, stem: plots.sweep_heatmap(f, "lr", "momentum", M_TEST_ACCURACY, stem),
     "sweep_heatmap: missing column\\(s\\) momentum"),
    (lambda f, stem: plots.sweep_heatmap(f, "lr", "dropout", M_TEST_ACCURACY, stem, others=["batch_size"]),
     "sweep_heatmap: missing column\\(s\\) batch_size"),
    (lambda f, stem: plots.sweep_heatmap(f, "lr", "lr", M_TEST_ACCURACY, stem), "sweep_heatmap: .*distinct"),
    (lambda f, stem: plots.sweep_heatmap(f, "lr", "dropout", M_VAL_ACCURACY, stem),
     "sweep_heatmap: missing column\\(s\\) val_accuracy"),
    (lambda f, stem: plots.sweep_marginals(f, ["lr", "momentum"], M_TEST_ACCURACY, stem),
     "sweep_marginals: missing column\\(s\\) momentum"),
    (lambda f, stem: plots.sweep_marginals(f, [], M_TEST_ACCURACY, stem), "sweep_marginals: .*nothing to plot"),
    (lambda f, stem: plots.sweep_heatmap(f.iloc[:0], "lr", "dropout", M_TEST_ACCURACY, stem),
     "sweep_heatmap: nothing to plot"),
    (lambda f, stem: plots.sweep_marginals(f.iloc[:0], ["lr"], M_TEST_ACCURACY, stem),
     "sweep_marginals: nothing to plot"),
    (lambda f, stem: plots.sweep_marginals(f.assign(test_accuracy=np.nan), ["lr"], M_TEST_ACCURACY, stem),
     "sweep_marginals: nothing to plot"),
])
def test_bad_input_is_refused_naming_the_figure_and_writes_nothing(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(sweep_frame(), tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


def test_no_pyplot_state_is_left_behind(tmp_path):
    from matplotlib import pyplot

    before = pyplot.get_fignums()
    plots.sweep_heatmap(sweep_frame(), "lr", "dropout", M_TEST_ACCURACY, tmp_path / "heatmap")
    plots.sweep_marginals(sweep_frame(), ["lr", "dropout"], M_TEST_ACCURACY, tmp_path / "marginals")
    assert pyplot.get_fignums() == before
