"""`suite report`: a folder with report.md (GitHub-flavoured Markdown, figures beside it) and report.html (one
self-contained file, figures embedded), built from the results store.

The report is a list of blocks (heading, paragraph, verdict list, table, figure, code) rendered twice, so the two
files say the same. It opens with its summary: one sentence per experiment of the comparison table, with the
numbers of that table (as `suite compare` prints them) and a verdict in words. Captions are written from what each
figure drew (its legend entries, which they name in “quotes”, and its panels). Figures that need the data set
itself (galleries of example pairs, data-set histograms, label balance) are drawn when the data directory is found;
otherwise the report says they were skipped and why.
"""

import base64
import dataclasses
import datetime as dt
import html
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from suite.core import registry
from suite.core.config import build_config
from suite.core.errors import SuiteError
from suite.core.grid import describe_axes
from suite.core.metrics import Metric, base_name, declaration
from suite.core.seeding import RoundSeeds
from suite.report import plots
from suite.report.formatting import (
    against_display,
    comparison_display,
    markdown_table,
    summary_parts,
    summary_verdict,
    sweep_display,
    unmatched_lines,
    verdict_line,
)
from suite.results.against import ALPHA, AgainstBaseline, minimum_detectable_effect
from suite.results.compare import Sample, comparison_table, shared_keys, values_at
from suite.results.selection import MISSING, differing_config, labels, samples
from suite.results.stats import metric_values, values_by_experiment
from suite.results.store import Store
from suite.results.sweeps import best_note, sweep_table, sweep_values

GALLERY_PER_KIND = 4
# Per-experiment figures (and galleries) draw at most this many experiments: the colour cycle's ten stay distinct,
# and a figure of thousands of bars or curves says nothing. The tables always list every experiment.
FIGURE_EXPERIMENTS = 10
# The list of the files a report wrote into its folder (ReportFolder): what a rerun may replace or remove.
MANIFEST = ".suite-report.json"


@dataclasses.dataclass
class Block:
    kind: str  # "h1", "h2", "p", "verdicts", "table", "figure", "code"
    content: Any  # text, (experiment, verdict, numbers) sentences, a DataFrame of strings, or a figure's PNG path
    caption: str = ""


def build(store: Store, experiments: list[dict[str, Any]], reference: int, metric: Metric, title: str,
          out: Path, data_dir: Path | None, data_problem: str = "", sweep: dict[str, Any] | None = None,
          against: AgainstBaseline | None = None, log: Callable[[str], None] = lambda text: None) -> list[Block]:
    """Every block of the report; figures are written under out/figures/. With a sweep, its ranked table and
    figures come first. Against a baseline store, the report opens with one verdict line per matched experiment
    and its verdict table comes before the comparison. The tables list every experiment; the per-experiment
    figures at most FIGURE_EXPERIMENTS of them (figure_experiments), with a note saying so. `log` is told each
    step as it starts (progress)."""
    figures = out / "figures"
    task = registry.tasks().get(experiments[0]["task"])
    names = labels(experiments)
    log(f"reading the rounds of {len(experiments)} experiments")
    chosen = samples(store, experiments, metric)
    log(f"comparing {len(experiments)} experiments")
    table = comparison_table(chosen, reference, metric)
    drawn = figure_experiments(experiments, table, reference, metric)
    drawn_ids = {e["id"] for e in drawn}
    order = [_name(e["id"], names) for e in drawn]
    context = Block("p", f"Task {experiments[0]['task']}, {len(experiments)} experiments from {store.path}; metric "
                         f"{metric.name}{metric.unit_suffix}; reference: experiment {reference}. Generated "
                         f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `suite report`.")
    summary = summary_blocks(table, chosen, metric, names, order, figures)
    # --against's verdicts open the page when asked for (a CI gate's question), this store's summary otherwise
    opening = [*verdict_blocks(against), context, *summary] if against else [*summary, context]
    blocks = [Block("h1", title), *opening,
              *(sweep_blocks(store, sweep, metric, figures) if sweep else []),
              *([Block("h2", "Against the baseline"), Block("table", against_display(against.table))]
                if against else []),
              Block("h2", "Comparison"),
              Block("table", comparison_display(table, metric, commands=True)),
              Block("p", "Δ = experiment − reference, with its 95 % confidence interval. Tests are paired (paired t / "
                         "Wilcoxon signed-rank) on the rounds both experiments ran (same seed and round index), "
                         "unpaired (Welch's t / Mann–Whitney U) when they share fewer than two; p-values are "
                         "Holm-adjusted across the table. Hedges' g is the difference over the pooled std, d_z over "
                         "the std of the paired differences; P(better) the probability that a round of the "
                         "experiment beats one of the reference; command: the `suite run` command that reproduces "
                         "the row. docs/statistics.md says what each guarantees."),
              Block("h2", "Configurations"),
              Block("table", _configs(experiments)),
              *_setting_blocks(experiments)]
    log(f"drawing the figures of {len(drawn)} experiments" + (f" (of {len(experiments)})" if len(drawn) < len(
        experiments) else ""))
    blocks += [Block("h2", "Figures"), *_bound_note(experiments, drawn, reference, metric),
               *_result_figures(store, drawn, [s for s in chosen if s.experiment_id in drawn_ids],
                                table[table["experiment"].isin(drawn_ids)], metric, names, order, figures)]
    log("drawing the data figures" + (" and galleries" if _draws_data(task, data_dir) else ""))
    blocks += [Block("h2", "Data"), *_data_figures(task, drawn, store, names, data_dir, data_problem, figures)]
    log(f"summarising the environment and timings of {len(experiments)} experiments")
    blocks += [Block("h2", "Environment and timings"), Block("table", _environment(store, experiments))]
    return blocks


# the summary ----------------------------------------------------------------------------------------------------

def summary_rows(table: pd.DataFrame, chosen: list[Sample], alpha: float = ALPHA) -> list[dict[str, Any]]:
    """The comparison table's rows (reference first), each compared row with what the summary adds: whether every
    shared round is equal (`identical`), the per-round paired differences (`differences`, none for unpaired rows)
    and the smallest difference those rounds could detect (`mde`, as `suite compare --against` computes it)."""
    by_id = {s.experiment_id: s for s in chosen}
    rows = table.to_dict("records")
    for row in rows[1:]:
        differences = (_paired_differences(by_id[int(row["versus"])], by_id[int(row["experiment"])])
                       if row["paired"] else np.array([]))
        spread = float(np.std(differences, ddof=1)) if len(differences) > 1 else math.nan
        row |= {"differences": differences, "identical": bool(len(differences)) and not np.any(differences),
                "mde": minimum_detectable_effect(spread, len(differences), alpha)}
    return rows


def _paired_differences(reference: Sample, other: Sample) -> np.ndarray:
    """other − reference on the rounds both ran (same seed and round index), as `compare` pairs them."""
    keys = shared_keys(reference, other)
    return values_at(other, keys) - values_at(reference, keys)


def summary_blocks(table: pd.DataFrame, chosen: list[Sample], metric: Metric, names: dict[int, str],
                   order: list[str], figures: Path, alpha: float = ALPHA) -> list[Block]:
    """The report's opening: what the verdicts rest on, one sentence per experiment of the comparison table (the
    reference first), and the differences from the reference drawn as dots with their intervals."""
    rows = summary_rows(table, chosen, alpha)
    compared = len(rows) - 1
    direction = ("higher is better" if metric.higher_is_better else "lower is better") if metric.ranked else \
        "it declares no better direction, so differences are only higher or lower"
    intro = (f"Each experiment against the reference, #{rows[0]['experiment']}: the difference in {metric.words} "
             "(experiment − reference) with its 95 % interval, and the t-test's p-value (paired t on the rounds both "
             f"ran, Welch's t where they share fewer than two) Holm-adjusted across the {compared} comparison"
             f"{'s' if compared != 1 else ''}: the first of the two “p (Holm)” values of the comparison table below "
             f"and of `suite compare`. Better or worse: that p below {alpha:g}, in the direction the metric declares "
             f"({direction}); otherwise no detectable difference, with the smallest difference the paired rounds "
             "could detect.")
    blocks = [Block("h2", "Summary"), Block("p", intro),
              Block("verdicts", [summary_parts(row, metric, alpha, first=index == 0)
                                 for index, row in enumerate(rows)])]
    drawable = [r for r in rows[1:] if r["n"] and _name(r["experiment"], names) in order
                and r["difference"] == r["difference"]]
    if drawable:
        blocks.append(_differences_figure(drawable, metric, names, order, _name(rows[0]["experiment"], names),
                                          figures, alpha))
    return blocks


def _differences_figure(rows: list[dict[str, Any]], metric: Metric, names: dict[int, str], order: list[str],
                        reference: str, figures: Path, alpha: float) -> Block:
    summary = pd.DataFrame({"experiment": [_name(r["experiment"], names) for r in rows],
                            "difference": [r["difference"] for r in rows], "low": [r["diff_low"] for r in rows],
                            "high": [r["diff_high"] for r in rows],
                            "verdict": [summary_verdict(r, metric, alpha) for r in rows]})
    rounds = pd.DataFrame([{"experiment": _name(r["experiment"], names), "value": v}
                           for r in rows for v in r["differences"]], columns=["experiment", "value"])
    png = plots.difference_dots(summary, rounds, metric, figures / "differences", reference, order)
    legend = plots.drawn(png).legend
    dots = (f"; faint dots: “{plots.PAIRED_ROUND}” (the same seed and round index in both)"
            if plots.PAIRED_ROUND in legend else "")
    return Block("figure", png, f"The summary's differences from the reference ({reference}): "
                                f"“{plots.DIFFERENCE}” with its “{plots.interval_label(0.95)}” (paired t; Welch's t "
                                f"for unpaired rows){dots}. Beside each row its numbers and verdict, as in the "
                                "sentences above.")


def figure_experiments(experiments: list[dict[str, Any]], table: pd.DataFrame, reference: int, metric: Metric,
                       limit: int = FIGURE_EXPERIMENTS) -> list[dict[str, Any]]:
    """The experiments the per-experiment figures draw, in the report's order: all of them up to `limit`; beyond,
    the reference and the `limit` − 1 others of the best mean (by the metric's direction; the first ones for a
    metric that has none; those without a finished round last)."""
    if len(experiments) <= limit:
        return experiments
    means = {int(i): float(m) for i, m in zip(table["experiment"], table["mean"], strict=True)}
    others = [e["id"] for e in experiments if e["id"] != reference]
    if metric.ranked:
        sign = -1.0 if metric.higher_is_better else 1.0

        def rank(experiment_id: int) -> tuple[bool, float]:
            mean = means.get(experiment_id, math.nan)
            return math.isnan(mean), 0.0 if math.isnan(mean) else sign * mean

        others.sort(key=rank)
    kept = {reference, *others[:limit - 1]}
    return [e for e in experiments if e["id"] in kept]


def _bound_note(experiments: list[dict[str, Any]], drawn: list[dict[str, Any]], reference: int,
                metric: Metric) -> list[Block]:
    if len(drawn) == len(experiments):
        return []
    how = (f"the {len(drawn) - 1} others with the {'highest' if metric.higher_is_better else 'lowest'} mean "
           f"{metric.words}" if metric.ranked else f"the first {len(drawn) - 1} others")
    return [Block("p", f"The figures below draw {len(drawn)} of the {len(experiments)} experiments: the reference "
                       f"(experiment {reference}) and {how}; the tables list all {len(experiments)}. For figures "
                       "of others, choose them: experiment ids (`suite report ID …`) or `--where FIELD=VALUE`.")]


def verdict_blocks(against: AgainstBaseline) -> list[Block]:
    """One line per matched experiment (candidate − baseline, its interval, the Holm-adjusted paired p, the
    verdict), then the experiments of either store without a counterpart."""
    tested = int(against.table["tested"].sum())
    intro = (f"Against the baseline store {against.baseline_path}: {len(against.table)} experiments matched by task "
             f"and configuration ({tested} with 2 or more shared rounds), each compared with its baseline on the "
             "rounds both ran (same seed and round index): candidate − baseline with its 95 % paired t interval and "
             f"the paired t p-value Holm-adjusted across them, significant below {against.alpha:g}.")
    alpha = against.alpha
    return ([Block("p", intro)] + [Block("p", verdict_line(row, alpha)) for row in against.table.to_dict("records")]
            + [Block("p", line[0].upper() + line[1:]) for line in unmatched_lines(against)])


def sweep_blocks(store: Store, record: dict[str, Any], metric: Metric, figures: Path) -> list[Block]:
    """A sweep's cells ranked by the metric, a heatmap over its first two axes (averaged over the others) and the
    metric against each swept hyper-parameter."""
    spec = record["spec"]
    axes = [name for name, values in spec["axes"].items() if len(values) > 1]
    values = sweep_values(store, record, metric)
    ranked = sweep_table(record, values, metric)
    blocks = [Block("h2", f"Sweep {record['id']}"),
              Block("p", f"{len(record['cells'])} cells × {spec['rounds']} rounds (seed {spec['seed']})"
                         + (f", preset {spec['preset']}" if spec.get("preset") else "") + "; swept: "
                         + describe_axes(spec["axes"])
                         + "; fixed: " + (", ".join(f"{k}={v}" for k, v in spec["fixed"].items()) or "defaults")
                         + ". Cells best first. " + best_note(ranked)),
              Block("table", sweep_display(ranked, metric))]
    if len(axes) >= 2:
        blocks.append(Block("figure", plots.sweep_heatmap(values, axes[0], axes[1], metric, figures / "sweep_heatmap",
                                                          axes[2:]),
                            f"Mean {metric.words} over rounds for each {axes[0]} and {axes[1]}."))
    if axes:
        blocks.append(Block("figure", plots.sweep_marginals(values, axes, metric, figures / "sweep_marginals"),
                            "The metric against each swept hyper-parameter: rounds as dots, mean with 95 % t "
                            "interval, over all other settings."))
    return blocks


def _name(experiment_id: int, names: dict[int, str]) -> str:
    return f"#{experiment_id} {names[experiment_id]}"


def _configs(experiments: list[dict[str, Any]]) -> pd.DataFrame:
    differing = differing_config(experiments)
    if not len(differing.columns):
        differing = pd.DataFrame(index=differing.index)
    common = {k: v for k, v in experiments[0]["config"].items() if k not in differing.columns}
    frame = differing.where(differing.notna(), MISSING).astype(str).reset_index()
    frame["experiment"] = frame["experiment"].astype(str)
    frame["shared by all"] = ""
    frame.loc[0, "shared by all"] = ", ".join(f"{k}={v}" for k, v in common.items())
    return frame


def _setting_blocks(experiments: list[dict[str, Any]]) -> list[Block]:
    settings = {tuple(e["setting"].items()) for e in experiments if e.get("setting")}
    return [Block("p", "Evaluation setting: " + "; ".join(f"{k}: {v}" for k, v in dict(s).items()))
            for s in sorted(settings)]


def _result_figures(store: Store, experiments, chosen: list[Sample], table: pd.DataFrame, metric: Metric,
                    names: dict[int, str], order: list[str], figures: Path) -> list[Block]:
    words = metric.words
    values = pd.DataFrame([{"experiment": _name(s.experiment_id, names), "value": v}
                           for s in chosen for v in s.array], columns=["experiment", "value"])
    summary = pd.DataFrame({"experiment": [_name(int(i), names) for i in table["experiment"]],
                            "mean": table["mean"], "low": table["t_low"], "high": table["t_high"]})
    png = plots.mean_ci_dots(summary, values, metric, figures / "mean_ci", order)
    blocks = [Block("figure", png, f"{words.capitalize()} per experiment: the “{plots.MEAN}” with its "
                                   f"“{plots.interval_label(0.95, 't')}” of the mean, each faint dot "
                                   f"“{plots.ROUND}”; beside each row the mean and interval of the comparison table. "
                                   "The axis spans the values, not 0: positions compare, lengths do not.")]
    # one query each for the rounds, curves and scores of every drawn experiment, not one per round
    rounds = store.rounds_of([e["id"] for e in experiments])
    experiment_of = dict(zip(rounds["id"], rounds["experiment_id"].map(
        {e["id"]: _name(e["id"], names) for e in experiments}), strict=True))
    curves = store.curves_of(rounds["id"].tolist())
    curves = curves.assign(experiment=curves["round_id"].map(experiment_of), round=curves["round_id"],
                           epoch=curves["epoch"] + 1).drop(columns=["round_id"])
    scores = store.scores_of(rounds["id"].tolist(), "test").dropna()
    scores = scores.assign(experiment=scores["round_id"].map(experiment_of), round=scores["round_id"])
    timing = []
    for e in experiments:
        per_epoch = metric_values(rounds[rounds["experiment_id"] == e["id"]],
                                  declaration(None, "seconds_per_epoch"))  # one per measurement
        timing += [{"experiment": _name(e["id"], names), "seconds_per_epoch": v} for v in per_epoch]
    task = registry.tasks().get(experiments[0]["task"])
    quantities = tuple(dict.fromkeys([declaration(task, "loss"), declaration(task, base_name(metric.name))]))
    objectives = _objectives(task, experiments, names)
    png = plots.learning_curves(curves, figures / "learning_curves", order, quantities, objectives)
    blocks.append(Block("figure", png, learning_caption(plots.drawn(png), quantities, objectives, len(order))))
    if len(scores):
        if scores.groupby("round")["target"].nunique().min() == 2:
            blocks.append(Block("figure", plots.roc_curves(scores, figures / "roc", order),
                                f"ROC curves on the test pairs, mean true positive rate over rounds with a ± 1 std "
                                f"band; the legend gives each experiment's AUC, mean ± std over rounds; "
                                f"“{plots.CHANCE}” is the diagonal."))
    blocks.append(Block("figure", plots.epoch_seconds(pd.DataFrame(timing), figures / "runtime", order),
                        f"Training time per epoch: the “{plots.MEAN}”, its “{plots.RANGE}” and each faint dot "
                        f"“{plots.ROUND}” (a training run's mean: a round, or a group of stacked rounds measured "
                        "together), as measured on the device it ran on."))
    return blocks


def _objectives(task: registry.Task | None, experiments, names: dict[int, str]) -> dict[str, str] | None:
    """Each drawn experiment's training objective (Task.objective), by figure name; None where the task declares
    none."""
    if task is None:
        return None
    try:
        found = {_name(e["id"], names): task.objective(build_config(task.config_cls, e["config"]))
                 for e in experiments}
    except SuiteError:  # a stored config this version of the task refuses: its objective is not known
        return None
    return None if any(v is None for v in found.values()) else found


def learning_caption(drawn: plots.Drawn, quantities: tuple[Metric, ...], objectives: dict[str, str] | None,
                     experiments: int) -> str:
    """The learning curves' caption, from what the figure drew: the lines of the splits in its legend, and the
    loss panels split by objective where it drew several."""
    shown = [q.words for q in quantities if any(p == q.words or p.startswith(f"{q.words}:")
                                                 for p in (t.replace("\n", " ") for t in drawn.panels))]
    lines = [f"“{label}” {style}" for label, style in (("training", "solid"), ("validation", "dashed"))
             if label in drawn.legend]
    text = (f"{' and '.join(shown).capitalize()} per epoch, mean over rounds with a ± 1 std band; lines: "
            f"{', '.join(lines)}." + ("" if "validation" in drawn.legend else " No validation curves: the rounds "
                                      "stored none (no validation split)."))
    split = [p.replace("\n", " ") for p in drawn.panels if p.startswith(f"{plots.OBJECTIVE}:")]
    if split:
        return text + (f" The {plots.OBJECTIVE} is drawn in one panel per training objective, as the task declares "
                       f"them ({len(split)}): losses of different objectives are not on one scale.")
    if objectives is not None and experiments > 1 and len(set(objectives.values())) == 1:
        return text + f" Every experiment trains one objective: {next(iter(objectives.values()))}."
    if experiments > 1 and plots.OBJECTIVE in drawn.panels:
        return text + (f" The {plots.OBJECTIVE} curves share one axis, but the task does not declare whether its "
                       "configurations train the same objective (an auxiliary loss, for one, changes what the loss "
                       "measures): compare their levels only where they do.")
    return text


def _draws_data(task: registry.Task | None, data_dir: Path | None) -> bool:
    """Whether the data figures and galleries can be drawn: the task is installed and its data is at hand (a task
    that draws its data, reads_data False, needs no data directory)."""
    return task is not None and (data_dir is not None or not task.reads_data)


def _data_figures(task: registry.Task | None, experiments, store: Store, names: dict[int, str],
                  data_dir: Path | None, data_problem: str, figures: Path) -> list[Block]:
    if task is None:
        return [Block("p", f"Task {experiments[0]['task']} is not installed here: no data figures.")]
    if not _draws_data(task, data_dir):
        return [Block("p", f"Data figures and galleries skipped: {data_problem}.")]
    data_dir = data_dir or Path("data")  # never read by a task that draws its data: what a run passes it too
    first = experiments[0]
    config = build_config(task.config_cls, first["config"])
    blocks = [Block("figure", plots.histogram(counts, figures / f"distribution_{i}", title=title, xlabel=xlabel),
                    title) for i, (title, xlabel, counts) in enumerate(task.data_distributions(config, data_dir))]
    loaded: dict[tuple, Any] = {}  # prepared data by the config values it depends on: loaded once, not per figure

    def prepare(config: Any) -> Any:
        key = task.data_key(config)
        if key not in loaded:
            loaded[key] = task.prepare(config, data_dir, False)
        return loaded[key]

    prepared = prepare(config)
    first_round = store.rounds(first["id"]).iloc[0]
    splits = task.round_data(prepared, config, RoundSeeds(int(first_round["seed"]), int(first_round["round_index"]))
                             .generator("data"), int(first_round["round_index"]))
    counts = pd.DataFrame([{"split": split, "label": task.target_names[int(label)], "count": int(count)}
                           for split, data in splits.items() if "target" in data
                           for label, count in zip(*np.unique(data["target"].numpy(), return_counts=True),
                                                   strict=True)])
    if len(counts):
        blocks.append(Block("figure", plots.label_balance(counts, figures / "label_balance"),
                            f"Labels per split in round {int(first_round['round_index'])} of experiment "
                            f"{first['id']}."))
    for e in experiments:
        blocks += _gallery(task, e, store, names, prepare, figures)
    return blocks


def _gallery(task: registry.Task, experiment: dict[str, Any], store: Store, names: dict[int, str], prepare,
             figures: Path) -> list[Block]:
    """The most confident right and wrong test pairs of the experiment's first round, its data regenerated from
    the round's seeds exactly as the runner drew it."""
    row = store.rounds(experiment["id"]).iloc[0]
    scores = store.scores(int(row["id"]), "test").dropna()
    if scores.empty:
        return []
    config = build_config(task.config_cls, experiment["config"])
    seeds = RoundSeeds(int(row["seed"]), int(row["round_index"]))
    test = task.round_data(prepare(config), config, seeds.generator("data"),
                           seeds.round_index)["test"]
    if len(test["x"]) != len(scores):
        return [Block("p", f"Gallery of experiment {experiment['id']} skipped: its round has {len(scores)} test "
                           f"scores but the data now gives {len(test['x'])} test examples (the data changed).")]
    if not displayable_pair(test["x"][0]):
        shape = "×".join(map(str, test["x"].shape[1:])) or "one number"
        return [Block("p", f"Gallery of experiment {experiment['id']} skipped: its test inputs are not pairs of "
                           f"images (each input is {shape}; a gallery shows 2×H×W or 2×C×H×W, with 1 or 3 "
                           f"channels).")]
    items, noted = [], False
    for kind, index in confident_examples(scores, GALLERY_PER_KIND).items():
        for i in index:
            left, right = _pair_images(test["x"][i])
            note = task.example_note(config, test, int(i))
            noted = noted or bool(note)
            items.append({"kind": kind, "left": left, "right": right, "score": float(scores.loc[i, "score"]),
                          "target": int(scores.loc[i, "target"]),
                          "caption": f"test pair {i}" + (f": {note}" if note else "")})
    title = f"#{experiment['id']} {names[experiment['id']]}: most confident test pairs (round {seeds.round_index})"
    stem = figures / f"gallery_{experiment['id']}"
    return [Block("figure", plots.gallery(items, stem, title=title, target_names=task.target_names),
                  f"Experiment {experiment['id']}: the {GALLERY_PER_KIND} most confident true and false positives "
                  f"and negatives (positive: {task.target_names[1]}; score above 0.5 predicts positive). Under each "
                  "pair: the prediction with its score, the actual class and the pair's index in the test split"
                  + (", with what the task says of it." if noted else "."))]


def confident_examples(scores: pd.DataFrame, k: int) -> dict[str, list[int]]:
    """Indices of the k most confident pairs of each kind: positives by highest score, negatives by lowest."""
    predicted = scores["score"] > 0.5
    actual = scores["target"] > 0.5
    by_score = scores.sort_values("score", ascending=False, kind="stable")
    kinds = {"true positive": predicted & actual, "false positive": predicted & ~actual,
             "true negative": ~predicted & ~actual, "false negative": ~predicted & actual}
    out = {}
    for kind, mask in kinds.items():
        chosen = by_score[mask.loc[by_score.index]]
        out[kind] = list(chosen.index[:k] if kind.endswith("positive") else chosen.index[::-1][:k])
    return out


def displayable_pair(x: torch.Tensor) -> bool:
    """Whether a pair's stored input is two images a gallery can show: 2×H×W, or 2×C×H×W with 1 or 3 channels
    (not vectors, sequences or other channel counts)."""
    return x.dim() in (3, 4) and x.shape[0] == 2 and (x.dim() == 3 or x.shape[1] in (1, 3))


def _pair_images(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A pair's stored input (displayable_pair) as two displayable images."""
    x = x.detach().cpu()
    if x.dim() == 3:
        return x[0].numpy(), x[1].numpy()
    images = [image.permute(1, 2, 0).numpy() for image in x]
    return tuple(image[..., 0] if image.shape[-1] == 1 else image for image in images)


def _environment(store: Store, experiments: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    seconds, per_epoch, memory = (declaration(None, name) for name in
                                  ("round_seconds", "seconds_per_epoch", "peak_memory_mb"))
    stored = store.rounds_of([e["id"] for e in experiments])  # one query and grouped sums, not one per experiment
    rounds = stored.groupby("experiment_id").size()
    runs = values_by_experiment(stored, seconds)  # one value per training run: a stacked group was measured once
    run_count, run_seconds = runs.size(), runs.sum()
    epoch_seconds = values_by_experiment(stored, per_epoch).mean()
    peak = values_by_experiment(stored, memory).max()
    epochs = stored.groupby("experiment_id")["epochs"].mean() if "epochs" in stored else pd.Series(dtype=float)
    devices = stored.groupby("experiment_id")["device"].agg(lambda d: ", ".join(sorted(set(d))))
    for e in experiments:
        i, n = e["id"], int(rounds.get(e["id"], 0))
        rows.append({"experiment": str(i), "rounds": str(n), "training runs": str(int(run_count.get(i, 0))),
                     "epochs (mean)": declaration(None, "epochs").show(epochs.get(i, math.nan)),
                     "s per epoch": seconds.show(epoch_seconds.get(i, math.nan)),
                     "s per round (total / rounds)": seconds.show(run_seconds.get(i, math.nan) / n if n
                                                                  else math.nan),
                     "peak memory (MB)": memory.show(peak.get(i, math.nan)),
                     "device": devices.get(i, ""), "code": e["code_version"],
                     "torch": e["torch_version"], "python": e["python_version"], "created": e["created"]})
    return pd.DataFrame(rows)


# rendering --------------------------------------------------------------------------------------------------

def _text(value: object) -> str:
    """Text as Markdown shows it: <, > and & escaped, since Markdown renderers pass raw HTML through and titles,
    store paths, labels and config values come from users (or from whoever wrote the store)."""
    return html.escape(str(value), quote=False)


def to_markdown(blocks: list[Block], out: Path) -> str:
    parts = []
    for block in blocks:
        if block.kind == "h1":
            parts.append(f"# {_text(block.content)}")
        elif block.kind == "h2":
            parts.append(f"## {_text(block.content)}")
        elif block.kind == "p":
            parts.append(_text(block.content))
        elif block.kind == "verdicts":
            parts.append("\n".join(f"- {_text(name)} — **{_text(verdict)}**: {_text(numbers)}"
                                   for name, verdict, numbers in block.content))
        elif block.kind == "table":
            parts.append(markdown_table(block.content, escape=_text))
        elif block.kind == "figure":
            path = Path(block.content).relative_to(out).as_posix()
            caption = _text(block.caption)
            parts.append(f"![{caption}]({path})\n\n*{caption}* ([SVG]({path[:-4]}.svg))")
        elif block.kind == "code":
            parts.append(f"```\n{block.content}\n```")
    return "\n\n".join(parts) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:0.85em;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:0.3em 0.5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
figure{margin:1.5em 0}img{max-width:100%;height:auto}figcaption{font-style:italic;color:#555}
code{background:#f3f3f3;padding:0 0.2em}ul.verdicts{padding-left:1.2em}ul.verdicts li{margin:0.35em 0}"""


def to_html(blocks: list[Block], title: str) -> str:
    """One file: figures embedded as PNG data URIs, nothing fetched from anywhere."""
    body = []
    for block in blocks:
        if block.kind in ("h1", "h2"):
            body.append(f"<{block.kind}>{html.escape(block.content)}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{_inline_code(html.escape(block.content))}</p>")
        elif block.kind == "verdicts":
            items = "".join(f"<li>{html.escape(name)} — <strong>{html.escape(verdict)}</strong>: "
                            f"{_inline_code(html.escape(numbers))}</li>" for name, verdict, numbers in block.content)
            body.append(f'<ul class="verdicts">{items}</ul>')
        elif block.kind == "table":
            body.append(_html_table(block.content))
        elif block.kind == "figure":
            png = Path(block.content).read_bytes()
            data = base64.b64encode(png).decode()
            caption = html.escape(block.caption)
            width = _css_width(png)
            size = f' width="{width}"' if width else ""
            body.append(f'<figure><img src="data:image/png;base64,{data}"{size} alt="{caption}">'
                        f"<figcaption>{caption}</figcaption></figure>")
        elif block.kind == "code":
            body.append(f"<pre>{html.escape(block.content)}</pre>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _html_table(frame: pd.DataFrame) -> str:
    """A table of strings, each cell and header escaped; a cell that is all `code` (a command) shown as code."""
    shown = frame.map(_html_cell)
    shown.columns = [html.escape(str(c)) for c in frame.columns]
    return shown.to_html(index=False, escape=False, border=0)


def _html_cell(value: object) -> str:
    text = str(value)
    if len(text) > 2 and text[0] == text[-1] == "`" and "`" not in text[1:-1]:
        return f"<code>{html.escape(text[1:-1])}</code>"
    return html.escape(text)


def _css_width(png: bytes) -> int | None:
    """The width in CSS pixels at which a figure shows at the size it was drawn (its pixels at plots' dpi, 96
    CSS pixels an inch), so that its text reads at the point size it was set in; None for what is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return None
    return round(int.from_bytes(png[16:20], "big") * 96 / plots.DPI)


def _inline_code(text: str) -> str:
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


# the folder ---------------------------------------------------------------------------------------------------

# The names a report writes, and so all that its manifest may list: a manifest written by anyone else cannot make
# a rerun accept, replace or remove any other file.
_OWN = re.compile(r"report\.(md|html)|figures/[^/]+\.(png|svg)")
_FIGURE_LINK = re.compile(r"\]\((figures/[^)\s]+\.(?:png|svg))\)")
_SIGNATURE = "by `suite report`."  # in every report.md: one written before manifests is recognised by it


class ReportFolder:
    """The --out folder of a report, checked before anything is written. Never / or the home directory. An existing
    folder only when all it holds is this command's: the files the previous report listed in its manifest
    (MANIFEST; a report written before manifests: report.md and the figures it links), the manifest, and the stores
    the command reads (`keep`: --store and --against, with their SQLite side files); otherwise refused unless
    `force`, and others' files are then left as they are. Used as a context manager around building the report:
    the manifest lists what it wrote (also when it failed half-way, so that a rerun accepts those files), and a
    finished report removes the previous one's files it did not write again (figures of experiments no longer
    drawn)."""

    def __init__(self, out: Path, force: bool = False, keep: Iterable[Path | None] = ()) -> None:
        self.out = out
        home = Path.home().resolve()
        for where in {out.resolve(), out.expanduser().resolve()}:
            if where == where.parent or where == home:
                raise SuiteError(f"--out {out}: refusing to write a report into {where} (the "
                                 f"{'root folder' if where == where.parent else 'home directory'}); give it a folder "
                                 "of its own, e.g. --out reports/NAME")
        if out.exists() and not out.is_dir():
            raise SuiteError(f"--out {out}: exists and is not a directory")
        figures = out / "figures"
        if figures.is_symlink() or (figures.exists() and not figures.is_dir()):
            raise SuiteError(f"--out {out}: {figures} is not a folder of its own (the report writes its figures "
                             "there)")
        self.previous = self._listed()
        stores = {Path(f"{p}{side}").resolve() for p in keep if p is not None for side in ("", "-wal", "-shm",
                                                                                           "-journal")}
        foreign = [name for name in self._entries() if not (
            (name in self.previous and not (out / name).is_symlink()) or name == MANIFEST
            or (out / name).resolve() in stores)]
        if foreign and not force:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise SuiteError(f"--out {out}: holds files that no report wrote there ({shown}); choose a new or empty "
                             "folder, or pass --force to write the report beside them (they are left as they are)")
        self.written: set[str] | None = None

    def _entries(self) -> list[str]:
        """Everything in the folder, as relative names (a folder's with a trailing /), figures/ looked into."""
        if not self.out.is_dir():
            return []
        names = []
        for entry in sorted(self.out.iterdir()):
            if entry.name == "figures" and entry.is_dir() and not entry.is_symlink():
                names += [f"figures/{f.name}" + ("/" if f.is_dir() else "") for f in sorted(entry.iterdir())]
            else:
                names.append(entry.name + ("/" if entry.is_dir() else ""))
        return names

    def _listed(self) -> set[str]:
        """The files the previous report wrote here, as its manifest (or its report.md) lists them."""
        try:
            names = json.loads((self.out / MANIFEST).read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            names = []
            try:
                markdown = (self.out / "report.md").read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                markdown = ""
            if _SIGNATURE in markdown:
                names = ["report.md", "report.html", *_FIGURE_LINK.findall(markdown)]
        return {n for n in names if isinstance(n, str) and _OWN.fullmatch(n)}

    def __enter__(self) -> "ReportFolder":
        try:
            (self.out / "figures").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SuiteError(f"--out {self.out}: cannot create it ({exc.strerror})") from None
        self.before = set(self._entries())
        return self

    def write(self, blocks: list[Block], title: str) -> tuple[Path, Path]:
        """report.md and report.html, once every figure is drawn."""
        markdown, page = self.out / "report.md", self.out / "report.html"
        _replace(markdown, to_markdown(blocks, self.out))
        _replace(page, to_html(blocks, title))
        drawn = [Path(b.content).relative_to(self.out).as_posix() for b in blocks if b.kind == "figure"]
        self.written = {"report.md", "report.html", *drawn, *(f"{name[:-4]}.svg" for name in drawn)}
        return markdown, page

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.written is not None:
            for name in self.previous - self.written:
                path = self.out / name
                if path.is_file() and not path.is_symlink():
                    path.unlink()
            listed = self.written
        else:  # failed half-way: what it wrote is listed with what is left of the previous report, for a rerun
            listed = {n for n in self._entries() if _OWN.fullmatch(n) and (n in self.previous or n not in self.before)}
        try:
            _replace(self.out / MANIFEST, json.dumps({"written by": "suite report", "files": sorted(listed)},
                                                     indent=1) + "\n")
        except SuiteError:
            if exc_type is None:
                raise  # else the error that stopped the report is the one to tell


def _replace(path: Path, text: str) -> None:
    """Write a whole file under a new name, then rename it over the old: a link there is replaced, not written
    through, and a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        file = os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w", encoding="utf-8")
    except OSError as exc:
        raise SuiteError(f"--out {path.parent}: cannot write {path.name} ({exc.strerror})") from None
    try:
        with file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise SuiteError(f"--out {path.parent}: cannot write {path.name} ({exc.strerror})") from None
