"""Figures for comparison reports: learning curves, per-round values, confidence intervals, ROC curves, runtime,
data-set histograms, label balance, galleries of example pairs and hyper-parameter sweeps (heatmap, marginals).

Every function takes plain pandas/numpy data and an output path stem (no suffix), writes ``stem.png`` and
``stem.svg`` and returns the PNG path. Figures are built on ``matplotlib.figure.Figure`` without pyplot, so they
work headless and nothing stays registered once a function returns. SVG text is kept as text (searchable).

Experiments keep the order in which they first appear (or the caller's ``order``); the i-th experiment of that
order gets colour i of the "tab10" cycle, so colours agree across figures. A metric comes with its declaration
(suite.core.metrics.Metric), which says its unit and scale: fractions stored, percentages drawn.
"""

import numbers
import textwrap
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from scipy import stats

from suite.core.metrics import Metric
from suite.results.roc import roc_rates

# Applied around the creation and saving of every figure (not globally): text stays text in SVG, reproducible ids.
_STYLE = {"svg.fonttype": "none", "svg.hashsalt": "suite", "axes.spines.top": False, "axes.spines.right": False}
_DPI = 150
_WRAP = 28
_KINDS = ("true positive", "false positive", "true negative", "false negative")
# boxplot(vert=False) is deprecated from matplotlib 3.10 in favour of orientation="horizontal".
_HORIZONTAL = {"orientation": "horizontal"} if matplotlib.__version_info__ >= (3, 10) else {"vert": False}


# ----------------------------------------------------------------------------------------------- shared helpers


def _save(fig: Figure, stem: Path) -> Path:
    """Write stem.png and stem.svg (creating the folder) and return the PNG path."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.parent / f"{stem.name}.png"  # not with_suffix: a stem may contain dots
    svg = stem.parent / f"{stem.name}.svg"
    for path in (png, svg):
        if path.is_symlink():  # replaced, never written through (suite report --force: others' files may be there)
            path.unlink()
    fig.savefig(png, dpi=_DPI)
    fig.savefig(svg, metadata={"Date": None})
    fig.clear()
    return png


def _check(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    """Refuse missing columns and empty input with a ValueError naming the figure."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{name}: nothing to plot")


def _colours(experiments: pd.Series, order: list[str] | None) -> dict:
    """Experiments present in the data, in display order, mapped to their tab10 colour."""
    present = list(pd.unique(experiments))
    everything = list(dict.fromkeys([*(order or []), *present]))
    palette = matplotlib.colormaps["tab10"].colors
    return {name: palette[i % len(palette)] for i, name in enumerate(everything) if name in present}


def _wrap(label: object) -> str:
    return textwrap.fill(str(label), _WRAP)


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


def _bars(ax: Axes, means: np.ndarray, lows: np.ndarray, highs: np.ndarray, colours: list, texts: list[str]) -> None:
    """Horizontal bars with asymmetric error bars where both ends are finite, and a value beside each bar."""
    rows = np.arange(len(means))
    ax.barh(rows, means, height=0.6, color=colours, alpha=0.85)
    finite = np.isfinite(lows) & np.isfinite(highs)
    # Clipped at 0: the mean of equal values can exceed their max by one rounding step (mean of 3 × 0.1).
    spans = np.clip([means[finite] - lows[finite], highs[finite] - means[finite]], 0, None)
    ax.errorbar(means[finite], rows[finite], xerr=spans, fmt="none", ecolor="black", capsize=4, linewidth=1.2)
    ends = np.where(finite, np.fmax(means, highs), means)
    for row, end, text in zip(rows, ends, texts, strict=True):
        ax.annotate(text, (end, row), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)


# ----------------------------------------------------------------------------------------------------- figures


@matplotlib.rc_context(_STYLE)
def learning_curves(curves: pd.DataFrame, stem: Path, order: list[str] | None = None,
                    quantities: tuple[Metric, ...] = (Metric("loss"),)) -> Path:
    """Each quantity (a metric without its split prefix, e.g. loss and the task's accuracy) per epoch: mean over
    rounds, band ± one sample std; training solid, validation dashed, one panel per quantity.

    Rounds stopped early simply drop out: each epoch averages the rounds that reached it.
    """
    _check(curves, ("experiment", "round", "epoch"), "learning_curves")
    panels = [q for q in quantities if any(f"{split}_{q.name}" in curves for split in ("train", "val"))]
    if not panels:
        raise ValueError(f"learning_curves: no train_/val_ columns of {', '.join(q.name for q in quantities)}: "
                         "nothing to plot")
    colours = _colours(curves["experiment"], order)
    fig = Figure(figsize=(5.5 * len(panels), 4.6 + 0.35 * ((len(colours) + 1) // 3)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    drawn = set()
    for ax, quantity in zip(axes, panels, strict=True):
        for name, colour in colours.items():
            rows = curves[curves["experiment"] == name]
            for split, style in (("train", "-"), ("val", "--")):
                column = f"{split}_{quantity.name}"
                if column not in rows:
                    continue
                stats = rows.groupby("epoch")[column].agg(["mean", "std"]).dropna(subset=["mean"]) * quantity.scale
                if stats.empty:
                    continue
                drawn.add(split)
                ax.plot(stats.index, stats["mean"], style, color=colour, linewidth=1.6)
                ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                                color=colour, alpha=0.15, linewidth=0)
        ax.set(title=quantity.words, xlabel="epoch", ylabel=quantity.label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colour, linewidth=3, label=_wrap(name)) for name, colour in colours.items()]
    handles += [Line2D([], [], color="black", linestyle=style, label=label)
                for split, style, label in (("train", "-", "training"), ("val", "--", "validation")) if split in drawn]
    _legend_below(fig, handles)
    fig.suptitle("Learning curves (mean ± std over rounds)")
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def round_values(values: pd.DataFrame, metric: Metric, stem: Path, order: list[str] | None = None) -> Path:
    """Distribution of one metric over rounds: a box per experiment with every round drawn as a dot."""
    _check(values, ("experiment", "value"), "round_values")
    values = values.dropna(subset=["value"])
    _check(values, (), "round_values")
    colours = _colours(values["experiment"], order)
    groups = [values.loc[values["experiment"] == name, "value"].to_numpy(dtype=float) * metric.scale
              for name in colours]
    fig, ax = _rows_figure([f"{_wrap(name)}\n(n = {len(g)})" for name, g in zip(colours, groups, strict=True)])
    boxes = ax.boxplot(groups, positions=range(len(groups)), widths=0.5, showfliers=False, patch_artist=True,
                       manage_ticks=False, medianprops={"color": "black"}, **_HORIZONTAL)
    for row, (box, group, colour) in enumerate(zip(boxes["boxes"], groups, colours.values(), strict=True)):
        box.set(facecolor=colour, alpha=0.3)
        ax.scatter(group, row + _jitter(len(group), row), s=18, color=colour, edgecolor="black", linewidth=0.4,
                   zorder=3)
    ax.set_xlabel(metric.label)
    ax.set_title(f"{metric.words} per round")
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def mean_ci_bars(summary: pd.DataFrame, metric: Metric, stem: Path, order: list[str] | None = None,
                 confidence: float = 0.95) -> Path:
    """Mean of a metric per experiment with its confidence interval (computed by the caller; NaN → no error bar).

    For accuracies the axis starts near the data rather than at 0 when 0 would squash the differences; a note
    on the figure says so.
    """
    _check(summary, ("experiment", "mean", "low", "high"), "mean_ci_bars")
    summary = summary.dropna(subset=["mean"])
    _check(summary, (), "mean_ci_bars")
    if summary["experiment"].duplicated().any():
        raise ValueError("mean_ci_bars: one row per experiment expected")
    colours = _colours(summary["experiment"], order)
    table = summary.set_index("experiment").loc[list(colours), ["mean", "low", "high"]] * metric.scale
    means, lows, highs = (table[c].to_numpy(dtype=float) for c in ("mean", "low", "high"))
    digits = ".1f" if metric.unit == "%" else ".3g"
    texts = [f"{m:{digits}}" + ("" if np.isfinite(lo) and np.isfinite(hi) else " (no CI)")
             for m, lo, hi in zip(means, lows, highs, strict=True)]
    fig, ax = _rows_figure([_wrap(name) for name in colours])
    _bars(ax, means, lows, highs, list(colours.values()), texts)
    low, high = np.nanmin(np.r_[means, lows]), np.nanmax(np.r_[means, highs])
    left = min(0.0, low)
    if metric.unit == "%" and high > low > 0:  # differences to show: trim the axis if 0 squashes them
        trimmed = max(0.0, low - max(high - low, 1.0))  # at least one percentage point of margin
        left = trimmed if trimmed > 0.3 * high else 0.0
    ax.set_xlim(left, high + 0.18 * (high - left or 1.0))
    ax.set_xlabel(metric.label + (" — axis does not start at 0" if left > 0 else ""))
    ax.set_title(f"mean {metric.words} with {confidence * 100:g} % confidence intervals")
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
    """ROC per experiment: mean TPR over rounds on a common FPR grid, band ± one std, AUC mean ± std in the legend."""
    _check(scores, ("experiment", "round", "score", "target"), "roc_curves")
    colours = _colours(scores["experiment"], order)
    grid = np.linspace(0, 1, 201)
    fig = Figure(figsize=(6.5, 6.5 + 0.3 * len(colours)), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="chance")
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
    fig.legend(loc="outside lower center", ncols=1, frameon=False)
    fig.suptitle("ROC curves (mean over rounds)")
    return _save(fig, stem)


@matplotlib.rc_context(_STYLE)
def epoch_seconds(values: pd.DataFrame, stem: Path, order: list[str] | None = None) -> Path:
    """Mean seconds per epoch per experiment, the min–max range over rounds as error bars, one dot per round."""
    _check(values, ("experiment", "seconds_per_epoch"), "epoch_seconds")
    values = values.dropna(subset=["seconds_per_epoch"])
    _check(values, (), "epoch_seconds")
    colours = _colours(values["experiment"], order)
    groups = [values.loc[values["experiment"] == name, "seconds_per_epoch"].to_numpy(dtype=float) for name in colours]
    fig, ax = _rows_figure([f"{_wrap(name)}\n(n = {len(g)})" for name, g in zip(colours, groups, strict=True)])
    stats = np.array([(g.mean(), g.min(), g.max()) for g in groups]).T
    _bars(ax, *stats, list(colours.values()), [f"{m:.3g} s" for m in stats[0]])
    for row, group in enumerate(groups):
        ax.scatter(group, row + _jitter(len(group), row), s=14, color="white", edgecolor="black", linewidth=0.6,
                   zorder=3)
    ax.set_xlim(0, stats[2].max() * 1.2)
    ax.set_xlabel("seconds per epoch (s)")
    ax.set_title("Runtime per epoch")
    _legend_below(fig, [Patch(color="0.6", label="mean over rounds"),
                        Line2D([], [], color="black", marker="|", markersize=8, label="min–max over rounds"),
                        Line2D([], [], color="white", marker="o", markeredgecolor="black", label="one round")])
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


@matplotlib.rc_context(_STYLE)
def gallery(items: list[dict], stem: Path, *, title: str, columns: int = 4) -> Path:
    """Example pairs in rows by kind (true/false positives, true/false negatives), each with its score and target."""
    unknown = {item["kind"] for item in items} - set(_KINDS)
    if unknown:
        raise ValueError(f"gallery: unknown kind(s) {', '.join(sorted(unknown))}; expected one of {', '.join(_KINDS)}")
    rows = [(kind, [i for i in items if i["kind"] == kind][:columns]) for kind in _KINDS]
    rows = [(kind, chosen) for kind, chosen in rows if chosen]
    if not rows:
        raise ValueError("gallery: nothing to plot")
    cell = (2.5, 1.75)  # inches per pair: readable for 14×14 digits and 105×105 faces alike
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
            caption = f"score {item['score']:.3f}, target {int(item['target'])}"
            ax.set_title(caption + (f"\n{item['caption']}" if item.get("caption") else ""), fontsize=8)
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
