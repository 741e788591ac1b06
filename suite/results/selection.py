"""Choosing stored experiments to compare: by id, or by task and config filters; labelled by what differs."""

from typing import Any

import pandas as pd

from suite.core import registry
from suite.core.config import command_line, non_defaults, ordered_fields, parse_field
from suite.core.errors import SuiteError
from suite.core.metrics import Metric, declaration
from suite.results.compare import Sample
from suite.results.stats import measured_rounds, metric_columns, metric_values
from suite.results.store import Store


def parse_where(task: registry.Task, items: list[str]) -> dict[str, Any]:
    """`field=value` filters, each value read as the field's type (so lr=1e-2 matches a stored 0.01)."""
    where = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise SuiteError(f"--where {item!r}: expected FIELD=VALUE, e.g. --where model=siamese")
        name = name.strip().replace("-", "_")
        where[name] = parse_field(task.config_cls, name, text.strip())
    return where


def matches(experiment: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Whether an experiment's config has every value of parsed --where filters (parse_where)."""
    return all(experiment["config"].get(k) == v for k, v in filters.items())


def select(store: Store, ids: list[int], task_name: str | None, where: list[str],
           with_diverged: bool = False) -> list[dict[str, Any]]:
    """The chosen experiments (each with finished rounds, or with `with_diverged` also those whose every stored
    round diverged), in id order; every one of a single task."""
    if ids:
        chosen = [store.experiment(i) for i in dict.fromkeys(ids)]
    else:
        frame = store.experiments()
        if task_name is not None:
            registry.get_task(task_name)  # an unknown name fails here, naming the known ones
            frame = frame[frame["task"] == task_name]
        chosen = [store.experiment(int(i)) for i in frame["id"]]
    tasks = sorted({e["task"] for e in chosen} | ({task_name} if task_name else set()))
    if len(tasks) > 1:
        raise SuiteError(f"experiments of different tasks ({', '.join(tasks)}) cannot be compared; "
                         "choose ids of one task, or --task")
    if where:
        if not tasks:
            raise SuiteError("--where needs --task or experiment ids")
        filters = parse_where(registry.get_task(tasks[0]), where)
        chosen = [e for e in chosen if matches(e, filters)]
    stored = store.experiments()
    finished = set(stored.query("rounds > 0 or diverged > 0" if with_diverged else "rounds > 0")["id"])
    chosen = [e for e in chosen if e["id"] in finished]
    if not chosen:
        raise SuiteError(f"no experiment with finished rounds matches in {store.path} (see `suite results`)")
    return chosen


MISSING = "–"  # how a config field an experiment lacks (stored before the field existed) is printed


def differing_config(experiments: list[dict[str, Any]]) -> pd.DataFrame:
    """The config fields whose values differ between the experiments: one row per experiment (index: id)."""
    task = registry.tasks().get(experiments[0]["task"])
    names = [f.name for f in ordered_fields(task.config_cls)] if task else sorted(experiments[0]["config"])
    # object columns keep each value as stored: a column of ints beside a missing value would become floats ("3.0");
    # a field an experiment's config lacks (stored before it existed) stays None, not NaN
    frame = pd.DataFrame([{n: e["config"].get(n) for n in names} for e in experiments],
                         index=pd.Index([e["id"] for e in experiments], name="experiment"), dtype=object)
    frame = frame.where(frame.notna(), None)
    varying = [n for n in names if frame[n].astype(str).nunique() > 1]
    return frame[varying]


def labels(experiments: list[dict[str, Any]]) -> dict[int, str]:
    """A short name per experiment: the config values that set it apart from the others (or from the defaults)."""
    differing = differing_config(experiments)
    task = registry.tasks().get(experiments[0]["task"])
    out = {}
    for e in experiments:
        values = differing.loc[e["id"]].to_dict() if len(differing.columns) else (
            non_defaults(task.config_cls, e["config"]) if task else {})
        out[e["id"]] = ", ".join(f"{k}={MISSING if v is None else v}" for k, v in values.items()) or "defaults"
    return out


def reproduce(experiment: dict[str, Any], rounds: pd.DataFrame) -> str:
    """The command that reruns an experiment's stored rounds (rounds 0…n−1 of one seed), or "" when they are not
    such a run (several seeds, or gaps)."""
    task = registry.tasks().get(experiment["task"])
    seeds = rounds["seed"].unique()
    if task is None or len(seeds) != 1 or sorted(rounds["round_index"]) != list(range(len(rounds))):
        return ""
    return command_line(experiment["task"], task.config_cls, experiment["config"], len(rounds), int(seeds[0]))


def samples(store: Store, experiments: list[dict[str, Any]], metric: Metric) -> list[Sample]:
    """Each experiment's values of `metric`, keyed by (seed, round_index): one per finished round, or one per
    measurement for a metric measured once for a group of stacked rounds; diverged rounds are counted, not valued
    (an experiment with no finished round has no values)."""
    names = labels(experiments)
    out = []
    # Every experiment's rounds in one query: per-experiment queries dominate over thousands of experiments.
    everything = store.rounds_of([e["id"] for e in experiments])
    if metric.name not in everything:
        everything[metric.name] = float("nan")
    # Only the columns the values need, so that splitting thousands of experiments stays cheap.
    slim = everything[["experiment_id", "seed", "round_index", "measurement_id", metric.name]]
    by_id = dict(tuple(slim.groupby("experiment_id", sort=False)))
    counts = store.experiments().set_index("id")["diverged"]
    for e in experiments:
        rounds = by_id.get(e["id"], slim.iloc[:0])
        diverged = int(counts.get(e["id"], 0))
        if not len(rounds) and diverged:
            out.append(Sample(e["id"], names[e["id"]], pd.Series([], dtype=float, index=pd.MultiIndex.from_tuples(
                [], names=["seed", "round_index"])), "", 0, diverged))
            continue
        if rounds[metric.name].isna().all():
            known = metric_columns(everything[everything["experiment_id"] == e["id"]].dropna(axis=1, how="all"))
            raise SuiteError(f"--metric {metric.name!r}: not stored for experiment {e['id']}; it has: "
                             f"{', '.join(known)}")
        out.append(Sample(e["id"], names[e["id"]], metric_values(rounds, metric), reproduce(e, rounds),
                          measured_rounds(rounds, metric), diverged))
    return out


def metric_of(task_name: str, name: str | None) -> Metric:
    """The declaration of `--metric NAME` (default: the task's primary metric) for experiments of this task."""
    task = registry.tasks().get(task_name)
    if name is None:
        if task is None:
            raise SuiteError(f"task {task_name} is not installed here: name the metric with --metric")
        name = task.primary_metric
    return declaration(task, name)


def choose(store: Store, ids: list[int], task: str | None, where: list[str], baseline: int | None,
           metric: str | None) -> tuple[list[dict[str, Any]], int, Metric]:
    """What `suite compare|report` (and suite.compare) compare: the chosen experiments, the reference id (the
    first chosen unless `baseline`) and the metric's declaration."""
    experiments = select(store, ids, task, where)
    reference = experiments[0]["id"] if baseline is None else baseline
    if reference not in {e["id"] for e in experiments}:
        raise SuiteError(f"--baseline {reference}: not among the selected experiments "
                         f"({', '.join(str(e['id']) for e in experiments)})")
    return experiments, reference, metric_of(experiments[0]["task"], metric)
