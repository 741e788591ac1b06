"""From stored rounds to the values statistics are computed on: one per round, or one per measurement for metrics
measured once for a group of stacked rounds (time, memory); and the per-metric summary (mean ± sample std)."""

import pandas as pd

from suite.core.metrics import Metric, declaration

# Columns of a rounds table that describe the round rather than measure it.
_BOOKKEEPING = {"id", "experiment_id", "round_index", "seed", "status", "device", "finished", "measurement_id",
                "group_size"}


def metric_columns(rounds: pd.DataFrame) -> list[str]:
    """Numeric measurements, ordered: test, validation, train, then the rest (epochs, time, memory)."""
    names = [c for c in rounds.columns if c not in _BOOKKEEPING and pd.api.types.is_numeric_dtype(rounds[c])]

    def rank(name: str) -> tuple[int, str]:
        for i, prefix in enumerate(("test_", "val_", "train_")):
            if name.startswith(prefix):
                return i, name
        return 3, name

    return sorted(names, key=rank)


def metric_values(rounds: pd.DataFrame, metric: Metric) -> pd.Series:
    """The metric's values indexed by (seed, round_index). A per-group metric has one value per measurement, keyed
    by the group's first round: a group of k stacked rounds is one measurement, never k."""
    frame = rounds[rounds[metric.name].notna()]
    if metric.per_group and "measurement_id" in frame:
        frame = frame.sort_values(["seed", "round_index"]).drop_duplicates("measurement_id")
    # Built from arrays: set_index on a wide rounds table costs milliseconds, paid per experiment of a large store.
    index = pd.MultiIndex.from_arrays([frame["seed"].to_numpy(), frame["round_index"].to_numpy()],
                                      names=["seed", "round_index"])
    return pd.Series(frame[metric.name].to_numpy(float), index=index, name=metric.name)


def values_by_experiment(rounds: pd.DataFrame, metric: Metric):
    """metric_values of every experiment of a table of several experiments' rounds (Store.rounds_of) at once,
    grouped by experiment_id: one value per round, or per measurement for a per-group metric (measurement ids are
    unique across experiments)."""
    frame = rounds.dropna(subset=[metric.name])
    if metric.per_group:
        frame = frame.drop_duplicates("measurement_id")
    return frame.groupby("experiment_id")[metric.name]


def measured_rounds(rounds: pd.DataFrame, metric: Metric) -> int:
    """How many rounds the metric's values cover."""
    return int(rounds[metric.name].notna().sum())


def summarize(rounds: pd.DataFrame, task=None) -> pd.DataFrame:
    """One row per metric (index: name): n, mean, std (sample, ddof=1), min, max over its values (rounds, or
    measurements for per-group metrics), `rounds` the rounds they cover, and `metric`, its declaration."""
    rows = {}
    for name in metric_columns(rounds):
        metric = declaration(task, name)
        values = metric_values(rounds, metric)
        if values.empty:
            continue
        rows[name] = {"n": len(values), "mean": values.mean(), "std": values.std(ddof=1), "min": values.min(),
                      "max": values.max(), "rounds": measured_rounds(rounds, metric), "metric": metric}
    return pd.DataFrame.from_dict(rows, orient="index")
