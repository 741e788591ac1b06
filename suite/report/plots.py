"""Figures for comparison reports: learning curves, means and differences with their intervals (dots, every round
drawn), ROC curves, runtime, data-set histograms, label balance, galleries of example pairs and hyper-parameter
sweeps (heatmap, marginals).

Every function takes plain pandas/numpy data and an output path stem (no suffix), writes ``stem.png`` and
``stem.svg`` and returns the PNG path. Figures are built on ``matplotlib.figure.Figure`` without pyplot, so they
work headless and nothing stays registered once a function returns. SVG text is kept as text (searchable). The PNG
records its legend entries and panel titles (``drawn``), so that a caption can say what the figure shows.

Experiments keep the order in which they first appear (or the caller's ``order``); the i-th experiment of that
order gets colour i of the "tab10" cycle, so colours agree across figures. A metric comes with its declaration
(suite.core.metrics.Metric), which says its unit and scale: fractions stored, percentages drawn.
"""

import json
import numbers
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from scipy import stats

from suite.core.metrics import Metric
from suite.results.roc import roc_rates

# Applied around the creation and saving of every figure (not globally): text stays text in SVG, reproducible ids.
_STYLE = {"svg.fonttype": "none", "svg.hashsalt": "suite", "axes.spines.top": False, "axes.spines.right": False}
DPI = 150  # PNG pixels per inch (the report shows figures at their drawn size from it)
_WRAP = 28
_WRAP_DOTS = 44  # experiment labels beside a dot figure's rows, which have the width for longer lines
_KINDS = ("true positive", "false positive", "true negative", "false negative")
_LEGEND, _PANELS = "Suite legend", "Suite panels"  # the PNG metadata keys of what a figure drew
_FAINT = 0.35  # opacity of the dots that stand for single rounds behind an estimate
# Legend entries that report captions name (in “quotes”): the captions and the figures say the same words.
MEAN, ROUND, RANGE, CHANCE = "mean over rounds", "one round", "min–max over rounds", "chance"
DIFFERENCE, PAIRED_ROUND = "difference of means", "one round's paired difference"


def interval_label(confidence: float, kind: str = "") -> str:
    """The legend entry of an interval: `95 % t interval`."""
    return f"{confidence * 100:g} % {kind + ' ' if kind else ''}interval"


# ----------------------------------------------------------------------------------------------- shared helpers


def _save(fig: Figure, stem: Path) -> Path:
    """Write stem.png and stem.svg (creating the folder) and return the PNG path. The PNG's metadata records the
    figure's legend entries and panel titles as drawn (read back by `drawn`)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.parent / f"{stem.name}.png"  # not with_suffix: a stem may contain dots
    svg = stem.parent / f"{stem.name}.svg"
    for path in (png, svg):
        if path.is_symlink():  # replaced, never written through (suite report --force: others' files may be there)
            path.unlink()
    # ASCII JSON: PNG text chunks are Latin-1, and labels may hold any character
    record = {_LEGEND: json.dumps(_legend_texts(fig)), _PANELS: json.dumps(_panel_titles(fig))}
    fig.savefig(png, dpi=DPI, metadata=record)
    fig.savefig(svg, metadata={"Date": None})
    fig.clear()
    return png


def _legend_texts(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def _panel_titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]


@dataclass(frozen=True)
class Drawn:
    """What a saved figure shows, as it was drawn: its legend entries and its panels' titles."""

    legend: tuple[str, ...]
    panels: tuple[str, ...]


def drawn(png: Path) -> Drawn:
    """The legend entries and panel titles `_save` recorded in a figure's PNG."""
    from PIL import Image  # matplotlib's own dependency

    with Image.open(png) as image:
        text = getattr(image, "text", {})
    return Drawn(tuple(json.loads(text.get(_LEGEND, "[]"))), tuple(json.loads(text.get(_PANELS, "[]"))))


def _check(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    """Refuse missing columns and empty input with a ValueError naming the figure."""
    _check_columns(frame, columns, name)
    if frame.empty:
        raise ValueError(f"{name}: nothing to plot")


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")


def _colours(experiments: pd.Series, order: list[str] | None) -> dict:
    """Experiments present in the data, in display order, mapped to their tab10 colour."""
    present = list(pd.unique(experiments))
    everything = list(dict.fromkeys([*(order or []), *present]))
    palette = matplotlib.colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(everything) if name in present}


def _wrap(label: object, width: int = _WRAP) -> str:
    return textwrap.fill(str(label), width)


def _rows_figure(ticks: list[str], width: float = 8.0) -> tuple[Figure, Axes]:
    """One horizontal row per category (first at the top), tall enough for the wrapped tick labels."""
    lines = sum(tick.count("\n") + 1 for tick in ticks)
    fig = Figure(figsize=(width, 1.8 + 0.22 * lines + 0.3 * len(ticks)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_yticks(range(len(ticks)), ticks)
    ax.set_ylim(len(ticks) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig, ax


def _legend_below(fig: Figure, handles: list, columns: int = 3) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncols=min(columns, len(handles)), frameon=False)


def _jitter(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.15, 0.15, n)


def _dot_figure(names: list[str], counts: list[int] | None = None) -> tuple[Figure, Axes]:
    """The rows of a dot-and-interval figure: compact (a dot needs less height than a bar or a box), labels wrapped
    wider, room on the right for each row's numbers; with `counts`, each label says how many values it has."""
    ticks = [_wrap(name, _WRAP_DOTS) + (f"\n(n = {n})" if counts is not None else "")
             for name, n in zip(names, counts or [0] * len(names), strict=True)]
    lines = sum(tick.count("\n") + 1 for tick in ticks)
    fig = Figure(figsize=(9.5, 1.5 + 0.15 * lines + 0.2 * len(ticks)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_yticks(range(len(ticks)), ticks, fontsize=9)
    ax.set_ylim(len(ticks) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig, ax


def _dot_rows(ax: Axes, centres: np.ndarray, lows: np.ndarray, highs: np.ndarray, colours: list,
              rounds: list[np.ndarray]) -> None:
    """One row per estimate (first at the top): its single rounds as faint dots, its interval as a line with caps
    where both ends are finite, the estimate as a dot. A dot's position carries the value, so the axis need not
    start at 0 (a bar's length would mean nothing on a truncated axis)."""
    for row, (centre, low, high, colour, values) in enumerate(zip(centres, lows, highs, colours, rounds,
                                                                  strict=True)):
        ax.scatter(values, row + _jitter(len(values), row), s=16, color=colour, alpha=_FAINT, linewidth=0, zorder=2)
        if np.isfinite(low) and np.isfinite(high):
            # clipped at 0: the mean of equal values can exceed their max by one rounding step (mean of 3 × 0.1)
            spans = np.clip([[centre - low], [high - centre]], 0, None)
            ax.errorbar([centre], [row], xerr=spans, fmt="none", ecolor="black", capsize=4, linewidth=1.3, zorder=3)
        ax.scatter([centre], [row], s=48, color=colour, edgecolor="black", linewidth=0.8, zorder=4)


def _row_texts(ax: Axes, texts: list[str]) -> None:
    """Each row's numbers written in a column right of the plot, where no dot or interval can cover them."""
    for row, text in enumerate(texts):
        ax.annotate(text, (1.0, row), xycoords=("axes fraction", "data"), xytext=(8, 0), textcoords="offset points",
                    va="center", fontsize=8)


def _span(*arrays: np.ndarray, margin: float = 0.08) -> tuple[float, float]:
    """Axis limits around every finite value, with a margin (where all are equal: 5 % of the value, or 1, either
    way)."""
    finite = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays])
    finite = finite[np.isfinite(finite)]
    low, high = float(finite.min()), float(finite.max())
    pad = (high - low) * margin or abs(low) * 0.05 or 1.0
    return low - pad, high + pad


def _dot_legend(fig: Figure, estimate: str, interval: str, round_label: str | None) -> None:
    """The legend of a dot-and-interval figure, its entries named as the caption names them."""
    handles = [Line2D([], [], color="0.4", marker="o", linestyle="none", alpha=_FAINT + 0.15, label=round_label)
               ] if round_label else []
    handles.append(Line2D([], [], color="0.4", marker="o", markeredgecolor="black", linestyle="none", label=estimate))
    handles.append(Line2D([], [], color="black", marker="|", markersize=8, label=interval))
    _legend_below(fig, handles)


# ----------------------------------------------------------------------------------------------------- figures


OBJECTIVE = "loss"  # the quantity whose meaning is the training objective's: its panels split by objective
_SPLITS = (("train", "-", "training"), ("val", "--", "validation"))


@dataclass(frozen=True)
class _CurvePanel:
    quantity: Metric
    objective: str | None  # the training objective its experiments share, when the loss is split by objective
    experiments: list[str]

    @property
    def title(self) -> str:
        return self.quantity.words if self.objective is None else f"{self.quantity.words}: {self.objective}"


def _curve_panels(curves: pd.DataFrame, quantities: tuple[Metric, ...], objectives: dict[str, str] | None,
                 colours: dict) -> list[_CurvePanel]:
    """The panels of `learning_curves`: one per quantity with train_/val_ columns; the loss (OBJECTIVE) one per
    training objective when `objectives` (experiment → its objective) names more than one, since losses of
    different objectives are not on one scale."""
    panels = []
    for quantity in quantities:
        if not any(f"{split}_{quantity.name}" in curves for split, _, _ in _SPLITS):
            continue
        distinct = list(dict.fromkeys((objectives or {}).get(name, "not declared") for name in colours))
        if quantity.name != OBJECTIVE or objectives is None or len(distinct) < 2:
            panels.append(_CurvePanel(quantity, None, list(colours)))
            continue
        panels += [_CurvePanel(quantity, objective, [n for n in colours if objectives.get(n, "not declared")
                                                    == objective]) for objective in distinct]
    return panels


@matplotlib.rc_context(_STYLE)
def learning_curves(curves: pd.DataFrame, stem: Path, order: list[str] | None = None,
                    quantities: tuple[Metric, ...] = (Metric("loss"),),
                    objectives: dict[str, str] | None = None) -> Path:
    """Each quantity (a metric without its split prefix, e.g. loss and the task's accuracy) per epoch: mean over
    rounds, band ± one sample std; training solid, validation dashed (each only where drawn: the legend says
    which), one panel per quantity, and the loss one per training objective where `objectives` differ
    (_curve_panels).

    Rounds stopped early simply drop out: each epoch averages the rounds that reached it.
    """
    _check(curves, ("experiment", "round", "epoch"), "learning_curves")
    colours = _colours(curves["experiment"], order)
    panels = _curve_panels(curves, quantities, objectives, colours)
    if not panels:
        raise ValueError(f"learning_curves: no train_/val_ columns of {', '.join(q.name for q in quantities)}: "
                         "nothing to plot")
    lines = -(-len(panels) // 3)  # at most three panels a row, the rows as evenly filled as they can be
    columns = -(-len(panels) // lines)
    fig = Figure(figsize=(4.6 * columns, 3.5 * lines + 0.9 + 0.35 * ((len(colours) + 1) // 3)),
                 layout="constrained")
    axes = fig.subplots(lines, columns, squeeze=False).ravel()
    drawn_splits = set()
    for ax, panel in zip(axes, panels, strict=False):
        drawn_splits |= _curve_panel(ax, curves, panel, colours)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=colour, linewidth=3, label=_wrap(name)) for name, colour in colours.items()]
    handles += [Line2D([], [], color="black", linestyle=style, label=label)
                for split, style, label in _SPLITS if split in drawn_splits]
    _legend_below(fig, handles)
    fig.suptitle("Learning curves (mean ± std over rounds)")
    return _save(fig, stem)


def _curve_panel(ax: Axes, curves: pd.DataFrame, panel: _CurvePanel, colours: dict) -> set[str]:
    """One panel's curves; the splits it drew."""
    quantity, drawn_splits = panel.quantity, set()
    for name in panel.experiments:
        rows = curves[curves["experiment"] == name]
        for split, style, _ in _SPLITS:
            column = f"{split}_{quantity.name}"
            if column not in rows:
                continue
            spread = rows.groupby("epoch")[column].agg(["mean", "std"]).dropna(subset=["mean"]) * quantity.scale
            if spread.empty:
                continue
            drawn_splits.add(split)
            ax.plot(spread.index, spread["mean"], style, color=colours[name], linewidth=1.6)
            ax.fill_between(spread.index, spread["mean"] - spread["std"], spread["mean"] + spread["std"],
                            color=colours[name], alpha=0.15, linewidth=0)
    ax.set_title(textwrap.fill(panel.title, 44), fontsize=10)
    ax.set(xlabel="epoch", ylabel=quantity.label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return drawn_splits


def _groups(values: pd.DataFrame, names: list[str], scale: float) -> list[np.ndarray]:
    """Each named experiment's single values (column "value"), in display units."""
    return [values.loc[values["experiment"] == name, "value"].to_numpy(dtype=float) * scale for name in names]


def _estimates(summary: pd.DataFrame, columns: tuple[str, str, str], names: list[str],
               scale: float) -> tuple[np.ndarray, ...]:
    table = summary.set_index("experiment").loc[names, list(columns)].astype(float) * scale
    return tuple(table[c].to_numpy() for c in columns)


def _one_row_each(summary: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    _check(summary, ("experiment", column, "low", "high"), name)
    summary = summary.dropna(subset=[column])
    _check(summary, (), name)
    if summary["experiment"].duplicated().any():
        raise ValueError(f"{name}: one row per experiment expected")
    return summary


def _shown(metric: Metric, value: float, low: float, high: float, signed: bool = False) -> str:
    """A value and its interval as the tables show them (the metric's declared digits)."""
    text = f"{'+' if signed and value >= 0 else ''}{metric.show(value)}"
    return text + (f" [{metric.show(low)}, {metric.show(high)}]" if np.isfinite(low) and np.isfinite(high)
                   else " (no CI)")


@matplotlib.rc_context(_STYLE)
def mean_ci_dots(summary: pd.DataFrame, values: pd.DataFrame, metric: Metric, stem: Path,
                 order: list[str] | None = None, confidence: float = 0.95) -> Path:
    """Mean of a metric per experiment as a dot with its confidence interval (computed by the caller; NaN: none
    drawn), every round's value (`values`: experiment, value) a faint dot behind it, and the mean and interval
    written beside each row as the comparison table gives them."""
    summary = _one_row_each(summary, "mean", "mean_ci_dots")
    _check(values, ("experiment", "value"), "mean_ci_dots")
    colours = _colours(summary["experiment"], order)
    names = list(colours)
    means, lows, highs = _estimates(summary, ("mean", "low", "high"), names, metric.scale)
    rounds = _groups(values.dropna(subset=["value"]), names, metric.scale)
    fig, ax = _dot_figure(names, [len(g) for g in rounds])
    _dot_rows(ax, means, lows, highs, list(colours.values()), rounds)
    raw = summary.set_index("experiment").loc[names]
    _row_texts(ax, [_shown(metric, r["mean"], r["low"], r["high"]) for r in raw.to_dict("records")])
    ax.set_xlim(*_span(means, lows, highs, *rounds))
    ax.set_xlabel(metric.label)
    ax.set_title(f"mean {metric.words} with {confidence * 100:g} % t confidence intervals")
    _dot_legend(fig, MEAN, interval_label(confidence, "t"), ROUND)
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def difference_dots(summary: pd.DataFrame, rounds: pd.DataFrame, metric: Metric, stem: Path, reference: str,
                    order: list[str] | None = None, confidence: float = 0.95) -> Path:
    """Each experiment's difference from the reference (experiment − reference) as a dot with its confidence
    interval (`summary`: experiment, difference, low, high and verdict, the words written beside it), the
    per-round paired differences (`rounds`: experiment, value; none for unpaired rows) as faint dots, and a line
    at no difference. The side that is better is marked where the metric declares one."""
    summary = _one_row_each(summary, "difference", "difference_dots")
    _check_columns(summary, ("verdict",), "difference_dots")
    _check_columns(rounds, ("experiment", "value"), "difference_dots")
    colours = _colours(summary["experiment"], order)
    names = list(colours)
    centres, lows, highs = _estimates(summary, ("difference", "low", "high"), names, metric.scale)
    groups = _groups(rounds.dropna(subset=["value"]), names, metric.scale)
    fig, ax = _dot_figure(names)
    ax.axvline(0, color="0.3", linewidth=1, linestyle=":", zorder=1)
    _dot_rows(ax, centres, lows, highs, list(colours.values()), groups)
    raw = summary.set_index("experiment").loc[names]
    _row_texts(ax, [f"{_shown(metric, r['difference'], r['low'], r['high'], signed=True)}: {r['verdict']}"
                    for r in raw.to_dict("records")])
    ax.set_xlim(*_span(centres, lows, highs, *groups, np.zeros(1)))
    unit = "points" if metric.unit == "%" else metric.unit
    better = ("; better →" if metric.higher_is_better else "; ← better") if metric.ranked else ""
    ax.set_xlabel(f"{metric.words}: experiment − reference" + (f" ({unit})" if unit else "") + better)
    ax.set_title(textwrap.fill(f"difference from the reference, {reference}", 90))
    _dot_legend(fig, DIFFERENCE, interval_label(confidence), PAIRED_ROUND if any(len(g) for g in groups) else None)
    return _save(fig, stem)


def roc_points(score: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC of one round as (fpr, tpr): one point per distinct score threshold, from (0, 0) to (1, 1).

    Equal scores form one threshold, so ties give a diagonal segment (counted as half in the area).
    """
    score, target = np.asarray(score, dtype=float), np.asarray(target)
    if score.ndim != 1 or score.shape != target.shape:
        raise ValueError("roc_points: score and target must be 1-D arrays of the same length")
    if np.isnan(score).any() or not np.isin(target, (0, 1)).all():
        raise ValueError("roc_points: scores must not be NaN and targets must be 0 or 1")
    positive = target == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_points: need both classes, got {n_pos} positive and {n_neg} negative")
    return roc_rates(score, positive)


def _auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Trapezoidal area (as np.trapezoid, which numpy < 2.0 lacks)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


@matplotlib.rc_context(_STYLE)
def roc_curves(scores: pd.DataFrame, stem: Path, order: list[str] | None = None) -> Path:
    """ROC per experiment: mean TPR over rounds on a common FPR grid, band ± one std, AUC mean ± std in the legend.
    One compact square panel, the legend beside it."""
    _check(scores, ("experiment", "round", "score", "target"), "roc_curves")
    colours = _colours(scores["experiment"], order)
    grid = np.linspace(0, 1, 201)
    lines = sum(_wrap(name).count("\n") + 1 for name in colours) + 1
    fig = Figure(figsize=(7.6, max(3.6, 0.8 + 0.2 * lines)), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label=CHANCE)
    for name, colour in colours.items():
        tprs, aucs = [], []
        for round_, part in scores[scores["experiment"] == name].groupby("round", sort=False):
            try:
                fpr, tpr = roc_points(part["score"].to_numpy(), part["target"].to_numpy())
            except ValueError as error:
                raise ValueError(f"roc_curves: {name!r} round {round_}: {error}") from None
            aucs.append(_auc(fpr, tpr))
            keep = np.r_[fpr[1:] != fpr[:-1], True]  # at a vertical step, the upper point
            tprs.append(np.interp(grid, fpr[keep], tpr[keep]))
        mean = np.r_[0.0, np.mean(tprs, axis=0)]
        spread = f" ± {np.std(aucs, ddof=1):.3f}" if len(aucs) > 1 else ""
        ax.plot(np.r_[0.0, grid], mean, color=colour, linewidth=1.8,
                label=f"{_wrap(name)} (AUC {np.mean(aucs):.3f}{spread})")
        if len(tprs) > 1:
            std = np.r_[0.0, np.std(tprs, axis=0, ddof=1)]
            ax.fill_between(np.r_[0.0, grid], np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color=colour,
                            alpha=0.15, linewidth=0)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="false positive rate", ylabel="true positive rate")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", ncols=1, frameon=False, fontsize=8)
    ax.set_title("ROC curves (mean over rounds)", fontsize=10)
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def epoch_seconds(values: pd.DataFrame, stem: Path, order: list[str] | None = None) -> Path:
    """Mean seconds per epoch per experiment as a dot, the min–max range over rounds as its line, every round a faint
    dot; the axis starts at 0, so that times compare as ratios too."""
    _check(values, ("experiment", "seconds_per_epoch"), "epoch_seconds")
    values = values.dropna(subset=["seconds_per_epoch"])
    _check(values, (), "epoch_seconds")
    colours = _colours(values["experiment"], order)
    groups = [values.loc[values["experiment"] == name, "seconds_per_epoch"].to_numpy(dtype=float) for name in colours]
    fig, ax = _dot_figure(list(colours), [len(g) for g in groups])
    means, lows, highs = np.array([(g.mean(), g.min(), g.max()) for g in groups]).T
    _dot_rows(ax, means, lows, highs, list(colours.values()), groups)
    _row_texts(ax, [f"{m:.3g} s" for m in means])
    ax.set_xlim(0, highs.max() * 1.08)
    ax.set_xlabel("seconds per epoch (s)")
    ax.set_title("Runtime per epoch")
    _dot_legend(fig, MEAN, RANGE, ROUND)
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def histogram(counts: pd.Series, stem: Path, *, title: str, xlabel: str, ylabel: str = "count",
              log_y: bool = True) -> Path:
    """Histogram of integer counts (e.g. images per person); bins widen logarithmically when the max exceeds 50."""
    values = pd.Series(counts).dropna().to_numpy(dtype=float)
    if values.size == 0:
        raise ValueError("histogram: nothing to plot")
    if (values != np.round(values)).any():
        raise ValueError("histogram: counts must be integers")
    low, high = int(values.min()), int(values.max())
    log_x = high > 50 and low >= 1
    # Bin k covers the integers edges[k] .. edges[k + 1] - 1, so the edges sit half-way between integers.
    edges = np.unique(np.round(np.geomspace(low, high + 1, 40))) if log_x else np.arange(low, high + 2)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    heights, _, _ = ax.hist(values, bins=edges - 0.5, log=log_y, color=matplotlib.colormaps["tab10"].colors[0],
                            edgecolor="white")
    ax.set_ylim(top=heights.max() * (5 if log_y else 1.2))  # headroom for the note
    if not log_y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if log_x:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    note = f"n = {values.size:,} · median {np.median(values):g} · max {high:,}"
    ax.text(0.98, 0.97, note + ("\nlog-spaced bins" if log_x else ""), transform=ax.transAxes, ha="right", va="top",
            fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def label_balance(counts: pd.DataFrame, stem: Path) -> Path:
    """Share of each label per split as stacked bars, with the count and percentage written in each segment."""
    _check(counts, ("split", "label", "count"), "label_balance")
    table = counts.pivot_table(index="split", columns="label", values="count", aggfunc="sum", fill_value=0, sort=False)
    table = table.loc[pd.unique(counts["split"]), pd.unique(counts["label"])]
    totals = table.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("label_balance: a split has no examples: nothing to plot")
    shares = table.div(totals, axis=0) * 100
    fig, ax = _rows_figure([f"{_wrap(split)}\n(n = {total:,})" for split, total in totals.items()])
    palette = matplotlib.colormaps["tab10"].colors
    left = np.zeros(len(table))
    for i, label in enumerate(table.columns):
        ax.barh(range(len(table)), shares[label], left=left, height=0.6, color=palette[i % len(palette)],
                label=_wrap(label))
        for row, (count, share) in enumerate(zip(table[label], shares[label], strict=True)):
            if share >= 3:  # narrower segments have no room for text
                text = f"{count:,}\n{share:.1f} %" if share >= 12 else f"{share:.0f} %"
                ax.text(left[row] + share / 2, row, text, ha="center", va="center", color="white", fontsize=8)
        left += shares[label].to_numpy()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of examples (%)")
    ax.set_title("Label balance per split")
    fig.legend(loc="outside lower center", ncols=min(4, len(table.columns)), frameon=False)
    return _save(fig, stem)


def _display(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (H×W or H×W×3): uint8 divided by 255, other out-of-range values min–max scaled."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"gallery: images must be H×W or H×W×3, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image / 255.0
    image = image.astype(float)
    low, high = image.min(), image.max()
    if low < 0 or high > 1:
        image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image


def _side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Both images on one white canvas with a small gap; grayscale becomes RGB if the other image is colour."""
    left, right = _display(left), _display(right)
    if left.ndim != right.ndim:
        left, right = (np.dstack([i] * 3) if i.ndim == 2 else i for i in (left, right))
    height = max(left.shape[0], right.shape[0])
    gap = max(1, height // 20)
    canvas = np.ones((height, left.shape[1] + gap + right.shape[1], *left.shape[2:]))
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] + gap:] = right
    return canvas


def pair_text(score: float, target: int, names: tuple[str, str] = ("negative", "positive"), note: str = "") -> str:
    """What a gallery says under a pair: the prediction (score above 0.5: the positive class) with its score, the
    true class, and a note (which pair it is, what the task knows of it)."""
    predicted = names[int(score > 0.5)]
    return f"predicted: {predicted} ({score:.3f})\nactual: {names[int(target)]}" + (f"\n{note}" if note else "")


@matplotlib.rc_context(_STYLE)
def gallery(items: list[dict], stem: Path, *, title: str, columns: int = 4,
            target_names: tuple[str, str] = ("negative", "positive")) -> Path:
    """Example pairs in rows by kind (true/false positives, true/false negatives), each with its prediction, score
    and true class in the words of `target_names`, and its caption (pair_text)."""
    unknown = {item["kind"] for item in items} - set(_KINDS)
    if unknown:
        raise ValueError(f"gallery: unknown kind(s) {', '.join(sorted(unknown))}; expected one of {', '.join(_KINDS)}")
    rows = [(kind, [i for i in items if i["kind"] == kind][:columns]) for kind in _KINDS]
    rows = [(kind, chosen) for kind, chosen in rows if chosen]
    if not rows:
        raise ValueError("gallery: nothing to plot")
    cell = (2.8, 2.0)  # inches per pair: readable for 14×14 digits and 105×105 faces alike, and three lines of text
    fig = Figure(figsize=(0.5 + columns * cell[0], 0.6 + len(rows) * cell[1]), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06, hspace=0.06)
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for ax_row, (kind, chosen) in zip(axes, rows, strict=True):
        ax_row[0].set_ylabel(kind, fontsize=10, fontweight="bold")
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
        for ax, item in zip(ax_row, chosen, strict=False):
            ax.spines[:].set(visible=True, color="0.6", linewidth=0.6)  # a frame around each pair
            ax.imshow(_side_by_side(item["left"], item["right"]), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(pair_text(item["score"], item["target"], target_names, item.get("caption", "")), fontsize=8)
    fig.suptitle(title)
    return _save(fig, stem)


# ------------------------------------------------------------------------------------------ hyper-parameter sweeps


def _level_key(value: object) -> tuple:
    """Sort key for a swept value: numbers numerically, then bools (False first), then strings; missing last."""
    if isinstance(value, bool | np.bool_):
        return (1, float(value), "")
    if isinstance(value, numbers.Real) and not np.isnan(float(value)):
        return (0, float(value), "")
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return (3, 0.0, "")
    return (2, 0.0, str(value))


def _level_label(value: object) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def _levels(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """The distinct values of a swept hyper-parameter in display order (their labels), and each row's position.

    Values that print alike (1 and 1.0) share a position; the first one seen decides where it sorts.
    """
    labels = [_level_label(v) for v in column.tolist()]
    # reversed, so that the first value seen with a label is the one whose key stays
    keys = {label: _level_key(v) for label, v in reversed(list(zip(labels, column.tolist(), strict=True)))}
    order = sorted(keys, key=keys.__getitem__)
    position = {label: i for i, label in enumerate(order)}
    return np.array([position[label] for label in labels], dtype=int), order


def _sweep_input(values: pd.DataFrame, params: list[str], metric: str, name: str) -> pd.DataFrame:
    """Check a sweep frame: named columns present, parameters distinct from each other and the metric, rows left."""
    _check(values, (*params, metric), name)
    if len(set(params)) < len(params) or metric in params:
        raise ValueError(f"{name}: hyper-parameters must be distinct and differ from the metric {metric!r}")
    values = values.dropna(subset=[metric])
    _check(values, (), name)
    return values


def _value_text(value: float, metric: Metric) -> str:
    return f"{value:.1f}" if metric.unit == "%" else f"{value:.3g}"


def _t_half_width(group: np.ndarray, confidence: float = 0.95) -> float | None:
    """Half the width of the t confidence interval of a mean; None (no bar) for fewer than two values."""
    if len(group) < 2:
        return None
    return float(stats.t.ppf(0.5 + confidence / 2, len(group) - 1) * np.std(group, ddof=1) / np.sqrt(len(group)))


@matplotlib.rc_context(_STYLE)
def sweep_heatmap(values: pd.DataFrame, x: str, y: str, metric: Metric, stem: Path, others: list[str] = ()) -> Path:
    """Mean of a metric for each (x, y) pair of a hyper-parameter sweep, one row of `values` per finished round.

    The mean runs over rounds and over the other swept hyper-parameters the caller names in `others` (the title
    says which). Each cell is annotated with its mean and the number of rounds; pairs never run stay blank.
    """
    others = list(others)
    values = _sweep_input(values, [x, y, *others], metric.name, "sweep_heatmap")
    columns, x_labels = _levels(values[x])
    rows, y_labels = _levels(values[y])
    metric_values = values[metric.name].to_numpy(dtype=float) * metric.scale
    counts = np.zeros((len(y_labels), len(x_labels)), dtype=int)
    sums = np.zeros(counts.shape)
    np.add.at(counts, (rows, columns), 1)
    np.add.at(sums, (rows, columns), metric_values)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)

    x_ticks, y_ticks = [_wrap(label) for label in x_labels], [_wrap(label) for label in y_labels]
    tilt = sum(len(label) for label in x_labels) > 5 * len(x_labels)  # long tick labels: slant them
    width = max(5.0, 2.8 + 0.95 * len(x_labels))
    fig = Figure(figsize=(width, max(3.8, 2.2 + 0.65 * len(y_labels))), layout="constrained")
    ax = fig.add_subplot()
    colours = matplotlib.colormaps["viridis"]
    mesh = ax.pcolormesh(np.arange(len(x_labels) + 1) - 0.5, np.arange(len(y_labels) + 1) - 0.5,
                         np.ma.masked_invalid(means), cmap=colours, edgecolors="white", linewidth=1.5)
    for (row, column), mean in np.ndenumerate(means):
        if np.isnan(mean):
            continue  # never run: blank, not zero
        red, green, blue, _ = colours(mesh.norm(mean))
        ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        ax.text(column, row + 0.08, _value_text(mean, metric), ha="center", va="bottom", fontsize=9, color=ink)
        ax.text(column, row - 0.02, f"n = {counts[row, column]}", ha="center", va="top", fontsize=6.5, color=ink)
    slant = {"rotation": 30, "ha": "right", "rotation_mode": "anchor"} if tilt else {}
    ax.set_xticks(range(len(x_labels)), x_ticks, **slant)
    ax.set_yticks(range(len(y_labels)), y_ticks)
    ax.set(xlim=(-0.5, len(x_labels) - 0.5), ylim=(-0.5, len(y_labels) - 0.5), xlabel=_wrap(x), ylabel=_wrap(y))
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    colour_bar = fig.colorbar(mesh, ax=ax, shrink=0.9)
    colour_bar.set_label(metric.label)
    colour_bar.outline.set_visible(False)
    over = "mean over rounds" + (f" and over {', '.join(others)}" if others else "")
    chars = max(30, int(width * 9))  # about what fits above the cells at this size
    ax.set_title(textwrap.fill(f"{metric.label} by {x} and {y}", chars) + "\n" + textwrap.fill(over, chars),
                 fontsize=11)
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def sweep_marginals(values: pd.DataFrame, params: list[str], metric: Metric, stem: Path) -> Path:
    """A metric against each swept hyper-parameter in turn, averaged over everything else (one panel each).

    Every round is a faint dot; the mean over all rounds with that value has a 95 % t confidence interval (none
    when a value has fewer than two rounds). Values sit at evenly spaced positions in sorted order.
    """
    params = list(params)
    if not params:
        raise ValueError("sweep_marginals: no hyper-parameters: nothing to plot")
    values = _sweep_input(values, params, metric.name, "sweep_marginals")
    metric_values = values[metric.name].to_numpy(dtype=float) * metric.scale
    panels = [_levels(values[param]) for param in params]
    columns = min(4, len(params))
    lines = (len(params) + columns - 1) // columns
    widths = [max(max(len(panels[i][1]) for i in range(c, len(params), columns)) * 0.6 + 1.1, 2.6)
              for c in range(columns)]
    width = sum(widths) + 0.8
    fig = Figure(figsize=(width, 3.4 * lines + 1.0), layout="constrained")
    axes = fig.subplots(lines, columns, squeeze=False, sharey=True, gridspec_kw={"width_ratios": widths})
    dots, bars = matplotlib.colormaps["tab10"].colors[0], "black"
    for i, (ax, param, (positions, labels)) in enumerate(zip(axes.flat, params, panels, strict=False)):
        ticks = []
        for level, label in enumerate(labels):
            group = metric_values[positions == level]
            ticks.append(f"{_wrap(label)}\n(n = {len(group)})")
            ax.scatter(level + _jitter(len(group), 100 * i + level), group, s=14, color=dots, alpha=0.45, linewidth=0,
                       zorder=2)
            ax.errorbar(level, group.mean(), yerr=_t_half_width(group), fmt="o", color=bars, markersize=5, capsize=4,
                        linewidth=1.3, zorder=3)
        ax.set_xticks(range(len(labels)), ticks, fontsize=8)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xlabel(_wrap(param))
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        if i % columns == 0:
            ax.set_ylabel(metric.label)
    for ax in axes.flat[len(params):]:
        ax.set_visible(False)
    _legend_below(fig, [Line2D([], [], color=dots, marker="o", linestyle="none", alpha=0.5, label="one round"),
                        Line2D([], [], color=bars, marker="o", linestyle="-", label="mean with 95 % t interval")])
    fig.suptitle(textwrap.fill(f"{metric.words} for each hyper-parameter (mean over rounds and all other settings)",
                               max(30, int(width * 10))))
    return _save(fig, stem)
