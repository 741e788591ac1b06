"""Figures are real files: PNG and SVG written, plausible pixels, searchable titles and labels, honest numbers."""

import html
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from suite.core.metrics import Metric, declaration
from suite.report import plots
from suite_tasks.mnist_pairs.task import TASK

M_TEST_ACCURACY = declaration(TASK, "test_accuracy")
M_TEST_LOSS = declaration(TASK, "test_loss")

LONG = "siamese, weight sharing, auxiliary loss α = 0.2, lr 1e-3"  # longer than one wrapped line
EXPERIMENTS = ["baseline", LONG, "siamese"]


def figure_texts(png: Path) -> list[str]:
    """Both files exist and look like real figures; returns the SVG's text elements in drawing order."""
    svg = png.with_suffix(".svg")
    assert png.suffix == ".png" and png.stat().st_size > 0 and svg.stat().st_size > 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    pixels = matplotlib.image.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] >= 300 and pixels.shape[1] >= 300
    assert np.ptp(pixels[..., :3]) > 0.5  # not one flat colour
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg.read_text("utf-8"))]


def check_figure(png: Path, *texts: str) -> str:
    """figure_texts, and the SVG's text contains every text. Returns that text."""
    text = "\n".join(figure_texts(png))
    for expected in texts:
        assert expected in text, expected
    return text


def curves_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for i, experiment in enumerate(EXPERIMENTS):
        for round_ in range(3):
            for epoch in range(1, 11 - 2 * round_):  # early stopping: rounds of 10, 8 and 6 epochs
                loss = 1 / epoch + 0.05 * i + rng.normal(0, 0.02)
                rows.append({"experiment": experiment, "round": round_, "epoch": epoch, "train_loss": loss,
                             "val_loss": loss + 0.1, "train_accuracy": 1 - loss / 2, "val_accuracy": 0.9 - loss / 2})
    return pd.DataFrame(rows)


def test_learning_curves(tmp_path):
    png = plots.learning_curves(curves_frame(), tmp_path / "figures" / "learning_curves", None,
                                (declaration(TASK, "loss"), declaration(TASK, "accuracy")))
    assert png == tmp_path / "figures" / "learning_curves.png"
    check_figure(png, "Learning curves (mean ± std over rounds)", "epoch", "loss", "accuracy (%)", "training",
                 "validation", "baseline", "siamese, weight sharing,")
    assert plots.drawn(png) == plots.Drawn((*(plots._wrap(e) for e in EXPERIMENTS), "training", "validation"),
                                           ("loss", "accuracy"))


def test_learning_curves_split_the_loss_by_objective_and_keep_one_accuracy_panel(tmp_path):
    objectives = {"baseline": "cross-entropy", LONG: "cross-entropy + digit loss", "siamese": "cross-entropy"}
    png = plots.learning_curves(curves_frame(), tmp_path / "curves", None,
                                (declaration(TASK, "loss"), declaration(TASK, "accuracy")), objectives)
    assert plots.drawn(png).panels == ("loss: cross-entropy", "loss: cross-entropy + digit loss", "accuracy")
    same = plots.learning_curves(curves_frame(), tmp_path / "same", None, (declaration(TASK, "loss"),),
                                 dict.fromkeys(EXPERIMENTS, "cross-entropy"))
    assert plots.drawn(same).panels == ("loss",)


def test_learning_curves_without_accuracy_or_validation_draws_loss_only(tmp_path):
    curves = curves_frame()[["experiment", "round", "epoch", "train_loss"]]
    svg = check_figure(plots.learning_curves(curves, tmp_path / "loss"), "loss", "training")
    assert "accuracy (%)" not in svg and "validation" not in svg


def test_experiment_order_and_colours_follow_the_callers_order(tmp_path):
    """Colour i of tab10 goes to the i-th experiment of `order`, even when an earlier one is absent."""
    values = pd.DataFrame({"experiment": ["b", "b", "c", "c"], "value": [0.8, 0.82, 0.7, 0.71]})
    assert list(plots._colours(values["experiment"], None)) == ["b", "c"]
    colours = plots._colours(values["experiment"], ["a", "c", "b"])
    tab10 = matplotlib.colormaps["tab10"].colors
    assert colours == {"c": tab10[1], "b": tab10[2]}


def round_frame(means: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"experiment": np.repeat(EXPERIMENTS, 3), "value": np.repeat(means, 3) + np.tile([-0.01, 0,
                                                                                                         0.01], 3)})


def test_mean_ci_dots_shows_percent_values_every_round_and_tolerates_missing_intervals(tmp_path):
    summary = pd.DataFrame({"experiment": EXPERIMENTS, "mean": [0.85, 0.9, 0.88],
                            "low": [0.84, 0.89, np.nan], "high": [0.86, 0.91, np.nan]})
    svg = check_figure(plots.mean_ci_dots(summary, round_frame([0.85, 0.9, 0.88]), M_TEST_ACCURACY, tmp_path / "ci"),
                       "mean test accuracy with 95 % t confidence intervals", "test accuracy (%)",
                       "85.00 [84.00, 86.00]", "90.00 [89.00, 91.00]", "88.00 (no CI)", "(n = 3)", "one round",
                       "mean over rounds", "95 % t interval")
    assert "0.85" not in svg and "does not start at 0" not in svg  # a dot's position, not a bar's length


def test_mean_ci_dots_of_a_loss_at_another_confidence(tmp_path):
    summary = pd.DataFrame({"experiment": ["a", "b"], "mean": [0.3, 0.35], "low": [0.28, 0.3], "high": [0.32, 0.4]})
    values = pd.DataFrame({"experiment": ["a", "a", "b", "b"], "value": [0.29, 0.31, 0.33, 0.37]})
    svg = check_figure(plots.mean_ci_dots(summary, values, M_TEST_LOSS, tmp_path / "ci", confidence=0.9),
                       "mean test loss with 90 % t confidence intervals", "test loss", "0.3000 [0.2800, 0.3200]",
                       "90 % t interval")
    assert "(%)" not in svg


def test_difference_dots_mark_no_difference_the_better_side_and_each_verdict(tmp_path):
    summary = pd.DataFrame({"experiment": EXPERIMENTS[1:], "difference": [0.02, -0.001], "low": [0.01, -0.02],
                            "high": [0.03, 0.018], "verdict": ["better", "no detectable difference"]})
    rounds = pd.DataFrame({"experiment": [EXPERIMENTS[1]] * 3, "value": [0.015, 0.02, 0.025]})
    png = plots.difference_dots(summary, rounds, M_TEST_ACCURACY, tmp_path / "diff", "#1 baseline")
    check_figure(png, "difference from the reference, #1 baseline", "+2.00 [1.00, 3.00]: better",
                 "-0.10 [-2.00, 1.80]: no detectable difference", "experiment − reference (points); better →",
                 "one round's paired difference", "difference of means", "95 % interval")
    assert plots.drawn(png).legend == ("one round's paired difference", "difference of means", "95 % interval")
    unpaired = plots.difference_dots(summary, rounds.iloc[:0], M_TEST_LOSS, tmp_path / "unpaired", "#1")
    assert "one round's paired difference" not in plots.drawn(unpaired).legend
    assert "← better" in check_figure(unpaired)


def test_roc_points_on_hand_checkable_examples():
    target = np.array([1, 1, 0, 0])
    fpr, tpr = plots.roc_points(np.array([0.9, 0.8, 0.3, 0.1]), target)
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1, 1])
    assert np.trapezoid(tpr, fpr) == 1.0
    fpr, tpr = plots.roc_points(np.array([0.1, 0.2, 0.8, 0.9]), target)
    assert np.trapezoid(tpr, fpr) == 0.0
    fpr, tpr = plots.roc_points(np.full(4, 0.5), target)  # all tied: one threshold, the diagonal
    np.testing.assert_allclose(fpr, [0, 1])
    np.testing.assert_allclose(tpr, [0, 1])
    fpr, tpr = plots.roc_points(np.array([0.9, 0.5, 0.5, 0.1]), target)  # a positive and a negative tied
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])


def test_roc_area_equals_the_mann_whitney_statistic():
    rng = np.random.default_rng(7)
    target = rng.integers(0, 2, 500)
    score = np.round(rng.normal(target * 0.8, 1.0), 1)  # rounded: many ties
    fpr, tpr = plots.roc_points(score, target)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    pos, neg = score[target == 1], score[target == 0]
    expected = mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))
    assert np.trapezoid(tpr, fpr) == pytest.approx(expected, abs=1e-12)
    assert plots._auc(fpr, tpr) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("score", "target", "message"), [
    ([0.1, 0.2], [1, 1], "need both classes, got 2 positive and 0 negative"),
    ([0.1, np.nan], [0, 1], "must not be NaN"),
    ([0.1, 0.2], [0, 2], "targets must be 0 or 1"),
    ([0.1, 0.2], [0, 1, 1], "same length"),
])
def test_roc_points_refuses_bad_input(score, target, message):
    with pytest.raises(ValueError, match=message):
        plots.roc_points(np.array(score), np.array(target))


def scores_frame(rounds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    parts = []
    for i, experiment in enumerate(EXPERIMENTS):
        for round_ in range(rounds):
            target = rng.integers(0, 2, 200)
            score = rng.normal(target * (0.5 + i), 1.0)
            parts.append(pd.DataFrame({"experiment": experiment, "round": round_, "score": score, "target": target}))
    return pd.concat(parts, ignore_index=True)


def test_roc_curves_legend_has_mean_and_std_of_auc(tmp_path):
    scores = scores_frame()
    aucs = [np.trapezoid(*plots.roc_points(part["score"], part["target"])[::-1])
            for _, part in scores[scores["experiment"] == "baseline"].groupby("round")]
    check_figure(plots.roc_curves(scores, tmp_path / "roc"), "ROC curves (mean over rounds)", "false positive rate",
                 "true positive rate", "chance", f"baseline (AUC {np.mean(aucs):.3f} ± {np.std(aucs, ddof=1):.3f})")


def test_roc_curves_names_the_round_with_one_class(tmp_path):
    scores = scores_frame(rounds=1)
    scores.loc[scores["experiment"] == "siamese", "target"] = 1
    with pytest.raises(ValueError, match="roc_curves: 'siamese' round 0: roc_points: need both classes"):
        plots.roc_curves(scores, tmp_path / "roc")
    assert not (tmp_path / "roc.png").exists()


def test_epoch_seconds(tmp_path):
    values = pd.DataFrame({"experiment": np.repeat(EXPERIMENTS, 4), "seconds_per_epoch": np.linspace(1.0, 4.0, 12)})
    check_figure(plots.epoch_seconds(values, tmp_path / "runtime"), "Runtime per epoch", "seconds per epoch (s)",
                 "min–max over rounds", "one round", "(n = 4)")


def test_histogram_of_skewed_counts_uses_log_bins(tmp_path):
    counts = pd.Series(np.r_[np.ones(4000, dtype=int), np.arange(2, 80), [530]])
    check_figure(plots.histogram(counts, tmp_path / "people", title="Images per person", xlabel="images per person"),
                 "Images per person", "images per person", "count", "max 530", "log-spaced bins")
    svg = check_figure(plots.histogram(pd.Series([1, 2, 2, 3, 3, 3]), tmp_path / "small", title="Small",
                                       xlabel="n", ylabel="people", log_y=False), "Small", "people")
    assert "log-spaced" not in svg


def test_label_balance(tmp_path):
    counts = pd.DataFrame({"split": ["train", "train", "test", "test"], "label": ["same", "different"] * 2,
                           "count": [1100, 1100, 500, 499]})
    check_figure(plots.label_balance(counts, tmp_path / "balance"), "Label balance per split", "share of examples (%)",
                 "same", "different", "1,100", "50.0 %", "(n = 2,200)", "49.9 %")


@pytest.mark.parametrize("kind", ["digits", "faces"])
def test_gallery(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == "digits":  # 14×14 floats, some outside [0, 1] (normalised inputs)
        image = lambda: rng.normal(0, 1, (14, 14))  # noqa: E731
    else:  # 105×105 RGB faces
        image = lambda: rng.integers(0, 256, (105, 105, 3), dtype=np.uint8)  # noqa: E731
    items = [{"kind": k, "left": image(), "right": image(), "score": s, "target": t, "caption": f"round 2, pair {i}"}
             for i, (k, s, t) in enumerate([("false negative", 0.2, 1), ("true positive", 0.97, 1),
                                            ("true positive", 0.91, 1), ("true negative", 0.03, 0)] * 3)]
    png = plots.gallery(items, tmp_path / kind, title="Hardest test pairs", columns=4)
    svg = check_figure(png, "Hardest test pairs", "true positive", "true negative", "false negative",
                       "predicted: positive (0.970)", "actual: positive", "predicted: negative (0.200)",
                       "round 2, pair 1")
    assert "false positive" not in svg  # kinds without items are skipped
    assert matplotlib.image.imread(png).shape[0] < matplotlib.image.imread(png).shape[1]  # 3 rows of 4 pairs


def test_gallery_refuses_unknown_kinds():
    with pytest.raises(ValueError, match="unknown kind"):
        plots.gallery([{"kind": "maybe", "left": np.zeros((2, 2)), "right": np.zeros((2, 2)), "score": 0.5,
                        "target": 1}], Path("unused"), title="t")


def test_images_are_normalised_for_display():
    np.testing.assert_allclose(plots._display(np.array([[0, 255]], dtype=np.uint8)), [[0, 1]])
    np.testing.assert_allclose(plots._display(np.array([[0.2, 0.4]])), [[0.2, 0.4]])  # already in [0, 1]
    np.testing.assert_allclose(plots._display(np.array([[-1.0, 0.0, 3.0]])), [[0, 0.25, 1]])
    assert plots._side_by_side(np.zeros((14, 14)), np.zeros((10, 10, 3))).shape == (14, 14 + 1 + 10, 3)


@pytest.mark.parametrize("call", [
    lambda stem: plots.learning_curves(pd.DataFrame(columns=["experiment", "round", "epoch", "train_loss"]), stem),
    lambda stem: plots.mean_ci_dots(pd.DataFrame({"experiment": ["a"], "mean": [np.nan], "low": [np.nan],
                                                  "high": [np.nan]}), pd.DataFrame(columns=["experiment", "value"]),
                                    M_TEST_ACCURACY, stem),
    lambda stem: plots.difference_dots(pd.DataFrame(columns=["experiment", "difference", "low", "high", "verdict"]),
                                       pd.DataFrame(columns=["experiment", "value"]), Metric("x"), stem, "#1"),
    lambda stem: plots.roc_curves(pd.DataFrame(columns=["experiment", "round", "score", "target"]), stem),
    lambda stem: plots.epoch_seconds(pd.DataFrame(columns=["experiment", "seconds_per_epoch"]), stem),
    lambda stem: plots.histogram(pd.Series([], dtype=int), stem, title="t", xlabel="x"),
    lambda stem: plots.label_balance(pd.DataFrame(columns=["split", "label", "count"]), stem),
    lambda stem: plots.gallery([], stem, title="t"),
])
def test_empty_input_is_refused_and_writes_nothing(tmp_path, call):
    with pytest.raises(ValueError, match="nothing to plot"):
        call(tmp_path / "empty")
    assert list(tmp_path.iterdir()) == []


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match="learning_curves: missing column\\(s\\) round"):
        plots.learning_curves(pd.DataFrame({"experiment": ["a"], "epoch": [1], "train_loss": [1.0]}), tmp_path / "x")


def test_no_pyplot_state_is_left_behind(tmp_path):
    from matplotlib import pyplot

    before = pyplot.get_fignums()
    plots.epoch_seconds(pd.DataFrame({"experiment": ["a"], "seconds_per_epoch": [1.0]}), tmp_path / "one")
    assert pyplot.get_fignums() == before


def test_epoch_seconds_of_stacked_rounds_with_equal_times(tmp_path):
    # Stacked rounds share their group's time per epoch; the mean of 3 × 0.1 is one rounding step above 0.1.
    values = pd.DataFrame({"experiment": ["stacked"] * 3, "seconds_per_epoch": [0.1] * 3})
    assert values["seconds_per_epoch"].mean() > values["seconds_per_epoch"].max()
    check_figure(plots.epoch_seconds(values, tmp_path / "runtime"), "Runtime per epoch")
