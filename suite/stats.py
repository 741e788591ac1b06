"""Aggregating rounds: mean ± sample std, min, max per metric."""

import pandas as pd

# Columns of a rounds table that describe the round rather than measure it.
_BOOKKEEPING = {"id", "experiment_id", "round_index", "seed", "status", "device", "finished"}
_RENAMES = {"seconds": "round_seconds"}


def metric_columns(rounds: pd.DataFrame) -> list[str]:
    """Numeric measurements, ordered: test, validation, train, then cost (time, memory)."""
    names = [c for c in rounds.columns if c not in _BOOKKEEPING and pd.api.types.is_numeric_dtype(rounds[c])]

    def rank(name: str) -> tuple[int, str]:
        for i, prefix in enumerate(("test_", "val_", "train_")):
            if name.startswith(prefix):
                return i, name
        return 3, name

    return sorted(names, key=rank)


def summarize(rounds: pd.DataFrame) -> pd.DataFrame:
    """One row per metric: n, mean, std (sample, ddof=1), min, max over rounds."""
    frame = rounds.copy()
    frame["peak_memory_mb"] = frame.pop("peak_memory_bytes") / 2**20
    frame = frame.rename(columns=_RENAMES)
    columns = metric_columns(frame)
    table = frame[columns].agg(["count", "mean", "std", "min", "max"]).T
    table["count"] = table["count"].astype(int)
    return table.rename(columns={"count": "n"})
