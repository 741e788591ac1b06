"""Repeated randomized rounds of one experiment, resumable through the store."""

import dataclasses
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from suite.config import config_dict, config_hash
from suite.devices import PLAIN, Acceleration, describe
from suite.engine import fit
from suite.environment import environment
from suite.errors import SuiteError
from suite.parallel import check_compile, fit_parallel
from suite.registry import Task, get_task
from suite.seeding import RoundSeeds
from suite.store import Store


class Interrupted(Exception):
    """Ctrl-C during a run: the round in progress is dropped, finished rounds stay stored."""

    def __init__(self, experiment_id: int, finished: int) -> None:
        super().__init__(f"experiment {experiment_id}: {finished} finished round(s) stored")
        self.experiment_id = experiment_id
        self.finished = finished


@dataclasses.dataclass
class Outcome:
    experiment_id: int
    rounds: pd.DataFrame  # the finished rounds 0..n-1 of this seed
    reused: int
    ran: int


def train_round(task: Task, config: Any, prepared: Any, seeds: RoundSeeds, device: torch.device,
                on_epoch=None, accel: Acceleration = PLAIN):
    """One round: its data from the data stream, its init and noise from their own streams."""
    splits = task.round_data(prepared, config, seeds.generator("data"), seeds.round_index)
    torch.manual_seed(seeds.seed("init"))
    model = task.build_model(config)
    torch.manual_seed(seeds.seed("noise"))  # dropout and other training noise
    return fit(task, config, model, splits, device, seeds.generator("order"), on_epoch,
               augment=seeds.device_generator("augment", device), accel=accel)


def train_group(task: Task, config: Any, prepared: Any, group: list[RoundSeeds], device: torch.device,
                on_epoch=None, accel: Acceleration = PLAIN) -> list:
    """Several rounds trained as one stacked model (suite.parallel); each round's data, init, batch order and
    augmentation come from its own streams, as in train_round. Dropout draws from the first round's noise stream."""
    splits = [task.round_data(prepared, config, s.generator("data"), s.round_index) for s in group]
    models = []
    for s in group:
        torch.manual_seed(s.seed("init"))
        models.append(task.build_model(config))
    torch.manual_seed(group[0].seed("noise"))
    results = fit_parallel(task, config, models, splits, device, [s.generator("order") for s in group],
                           [s.device_generator("augment", device) for s in group], on_epoch, accel)
    # Dropout depends on which rounds were stacked together: the round records them, so it can be reproduced.
    stacked = ",".join(str(s.round_index) for s in group)
    for result in results:
        result.device = f"{result.device} stacked:{stacked}"
    return results


def _train(task: Task, config: Any, prepared: Any, seeds: list[RoundSeeds], device: torch.device, on_epoch=None,
           accel: Acceleration = PLAIN):
    """Results of one group of rounds: alone (train_round) or stacked (train_group)."""
    if len(seeds) == 1:
        one = (lambda e, m: on_epoch(0, e, m)) if on_epoch is not None else None
        return [train_round(task, config, prepared, seeds[0], device, one, accel)]
    return train_group(task, config, prepared, seeds, device, on_epoch, accel)


_WORKER_DATA: dict = {}  # per worker process: the prepared data, loaded once for all the rounds it trains


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def train_in_worker(task: Task, config: Any, data_dir: Path, seed: int, group: list[int], device: str,
                    accel: Acceleration) -> list:
    """One group of rounds in a worker process (ours, or a Ray worker's): the data is loaded once per process."""
    key = (task.name, task.data_key(config), str(data_dir))
    if key not in _WORKER_DATA:
        _WORKER_DATA.clear()
        _WORKER_DATA[key] = task.prepare(config, data_dir, False)
    return _train(task, config, _WORKER_DATA[key], [RoundSeeds(seed, i) for i in group], torch.device(device),
                  accel=accel)


def _worker(task_name: str, config: Any, data_dir: Path, seed: int, group: list[int], device: str,
            accel: Acceleration) -> list:
    return train_in_worker(get_task(task_name), config, data_dir, seed, group, device, accel)


def _results(task: Task, config: Any, prepared: Any, groups: list[list[int]], seed: int, device: torch.device,
             data_dir: Path, workers: int, reporter, accel: Acceleration) -> Iterator[tuple[list[int], list]]:
    """(group, its results) as each group of rounds finishes: here, or in `workers` processes that split the
    CPU threads between them (results come back to this process, the store's only writer)."""
    if workers == 1:
        for group in groups:
            if reporter is not None:
                for index in group:
                    reporter.round_started(index)
            on_epoch = (lambda k, e, m, g=group: reporter.epoch(g[k], e, m)) if reporter is not None else None
            yield group, _train(task, config, prepared, [RoundSeeds(seed, i) for i in group], device, on_epoch,
                                accel)
        return
    threads = max(1, torch.get_num_threads() // workers)
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools in an unusable state
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        futures = {pool.submit(_worker, task.name, config, data_dir, seed, group, str(device), accel): group
                   for group in groups}
        if reporter is not None:
            for index in (i for group in groups for i in group):
                reporter.round_started(index)
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def open_experiment(task: Task, config: Any, prepared: Any, store: Store, device: torch.device) -> int:
    """The stored experiment of this config (created if new), with its environment and data setting."""
    return store.ensure_experiment(task.name, config_hash(task.name, config), config_dict(config),
                                   environment(describe(device)), task.setting(config, prepared))


def stack_size(task: Task, parallel_rounds: int | None, pending: int, workers: int, accel: Acceleration) -> int:
    """Rounds per stacked group. `auto` (None): for a task whose rounds stack well (Task.stack_rounds), all pending
    rounds, shared evenly between the workers; otherwise (and with --compile) one at a time."""
    if parallel_rounds is not None:
        return parallel_rounds
    if not task.stack_rounds or accel.compile or pending == 0:
        return 1
    return -(-pending // workers)


def round_groups(task: Task, parallel_rounds: int | None, pending: list[int], workers: int,
                 accel: Acceleration) -> list[list[int]]:
    """The pending round indices cut into the groups that train together (stack_size rounds each)."""
    size = stack_size(task, parallel_rounds, len(pending), workers, accel)
    return [pending[i:i + size] for i in range(0, len(pending), size)]


def run_experiment(task: Task, config: Any, *, rounds: int, seed: int, device: torch.device, store: Store,
                   data_dir: Path, download: bool = False, fresh: bool = False, reporter=None,
                   parallel_rounds: int | None = 1, workers: int = 1, accel: Acceleration = PLAIN,
                   prepared: Any = None) -> Outcome:
    """`parallel_rounds` None is `auto` (see stack_size); `prepared`: the task's data when the caller has it."""
    if workers > 1 and device.type != "cpu":
        raise SuiteError("--workers splits the CPU's threads between processes; on a GPU use --parallel-rounds")
    check_compile(accel, parallel_rounds)
    # Data first: a missing or corrupt file must fail before anything is written to the store.
    if prepared is None:
        prepared = task.prepare(config, data_dir, download)
    # The model next: a configuration its builder refuses (an input too small for the net, descriptors given to a
    # CNN) fails before the experiment is recorded. fork_rng: the rounds' own seeds decide every initialisation.
    with torch.random.fork_rng(devices=[]):
        task.build_model(config)
    experiment_id = open_experiment(task, config, prepared, store, device)
    if fresh:
        store.delete_rounds(experiment_id, seed)
    done = store.finished_round_indices(experiment_id, seed) & set(range(rounds))
    ran = 0
    if reporter is not None:
        reporter.start(experiment_id, rounds, config.epochs, done)
    pending = [index for index in range(rounds) if index not in done]
    groups = round_groups(task, parallel_rounds, pending, workers, accel)
    try:
        for group, results in _results(task, config, prepared, groups, seed, device, data_dir, workers, reporter,
                                        accel):
            store.add_group(experiment_id, seed, group, results)
            ran += len(group)
            if reporter is not None:
                for index, result in zip(group, results, strict=True):
                    reporter.round_finished(index, result.metrics)
    except KeyboardInterrupt:
        raise Interrupted(experiment_id, len(done) + ran) from None
    finally:
        if reporter is not None:
            reporter.close()
    return Outcome(experiment_id, store.rounds(experiment_id, seed, range(rounds)), len(done), ran)
