"""What a sweep is: a grid of configurations (named presets, `--grid` axes, cumulative ablations), its cells, and
the identity that lets the same command find the same sweep again. Cells are ordinary experiments, keyed by their
config hash; every cell's config is built, and so validated, before anything trains.
"""

import dataclasses
import hashlib
import itertools
import json
from typing import Any

from suite.core.config import build_config, config_hash, parse_field
from suite.core.errors import SuiteError
from suite.core.registry import Task


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


def parse_grid(task: Task, items: list[str]) -> dict[str, list]:
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


def make_cells(task: Task, fixed: dict[str, Any], cell_values: list[dict[str, Any]]) -> list[Cell]:
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


def sweep_spec(task: Task, fixed: dict[str, Any], cells: list[Cell], rounds: int, seed: int,
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


def describe_axes(axes: dict[str, list]) -> str:
    """`lr = 0.001, 0.01; w_sharing = True, False`: a sweep's swept fields and values on one line."""
    return "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in axes.items())
