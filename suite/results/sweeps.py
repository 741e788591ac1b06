"""A sweep's results: one value per round and cell, and the table that ranks the cells with '≈ best'."""

from typing import Any

import pandas as pd

from suite.core import registry
from suite.core.errors import SuiteError
from suite.core.grid import Cell
from suite.core.metrics import Metric, declaration
from suite.results.best import smallest_p, worse_than_best
from suite.results.compare import describe
from suite.results.stats import metric_values
from suite.results.store import Store

ALPHA = 0.05  # family-wise error of the statement "these cells are worse than the best" (suite.best)


def sweep_values(store: Store, sweep: dict[str, Any], metric: Metric) -> pd.DataFrame:
    """One row per finished round of the sweep's seed and rounds (per measurement, for a per-group metric): the
    cell's swept values, its experiment, the metric. The input of the sweep's table and figures. attrs["diverged"]:
    each cell's experiment → its number of diverged rounds, where it has some (they have no value)."""
    spec = sweep["spec"]
    rows = []
    diverged = {}
    for cell in sweep["cells"]:
        if count := len(store.diverged(cell["experiment_id"], spec["seed"], range(spec["rounds"]))):
            diverged[cell["experiment_id"]] = count
        rounds = store.rounds(cell["experiment_id"], spec["seed"], range(spec["rounds"]))
        if metric.name not in rounds:
            if rounds.empty:
                continue
            known = sorted(c for c in rounds.columns if c.startswith(("test_", "val_", "train_")))
            raise SuiteError(f"--metric {metric.name!r}: not stored for this sweep; it has: {', '.join(known)}")
        for (seed, index), value in metric_values(rounds, metric).items():
            rows.append({"position": cell["position"], "experiment": cell["experiment_id"], **cell["values"],
                         "seed": seed, "round_index": index, metric.name: value})
    values = pd.DataFrame(rows)
    values.attrs["diverged"] = diverged
    return values


def ranking_metric(store: Store, sweep: dict[str, Any], name: str | None = None) -> Metric:
    """The metric that ranks a sweep's cells: `name` when given; else the validation twin of the task's primary
    metric (val_accuracy for test_accuracy) when every cell with finished rounds measured it, so that choosing the
    best cell never looks at the test set; else the primary metric itself."""
    task = registry.tasks().get(sweep["task"])
    if name is not None or task is None:
        if name is None:
            raise SuiteError(f"task {sweep['task']} is not installed here: name the metric with --metric")
        return declaration(task, name)
    primary = task.primary_metric
    twin = "val_" + primary.removeprefix("test_")
    if primary.startswith("test_"):
        spec = sweep["spec"]
        measured = [store.rounds(c["experiment_id"], spec["seed"], range(spec["rounds"])) for c in sweep["cells"]]
        measured = [rounds for rounds in measured if len(rounds)]
        if measured and all(twin in rounds and rounds[twin].notna().all() for rounds in measured):
            return declaration(task, twin)
    return declaration(task, primary)


def sweep_table(sweep: dict[str, Any], values: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """Cells sorted by the metric (best first) with n, mean ± std, the 95 % t interval of each cell's mean, its
    difference to the best cell, and whether it is significantly worse than the best: the paired step-down max-T
    test over all pairs of cells (suite.best), on the rounds every cell ran. `values`: the sweep's rounds
    (sweep_values), read once by the caller. attrs: `shared` rounds, the `smallest_p` they allow. Each cell's
    diverged rounds are counted (`diverged`); a cell none of whose rounds finished comes last, unranked."""
    diverged = values.attrs.get("diverged", {})
    if values.empty:
        raise SuiteError(f"sweep {sweep['id']} has no finished rounds yet"
                         + (f" ({sum(diverged.values())} diverged)" if diverged else ""))
    if not metric.ranked:
        raise SuiteError(f"--metric {metric.name}: neither higher nor lower is better, so it cannot rank cells")
    labels = {c["experiment_id"]: Cell(c["values"], None).label for c in sweep["cells"]}
    wide = values.pivot_table(index=["seed", "round_index"], columns="experiment", values=metric.name,
                              aggfunc="first", sort=False)
    shared = wide.dropna()
    decided = len(shared) > 1 and shared.shape[1] > 1
    p_worse = worse_than_best(shared.to_numpy(float), bool(metric.higher_is_better)) if decided else (
        [float("nan")] * wide.shape[1])
    rows = [{"experiment": int(eid), "label": labels[int(eid)], **describe(wide[eid].dropna().to_numpy(float)),
             "p_worse": p} for eid, p in zip(wide.columns, p_worse, strict=True)]
    table = pd.DataFrame(rows).sort_values("mean", ascending=metric.lower_is_better, kind="stable")
    table = table.reset_index(drop=True)
    table["best"] = table.index == 0
    table["difference"] = table["mean"] - table.loc[0, "mean"]
    table["decided"] = decided
    table["not_worse"] = table["best"] | (decided & ~(table["p_worse"] < ALPHA))
    failed = [{"experiment": eid, "label": labels[eid], "n": 0,
               **dict.fromkeys(("mean", "std", "median", "t_low", "t_high"), float("nan")),
               "p_worse": float("nan"), "best": False, "difference": float("nan"), "decided": decided,
               "not_worse": False} for eid in diverged if eid not in set(wide.columns)]
    table = pd.concat([table, pd.DataFrame(failed)], ignore_index=True) if failed else table
    table["diverged"] = [diverged.get(int(eid), 0) for eid in table["experiment"]]
    table.attrs.update(shared=len(shared) if decided else 0, smallest_p=smallest_p(len(shared)) if decided else
                       float("nan"), metric=metric.name)
    return table


def best_note(table: pd.DataFrame) -> str:
    """What "≈ best" means for this table, and what its rounds could show."""
    shared = table.attrs.get("shared", 0)
    if not shared:
        return "≈ best: not decided — the cells share fewer than two rounds (same seed and round index)."
    note = (f"≈ best: not significantly worse than the best cell. A cell is worse when some cell is better than it "
            f"in a paired step-down max-T test over all pairs of cells on their {shared} shared rounds (sign flips "
            f"of whole rounds; family-wise error ≤ {ALPHA} including the choice of the best).")
    if table.attrs["smallest_p"] >= ALPHA:
        note += (f" With {shared} rounds its smallest possible p is {table.attrs['smallest_p']:.3g}, so no cell "
                 "can be shown worse: run more rounds (8 or more).")
    return note
