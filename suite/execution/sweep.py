"""Running a sweep: every cell's missing rounds, resumable through the store (its cells: suite.core.grid)."""

import dataclasses
from typing import Any

from suite.core.grid import Cell
from suite.core.registry import Task
from suite.execution.runner import Interrupted, Planned, RunPlan, execute, finished, plan_experiment


@dataclasses.dataclass
class SweepOutcome:
    sweep_id: int
    reused: int  # rounds found finished in the store
    ran: int


class SweepInterrupted(Exception):
    def __init__(self, sweep_id: int) -> None:
        super().__init__(f"sweep {sweep_id} interrupted")
        self.sweep_id = sweep_id


def plan_cells(task: Task, cells: list[Cell], plan: RunPlan) -> list[Planned]:
    """Every cell's data (loaded once per distinct data configuration), model check and stored experiment, before
    anything trains."""
    data: dict[tuple, Any] = {}
    planned = []
    for cell in cells:
        key = task.data_key(cell.config)
        if key not in data:
            data[key] = task.prepare(cell.config, plan.data_dir, plan.download)
        planned.append(plan_experiment(task, cell.config, plan, data[key], label=cell.label))
    return planned


def run_sweep(task: Task, cells: list[Cell], spec_hash: str, spec: dict[str, Any], plan: RunPlan) -> SweepOutcome:
    """Train every cell's missing rounds (the spec's rounds and seed) through the plan's executor: the same runner
    as one experiment's, over many."""
    plan = dataclasses.replace(plan, rounds=spec["rounds"], seed=spec["seed"])
    plan.check()
    planned = plan_cells(task, cells, plan)
    sweep_id = plan.store.ensure_sweep(task.name, spec_hash, spec, [(p.experiment_id, c.values)
                                                                    for p, c in zip(planned, cells, strict=True)])
    before = sum(len(finished(plan, p)) for p in planned)
    try:
        ran = execute(plan, planned)
    except Interrupted:
        raise SweepInterrupted(sweep_id) from None
    return SweepOutcome(sweep_id, before, ran)
