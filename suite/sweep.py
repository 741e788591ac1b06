"""Sweeps: a grid of configurations, every cell an experiment with repeated rounds, resumable through the store.

A sweep is its task, its cells (each the swept values on top of the fixed options), rounds and seed; the same
command names the same sweep. Cells are ordinary experiments (keyed by their config hash), so a cell that some
earlier run or sweep already trained reuses its finished rounds, and only missing rounds are trained. Every
config is built, and so validated, before anything trains. Executors: `local` (this process, with the runner's
stacked rounds and worker processes) and `ray` (suite.ray_executor).
"""

import dataclasses
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from suite import registry
from suite.best import smallest_p, worse_than_best
from suite.compare import describe
from suite.config import build_config, config_hash, parse_field
from suite.devices import PLAIN, Acceleration
from suite.errors import SuiteError
from suite.metrics import Metric
from suite.runner import Interrupted, open_experiment, run_experiment
from suite.stats import metric_values
from suite.store import Store

EXECUTORS = ("local", "ray")
ALPHA = 0.05  # family-wise error of the statement "these cells are worse than the best" (suite.best)


@dataclasses.dataclass(frozen=True)
class SweepPreset:
    """A named grid: fixed options, and either axes (their product) or an explicit list of cells."""

    fixed: dict[str, Any]
    axes: dict[str, list] | None = None
    cells: list[dict[str, Any]] | None = None

    def cell_values(self) -> list[dict[str, Any]]:
        return self.cells if self.cells is not None else product(self.axes or {})


def cumulative(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ablation cells: each adds one step's options to all the steps before it (a later step may override)."""
    cells, current = [], {}
    for step in steps:
        current = current | step
        cells.append(dict(current))
    return cells


@dataclasses.dataclass(frozen=True)
class Cell:
    values: dict[str, Any]  # the swept fields of this cell
    config: Any

    @property
    def label(self) -> str:
        return " ".join(f"{k}={_text(v)}" for k, v in self.values.items()) or "(no swept option)"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_grid(task: registry.Task, items: list[str]) -> dict[str, list]:
    """`--grid FIELD=V1,V2,…` options → {field: [values]}, each value read with the field's type."""
    axes: dict[str, list] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise SuiteError(f"--grid {item!r}: expected FIELD=V1,V2,…, e.g. --grid lr=1e-3,1e-2")
        if name in axes:
            raise SuiteError(f"--grid {name}: given twice; list all its values in one --grid")
        words = [w.strip() for w in text.split(",")]
        if not all(words):
            raise SuiteError(f"--grid {item!r}: empty value (values are separated by commas)")
        values = [parse_field(task.config_cls, name, w) for w in words]
        if len(set(map(repr, values))) < len(values):
            raise SuiteError(f"--grid {name}: a value is repeated in {text!r}")
        axes[name] = values
    return axes


def product(axes: dict[str, list]) -> list[dict[str, Any]]:
    """Every combination, the first axis varying slowest."""
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def make_cells(task: registry.Task, fixed: dict[str, Any], cell_values: list[dict[str, Any]]) -> list[Cell]:
    """Build (and so validate) every cell's config before anything runs; a bad cell is named."""
    clash = sorted({k for values in cell_values for k in values} & set(fixed))
    if clash:
        raise SuiteError(f"--grid {', '.join(clash)}: also given as a fixed option; sweep it or fix it, not both")
    cells = []
    for values in cell_values:
        try:
            config = build_config(task.config_cls, {**fixed, **values})
        except SuiteError as error:
            raise SuiteError(f"grid cell {Cell(values, None).label}: {error}") from None
        cells.append(Cell(values, config))
    hashes = [config_hash(task.name, c.config) for c in cells]
    if len(set(hashes)) < len(hashes):
        raise SuiteError("two grid cells have the same configuration (a swept value equals another after parsing)")
    return cells


def sweep_spec(task: registry.Task, fixed: dict[str, Any], cells: list[Cell], rounds: int, seed: int,
               preset: str | None) -> tuple[str, dict[str, Any]]:
    """The sweep's identity (hash) and its record: what a later run of the same command finds again."""
    spec = {"task": task.name, "preset": preset, "fixed": fixed, "rounds": rounds, "seed": seed,
            "axes": _axes(cells), "cells": [c.values for c in cells],
            "config_hashes": [config_hash(task.name, c.config) for c in cells]}
    identity = {k: spec[k] for k in ("task", "rounds", "seed", "config_hashes")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16], spec


def _axes(cells: list[Cell]) -> dict[str, list]:
    axes: dict[str, list] = {}
    for cell in cells:
        for k, v in cell.values.items():
            if v not in axes.setdefault(k, []):
                axes[k].append(v)
    return axes


def sweep_values(store: Store, sweep: dict[str, Any], metric: Metric) -> pd.DataFrame:
    """One row per finished round of the sweep's seed and rounds (per measurement, for a per-group metric): the
    cell's swept values, its experiment, the metric. The input of the sweep's table and figures."""
    spec = sweep["spec"]
    rows = []
    for cell in sweep["cells"]:
        rounds = store.rounds(cell["experiment_id"], spec["seed"], range(spec["rounds"]))
        if metric.name not in rounds:
            if rounds.empty:
                continue
            known = sorted(c for c in rounds.columns if c.startswith(("test_", "val_", "train_")))
            raise SuiteError(f"--metric {metric.name!r}: not stored for this sweep; it has: {', '.join(known)}")
        for (seed, index), value in metric_values(rounds, metric).items():
            rows.append({"position": cell["position"], "experiment": cell["experiment_id"], **cell["values"],
                         "seed": seed, "round_index": index, metric.name: value})
    return pd.DataFrame(rows)


def describe_axes(axes: dict[str, list]) -> str:
    """`lr = 0.001, 0.01; w_sharing = True, False`: a sweep's swept fields and values on one line."""
    return "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in axes.items())


def sweep_table(sweep: dict[str, Any], values: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """Cells sorted by the metric (best first) with n, mean ± std, the 95 % t interval of each cell's mean, its
    difference to the best cell, and whether it is significantly worse than the best: the paired step-down max-T
    test over all pairs of cells (suite.best), on the rounds every cell ran. `values`: the sweep's rounds
    (sweep_values), read once by the caller. attrs: `shared` rounds, the `smallest_p` they allow."""
    if values.empty:
        raise SuiteError(f"sweep {sweep['id']} has no finished rounds yet")
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


@dataclasses.dataclass
class SweepOutcome:
    sweep_id: int
    reused: int  # rounds found finished in the store
    ran: int


class SweepInterrupted(Exception):
    def __init__(self, sweep_id: int) -> None:
        super().__init__(f"sweep {sweep_id} interrupted")
        self.sweep_id = sweep_id


def open_sweep(task: registry.Task, cells: list[Cell], spec_hash: str, spec: dict[str, Any], store: Store,
               data_dir: Path, download: bool, device: torch.device) -> tuple[int, list[int], list[Any]]:
    """Load the data (once per distinct data configuration), create every cell's experiment and the sweep
    record; returns the sweep id, the cells' experiment ids and their prepared data. Nothing trains yet."""
    data: dict[tuple, Any] = {}
    prepared = []
    for cell in cells:
        key = task.data_key(cell.config)
        if key not in data:
            data[key] = task.prepare(cell.config, data_dir, download)
        prepared.append(data[key])
    ids = [open_experiment(task, c.config, p, store, device) for c, p in zip(cells, prepared, strict=True)]
    sweep_id = store.ensure_sweep(task.name, spec_hash, spec, [(i, c.values) for i, c in zip(ids, cells, strict=True)])
    return sweep_id, ids, prepared


def check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise SuiteError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        from suite import ray_executor  # Ray is an optional extra: imported only when asked for

        ray_executor.check_available()


def run_sweep(task: registry.Task, cells: list[Cell], spec_hash: str, spec: dict[str, Any], *, store: Store,
              data_dir: Path, download: bool, device: torch.device, executor: str = "local",
              parallel_rounds: int | None = None, workers: int = 1, accel: Acceleration = PLAIN,
              reporter_factory=None, ray_options: dict[str, Any] | None = None) -> SweepOutcome:
    """Train every cell's missing rounds with the chosen executor; finished rounds are stored as they come."""
    check_executor(executor)
    sweep_id, ids, prepared = open_sweep(task, cells, spec_hash, spec, store, data_dir, download, device)
    rounds, seed = spec["rounds"], spec["seed"]
    before = sum(len(store.finished_round_indices(i, seed) & set(range(rounds))) for i in ids)
    try:
        if executor == "ray":
            from suite import ray_executor

            ray_executor.run(task, cells, ids, store=store, rounds=rounds, seed=seed, data_dir=data_dir,
                             parallel_rounds=parallel_rounds, accel=accel, **(ray_options or {}))
        else:
            for cell, data in zip(cells, prepared, strict=True):
                run_experiment(task, cell.config, rounds=rounds, seed=seed, device=device, store=store,
                               data_dir=data_dir, reporter=reporter_factory(cell) if reporter_factory else None,
                               parallel_rounds=parallel_rounds, workers=workers, accel=accel, prepared=data)
    except (Interrupted, KeyboardInterrupt):
        raise SweepInterrupted(sweep_id) from None
    after = sum(len(store.finished_round_indices(i, seed) & set(range(rounds))) for i in ids)
    return SweepOutcome(sweep_id, before, after - before)
