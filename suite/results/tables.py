"""A store as plain data frames, for the Python API (suite.open) and `suite export`: experiments with a column per
config field and each metric's mean and std, and the finished rounds, epochs and scores of chosen experiments.
Values are as stored (accuracies as fractions), so that what leaves the suite is what it computed on."""

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from suite.core import registry
from suite.core.config import ordered_fields
from suite.core.errors import SuiteError
from suite.core.metrics import declaration
from suite.results.selection import matches, parse_where
from suite.results.stats import metric_columns, values_by_experiment
from suite.results.store import Store

# A round's place: the columns that tie an epoch or a score to its experiment and round.
ROUND_KEYS = ["experiment_id", "seed", "round_index"]


def where_items(where: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    """`where` as FIELD=VALUE strings: given as such (the command line's --where) or as a mapping (Python)."""
    if where is None:
        return []
    if isinstance(where, Mapping):
        return [f"{name}={value}" for name, value in where.items()]
    if isinstance(where, str):
        return [where]
    return list(where)


def chosen(store: Store, ids: Iterable[int] | None = None, task: str | None = None,
           where: Mapping[str, Any] | Iterable[str] | None = None) -> pd.DataFrame:
    """Store.experiments() narrowed to these ids, this task and config filters (which need one task), config as a
    dict; every stored experiment when nothing narrows it, also those with no finished round yet."""
    frame = store.experiments()
    frame["config"] = [json.loads(text) for text in frame["config"]]
    if ids is not None:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        missing = sorted(set(wanted) - set(frame["id"]))
        if missing:
            raise SuiteError(f"no experiment {', '.join(map(str, missing))} in {store.path} (see `suite results`)")
        frame = frame[frame["id"].isin(wanted)]
    if task is not None:
        registry.get_task(task)  # an unknown name fails here, naming the known ones
        frame = frame[frame["task"] == task]
    items = where_items(where)
    if items:
        tasks = sorted(set(frame["task"]) | ({task} if task else set()))
        if len(tasks) > 1:
            raise SuiteError(f"where: the experiments are of several tasks ({', '.join(tasks)}); choose one task")
        if tasks:
            filters = parse_where(registry.get_task(tasks[0]), items)
            frame = frame[[matches({"config": c}, filters) for c in frame["config"]]]
    return frame.reset_index(drop=True)


def chosen_ids(store: Store, ids: Iterable[int] | None = None, task: str | None = None,
               where: Mapping[str, Any] | Iterable[str] | None = None) -> list[int]:
    """The ids `chosen` selects, refused when none matches (what an export needs: something to export)."""
    found = chosen(store, ids, task, where)["id"].tolist()
    if not found:
        raise SuiteError(f"no experiment matches in {store.path} (see `suite results`)")
    return found


def _config_names(frame: pd.DataFrame) -> list[str]:
    """Config fields in the tasks' own order (the union, for several tasks; stored order for uninstalled ones)."""
    names: dict[str, None] = {}
    for name in dict.fromkeys(frame["task"]):
        task = registry.tasks().get(name)
        if task is not None:
            names |= dict.fromkeys(f.name for f in ordered_fields(task.config_cls))
        else:
            for config in frame.loc[frame["task"] == name, "config"]:
                names |= dict.fromkeys(config)
    return list(names)


def experiments_table(store: Store, ids: Iterable[int] | None = None, task: str | None = None,
                      where: Mapping[str, Any] | Iterable[str] | None = None) -> pd.DataFrame:
    """One row per experiment: id, task, a column per config field, finished and diverged rounds, when it was
    created, and `<metric>_mean`, `<metric>_std` (sample std) of every stored metric over its finished rounds (a
    metric measured once per stacked group counts one value per group, as everywhere in the suite)."""
    frame = chosen(store, ids, task, where)
    names = _config_names(frame)
    config = pd.DataFrame([{n: c.get(n) for n in names} for c in frame["config"]], index=frame.index, columns=names)
    table = pd.concat([frame[["id", "task"]], config, frame[["rounds", "diverged", "created", "config_hash"]]], axis=1)
    rounds = store.rounds_of(frame["id"].tolist())
    summaries = []
    for name, ids_of_task in frame.groupby("task")["id"]:
        of_task = rounds[rounds["experiment_id"].isin(ids_of_task)].dropna(axis=1, how="all")
        columns = {}
        for metric_name in metric_columns(of_task):
            grouped = values_by_experiment(of_task, declaration(registry.tasks().get(name), metric_name))
            columns[f"{metric_name}_mean"] = grouped.mean()
            columns[f"{metric_name}_std"] = grouped.std(ddof=1)
        summaries.append(pd.DataFrame(columns))
    if summaries and any(len(s.columns) for s in summaries):
        metrics = pd.concat(summaries)
        table = table.merge(metrics, left_on="id", right_index=True, how="left")
    return table.reset_index(drop=True)


def rounds_table(store: Store, experiment_ids: Iterable[int]) -> pd.DataFrame:
    """The finished rounds of these experiments: one row each with its metrics (Store.rounds_of)."""
    return store.rounds_of(list(experiment_ids)).rename(columns={"id": "round_id"})


def epochs_table(store: Store, experiment_ids: Iterable[int]) -> pd.DataFrame:
    """Every epoch of the finished rounds of these experiments, with the round's experiment, seed and index."""
    rounds = rounds_table(store, experiment_ids)[["round_id", *ROUND_KEYS]]
    curves = store.curves_of(rounds["round_id"].tolist())
    return rounds.merge(curves, on="round_id")[["round_id", *ROUND_KEYS, *curves.columns.drop("round_id")]]


def scores_table(store: Store, experiment_ids: Iterable[int], split: str = "test") -> pd.DataFrame:
    """The per-example scores and targets of the finished rounds of these experiments on a split."""
    rounds = rounds_table(store, experiment_ids)[["round_id", *ROUND_KEYS]]
    scores = store.scores_of(rounds["round_id"].tolist(), split)
    return rounds.merge(scores, on="round_id")[["round_id", *ROUND_KEYS, "example", "score", "target"]]
