"""Executors: where groups of rounds train. The runner hands an executor its jobs and stores each job's results as
they come back, in this process, the store's only writer; an executor only trains.

- inline: here, one job after another (live per-epoch progress);
- process: `workers` local processes that split the CPU threads between them;
- ray: each job a Ray task on a local Ray or an existing cluster, retried by Ray when it raises or its worker dies.
  Every machine of a cluster needs this package installed (same version) and the data at the same path (or
  $SUITE_DATA_DIR set there).
"""

import dataclasses
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

import torch

from suite.core.errors import SuiteError
from suite.core.records import RoundResult
from suite.core.registry import Task
from suite.core.seeding import RoundSeeds
from suite.training.devices import Acceleration
from suite.training.rounds import train_rounds

EXECUTORS = ("inline", "process", "ray")
RAY_INSTALL_HINT = "pip install -e '.[ray]' in the suite checkout (or pip install 'ray[default]')"


@dataclasses.dataclass(frozen=True)
class Job:
    """One group of rounds of one experiment, trained together (stacked when there are several)."""

    task: Task
    config: Any
    experiment_id: int
    seed: int
    rounds: tuple[int, ...]
    label: str = ""  # what a message calls the experiment (a sweep's cell)
    keep: str | None = None  # --save-models: the weights to hand back with each round ("best", "final")


@dataclasses.dataclass(frozen=True)
class Context:
    """What every job of a run shares."""

    device: torch.device
    accel: Acceleration
    data_dir: Path
    prepared: dict[int, Any]  # experiment id → its prepared data, for jobs trained in this process
    started: Callable[[Job], None]  # a job's rounds began training
    epoch: Callable[[Job, int, int, dict[str, float]], None]  # (job, k-th round of the job, epoch, row)


Results = Iterator[tuple[Job, list[RoundResult]]]


class Executor(Protocol):
    name: str
    parallelism: int  # jobs trained at once: `--parallel-rounds auto` shares the rounds out between them

    def check(self, device: torch.device) -> None:
        """Refuse a device or setting this executor cannot train with, before anything is stored."""

    def run(self, jobs: list[Job], context: Context) -> Results:
        """(job, its results) as each job finishes, in any order."""


def _seeds(job: Job) -> list[RoundSeeds]:
    return [RoundSeeds(job.seed, index) for index in job.rounds]


class Inline:
    """Every job here, one after another."""

    name, parallelism = "inline", 1

    def check(self, device: torch.device) -> None:
        pass

    def run(self, jobs: list[Job], context: Context) -> Results:
        for job in jobs:
            context.started(job)
            yield job, train_rounds(job.task, job.config, context.prepared[job.experiment_id], _seeds(job),
                                    context.device, lambda k, e, row, job=job: context.epoch(job, k, e, row),
                                    context.accel, job.keep)


_WORKER_DATA: dict = {}  # per worker process: the prepared data, loaded once for all the jobs it trains


def train_elsewhere(job: Job, data_dir: Path, device: str, accel: Acceleration, threads: int) -> list[RoundResult]:
    """One job in a worker process (ours, or a Ray worker's), with `threads` CPU threads; the data is loaded once
    per process."""
    torch.set_num_threads(threads)
    key = (job.task.name, job.task.data_key(job.config), str(data_dir))
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[key] = job.task.prepare(job.config, data_dir, False)
    return train_rounds(job.task, job.config, _WORKER_DATA[key], _seeds(job), torch.device(device), accel=accel,
                        keep=job.keep)


PARENT_POLL_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """In a worker process: exit as soon as the driver that started it is gone, even killed with SIGKILL (which
    gives the pool no chance to stop its workers), instead of training on for nobody."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class WorkerLost(SuiteError):
    """A worker process died under the executor; what was stored stays stored."""


@dataclasses.dataclass(frozen=True)
class Processes:
    """`workers` local processes, the CPU threads split between them."""

    workers: int
    name = "process"

    @property
    def parallelism(self) -> int:
        return self.workers

    def check(self, device: torch.device) -> None:
        if device.type != "cpu":
            raise SuiteError("--workers splits the CPU's threads between processes; on a GPU use --parallel-rounds")

    def run(self, jobs: list[Job], context: Context) -> Results:
        threads = max(1, torch.get_num_threads() // self.workers)
        spawn = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools in an unusable state
        with ProcessPoolExecutor(self.workers, mp_context=spawn, initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(train_elsewhere, job, context.data_dir, str(context.device), context.accel,
                                   threads): job for job in jobs}
            for job in jobs:
                context.started(job)
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            except BrokenProcessPool:  # a worker was killed (by the OOM killer, say): the pool is unusable
                pool.shutdown(wait=False, cancel_futures=True)
                raise WorkerLost("a worker process died while training (killed, or out of memory?); the groups "
                                 "in flight were dropped") from None
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


@dataclasses.dataclass(frozen=True)
class Ray:
    """Each job one Ray task asking for `cpus` CPUs and `gpus` GPUs (fractions let small models share a GPU; with
    gpus > 0 the rounds train on CUDA). A task that raises or whose worker dies is retried `max_retries` times."""

    address: str | None = None  # "auto" or HOST:PORT; None starts a local Ray for this run
    max_retries: int = 2
    cpus: float = 1
    gpus: float = 0
    log: Callable[[str], None] | None = None
    name = "ray"
    parallelism = 1

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.cpus <= 0 or self.gpus < 0:
            raise SuiteError("--max-retries must be >= 0, --cpus-per-task > 0 and --gpus-per-task >= 0")

    def check(self, device: torch.device) -> None:
        check_ray()

    def run(self, jobs: list[Job], context: Context) -> Results:
        import ray

        started = connect(self.address)
        device = "cuda" if self.gpus > 0 else "cpu"
        remote = ray.remote(train_elsewhere).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                                     max_retries=self.max_retries, retry_exceptions=True)
        refs = {remote.remote(job, context.data_dir, device, context.accel, max(1, int(self.cpus))): job
                for job in jobs}
        try:
            resources = ray.cluster_resources()
            if self.log is not None:
                self.log(f"ray: {len(refs)} task(s) for {sum(len(j.rounds) for j in jobs)} round(s) submitted to "
                         f"{resources.get('CPU', 0):g} CPU(s), {resources.get('GPU', 0):g} GPU(s)")
            for job in jobs:
                context.started(job)
            while refs:
                (ref,), _ = ray.wait(list(refs), num_returns=1)
                job = refs.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayError as error:
                    what = f"grid cell {job.label}" if job.label else f"experiment {job.experiment_id}"
                    raise SuiteError(f"{what}, rounds {list(job.rounds)}: failed after {self.max_retries} "
                                     f"retries: {_cause(error)}") from None
                yield job, results
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def check_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SuiteError(f"--executor ray needs Ray, an optional extra: {RAY_INSTALL_HINT}") from None


def connect(address: str | None, log_level: int = logging.WARNING) -> bool:
    """Join the cluster at `address` ("auto" or HOST:PORT), or start a local Ray when None.
    Returns True when this call started Ray (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=log_level, configure_logging=True)
    except ConnectionError as error:
        raise SuiteError(f"--ray-address {address}: no Ray cluster reachable ({error})") from None
    return True


def _cause(error: Exception) -> str:
    cause = getattr(error, "cause", None)
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error).splitlines()[0]


def make_executor(name: str, *, workers: int = 1, ray_options: dict[str, Any] | None = None) -> Executor:
    """The executor `--executor NAME` asks for; `--workers N` > 1 makes the inline one local processes."""
    if name not in EXECUTORS:
        raise SuiteError(f"--executor: {name!r} is not one of {', '.join(EXECUTORS)}")
    ray = Ray(**(ray_options or {}))  # its options are checked whichever executor runs
    if name == "ray":
        if workers > 1:
            raise SuiteError("--workers is for --executor process; Ray places its tasks by --cpus-per-task")
        return ray
    if name == "process" or workers > 1:
        return Processes(workers)
    return Inline()
