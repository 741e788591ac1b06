"""Running a plan: an experiment's (or a sweep's many experiments') missing rounds, cut into groups, trained by
the plan's executor, each group stored as it comes back. This is the code base's one storing loop; the store
makes a run resumable (finished rounds are never trained again unless --fresh)."""

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import torch

from suite.core.config import config_dict, config_hash
from suite.core.errors import SuiteError
from suite.core.identity import code_identity
from suite.core.registry import Task
from suite.core.seeding import SEED_LIMIT
from suite.execution.environment import environment
from suite.execution.executors import Context, Executor, Inline, Job, WorkerLost
from suite.results.store import Store, StoreWriteError
from suite.training.devices import PLAIN, Acceleration, describe
from suite.training.steppers import check_compile


class Reporter(Protocol):
    """What a run shows as it goes (suite.report.progress): one reporter per experiment."""

    def start(self, experiment_id: int, rounds: int, epochs: int, reused: set[int],
              other_code: set[int]) -> None: ...
    def round_started(self, index: int) -> None: ...
    def epoch(self, index: int, epoch: int, metrics: dict[str, float]) -> None: ...
    def round_finished(self, index: int, metrics: dict[str, float]) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Planned:
    """An experiment ready to run: stored (so it has an id), its data prepared."""

    task: Task
    config: Any
    prepared: Any
    experiment_id: int
    label: str = ""  # a sweep's cell


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """How to run rounds, whatever the experiment: how many and from which seed, where, how grouped, by which
    executor, stored where, shown how."""

    store: Store
    data_dir: Path
    rounds: int = 10
    seed: int = 0
    device: torch.device = torch.device("cpu")
    accel: Acceleration = PLAIN
    parallel_rounds: int | None = 1  # rounds stacked per group; None: auto (see stack_size)
    executor: Executor = dataclasses.field(default_factory=Inline)
    download: bool = False
    fresh: bool = False  # discard the stored rounds of this seed first
    reuse_any_code: bool = False  # reuse stored rounds whatever code trained them (default: only this code's)
    save_models: str | None = None  # "best" or "final": save each round's weights (a stored round without: again)
    reporter: Callable[[Planned], Reporter] | None = None  # made when an experiment's first round starts

    def check(self) -> None:
        check_execution(self.executor, self.device, self.accel, self.parallel_rounds, self.seed)


def check_execution(executor: Executor, device: torch.device, accel: Acceleration,
                    parallel_rounds: int | None, seed: int = 0) -> None:
    """What no experiment can change: refused before data is read or anything stored."""
    if not 0 <= seed < SEED_LIMIT:
        raise SuiteError(f"--seed: must be between 0 and 2**63 - 1, got {seed}")
    executor.check(device)
    check_compile(accel, parallel_rounds)


class Interrupted(Exception):
    """Ctrl-C during a run: the groups in progress are dropped, finished rounds stay stored."""

    def __init__(self, stored: int) -> None:
        super().__init__(f"{stored} round(s) stored before the interruption")
        self.stored = stored


@dataclasses.dataclass
class Outcome:
    experiment_id: int
    rounds: pd.DataFrame  # the finished rounds 0..n-1 of this seed
    reused: int
    ran: int
    diverged: list[dict] = dataclasses.field(default_factory=list)  # the diverged ones (Store.diverged)


def concurrent_note(indices: list[int]) -> str:
    return (f"round(s) {', '.join(str(i + 1) for i in indices)} were stored meanwhile by another process running "
            "this experiment; kept those (a round is stored once)")


# `--parallel-rounds auto` stacks at most this many rounds per group, so memory stays bounded whatever --rounds.
AUTO_STACK_LIMIT = 32


def stack_size(task: Task, parallel_rounds: int | None, pending: int, parallelism: int, accel: Acceleration) -> int:
    """Rounds per stacked group. `auto` (None): for a task whose rounds stack well (Task.stack_rounds), the pending
    rounds shared evenly between the jobs the executor trains at once, at most AUTO_STACK_LIMIT each; otherwise (and
    with --compile) one at a time."""
    if parallel_rounds is not None:
        return parallel_rounds
    if not task.stack_rounds or accel.compile or pending == 0:
        return 1
    groups = max(parallelism, -(-pending // AUTO_STACK_LIMIT))
    return -(-pending // groups)


def round_groups(task: Task, plan: RunPlan, pending: list[int]) -> list[list[int]]:
    """The pending round indices cut into the groups that train together (stack_size rounds each)."""
    size = stack_size(task, plan.parallel_rounds, len(pending), plan.executor.parallelism, plan.accel)
    return [pending[i:i + size] for i in range(0, len(pending), size)]


def plan_experiment(task: Task, config: Any, plan: RunPlan, prepared: Any = None, label: str = "") -> Planned:
    """Data first (a missing or corrupt file fails before anything is written to the store), then the model (a
    configuration its builder refuses fails before the experiment is recorded), then the stored experiment of this
    config, created if new, with its environment and data setting. `prepared`: the task's data when the caller
    has it."""
    if prepared is None:
        prepared = task.prepare(config, plan.data_dir, plan.download)
    with torch.random.fork_rng(devices=[]):  # the rounds' own seeds decide every initialisation
        task.build_model(config)
    experiment_id = plan.store.ensure_experiment(task.name, config_hash(task.name, config), config_dict(config),
                                                 environment(describe(plan.device)),
                                                 task.setting(config, prepared))
    if plan.fresh:
        plan.store.delete_rounds(experiment_id, plan.seed)
    return Planned(task, config, prepared, experiment_id, label)


def finished(plan: RunPlan, planned: Planned) -> set[int]:
    """The plan's rounds of this experiment that are stored and may be reused: those this code trained, or any
    with reuse_any_code."""
    code = None if plan.reuse_any_code else code_identity(planned.task).digest
    return plan.store.stored_round_indices(planned.experiment_id, plan.seed, code) & set(range(plan.rounds))


def stored_by_other_code(plan: RunPlan, planned: Planned, reusable: set[int]) -> set[int]:
    """The plan's rounds stored by another code version, given the `reusable` ones (finished): trained again (and
    replaced)."""
    stored = plan.store.stored_round_indices(planned.experiment_id, plan.seed) & set(range(plan.rounds))
    return stored - reusable


def without_models(plan: RunPlan, planned: Planned, reusable: set[int]) -> set[int]:
    """With --save-models, the reusable rounds that have no saved model of that kind: trained again (and
    replaced), so that every round of the plan has one."""
    if plan.save_models is None:
        return set()
    return reusable & plan.store.rounds_lacking_models(planned.experiment_id, plan.seed, plan.save_models)


def models_note(indices: set[int], kind: str) -> str:
    return (f"{len(indices)} stored round(s) have no saved {kind} model; training them again to save one "
            "(--save-models)")


def execute(plan: RunPlan, experiments: list[Planned]) -> int:
    """Train every missing round of these experiments through the plan's executor, storing each group as it comes
    back; returns the number of rounds trained. Ctrl-C raises Interrupted (what was stored stays stored)."""
    jobs, done, other_code, unsaved = [], {}, {}, {}
    for planned in experiments:
        reusable = finished(plan, planned)
        other_code[planned.experiment_id] = stored_by_other_code(plan, planned, reusable)
        unsaved[planned.experiment_id] = without_models(plan, planned, reusable)
        done[planned.experiment_id] = reusable - unsaved[planned.experiment_id]
        pending = [i for i in range(plan.rounds) if i not in done[planned.experiment_id]]
        jobs += [Job(planned.task, planned.config, planned.experiment_id, plan.seed, tuple(group), planned.label,
                     plan.save_models) for group in round_groups(planned.task, plan, pending)]
    by_id = {p.experiment_id: p for p in experiments}
    left = Counter(job.experiment_id for job in jobs)
    reporters: dict[int, Reporter] = {}

    def reporter(experiment_id: int) -> Reporter | None:
        if plan.reporter is None:
            return None
        if experiment_id not in reporters:
            planned = by_id[experiment_id]
            reporters[experiment_id] = plan.reporter(planned)
            reporters[experiment_id].start(experiment_id, plan.rounds, planned.config.epochs, done[experiment_id],
                                           other_code[experiment_id])
            if unsaved[experiment_id]:
                reporters[experiment_id].note(models_note(unsaved[experiment_id], plan.save_models))
        return reporters[experiment_id]

    def started(job: Job) -> None:
        if (shown := reporter(job.experiment_id)) is not None:
            for index in job.rounds:
                shown.round_started(index)

    def epoch(job: Job, k: int, e: int, row: dict[str, float]) -> None:
        if (shown := reporter(job.experiment_id)) is not None:
            shown.epoch(job.rounds[k], e, row)

    for planned in experiments:  # nothing to train: say so (what was reused) and be done
        if not left[planned.experiment_id] and (shown := reporter(planned.experiment_id)) is not None:
            reporters.pop(planned.experiment_id)
            shown.close()
    context = Context(plan.device, plan.accel, plan.data_dir, {p.experiment_id: p.prepared for p in experiments},
                      started, epoch)
    ran = 0
    try:
        for job, results in plan.executor.run(jobs, context):
            stored = plan.store.add_group(job.experiment_id, job.seed, list(job.rounds), results,
                                          replacing=other_code[job.experiment_id] | unsaved[job.experiment_id])
            ran += len(stored)
            left[job.experiment_id] -= 1
            if (shown := reporter(job.experiment_id)) is not None:
                for index, result in zip(job.rounds, results, strict=True):
                    shown.round_finished(index, result.metrics)
                if len(stored) < len(job.rounds):
                    shown.note(concurrent_note(sorted(set(job.rounds) - set(stored))))
                if not left[job.experiment_id]:
                    reporters.pop(job.experiment_id).close()
    except KeyboardInterrupt:
        raise Interrupted(ran) from None
    except (StoreWriteError, WorkerLost) as exc:  # the machine failed us: say what is safe, and how to go on
        kept = sum(len(d) for d in done.values()) + ran
        advice = "make room and rerun" if isinstance(exc, StoreWriteError) else "rerun"
        raise type(exc)(f"{exc}; {kept} round(s) of this command are kept in {plan.store.path}: {advice} to "
                        "resume") from None
    finally:
        for shown in reporters.values():
            shown.close()
    return ran


def run_experiment(task: Task, config: Any, plan: RunPlan, prepared: Any = None) -> Outcome:
    """An experiment's rounds 0..plan.rounds-1 of plan.seed: the stored ones reused, the missing ones trained."""
    plan.check()
    planned = plan_experiment(task, config, plan, prepared)
    reused = len(finished(plan, planned))
    try:
        ran = execute(plan, [planned])
    except Interrupted as stop:
        raise ExperimentInterrupted(planned.experiment_id, reused + stop.stored) from None
    rounds = plan.store.rounds(planned.experiment_id, plan.seed, range(plan.rounds))
    return Outcome(planned.experiment_id, rounds, reused, ran,
                   plan.store.diverged(planned.experiment_id, plan.seed, range(plan.rounds)))


class ExperimentInterrupted(Interrupted):
    def __init__(self, experiment_id: int, finished: int) -> None:
        super().__init__(finished)
        self.experiment_id = experiment_id
        self.finished = finished
