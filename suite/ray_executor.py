"""`suite sweep --executor ray`: a sweep's rounds as Ray tasks, on a local Ray or an existing cluster.

Each group of rounds (one round, unless the rounds are stacked: see runner.stack_size) is one Ray task that asks
for `cpus` CPUs and `gpus` GPUs (fractions allowed, so small models can share a GPU). The task trains exactly
what the local executor trains for those rounds (same seeds, same grouping), and returns the results to this
process, which alone writes the store, as each task finishes: a driver that dies loses only the rounds in
flight, and rerunning the command trains only those. A task that raises or whose worker dies is retried up to
`max_retries` times by Ray.

Every machine of a cluster needs this package installed (same version) and the data at the same path (or
$SUITE_DATA_DIR set there); see the README's "Scaling out".
"""

import logging
import sys
from pathlib import Path
from typing import Any

import torch

from suite import registry
from suite.devices import Acceleration
from suite.errors import SuiteError
from suite.metrics import declaration
from suite.runner import round_groups, train_in_worker
from suite.store import Store

INSTALL_HINT = "pip install -e '.[ray]' in the suite checkout (or pip install 'ray[default]')"


def check_available() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SuiteError(f"--executor ray needs Ray, an optional extra: {INSTALL_HINT}") from None


def _train_rounds(task: registry.Task, config: Any, data_dir: Path, seed: int, group: list[int], device: str,
                  accel: Acceleration, threads: int) -> list:
    torch.set_num_threads(threads)  # as many as the CPUs the task asked for
    return train_in_worker(task, config, data_dir, seed, group, device, accel)


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


def run(task: registry.Task, cells: list, experiment_ids: list[int], *, store: Store, rounds: int, seed: int,
        data_dir: Path, parallel_rounds: int | None, accel: Acceleration, address: str | None = None,
        max_retries: int = 2, cpus: float = 1, gpus: float = 0, log=None) -> int:
    """Submit every missing group of rounds, store each as it returns; returns the number of rounds trained."""
    import ray

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    started = connect(address)
    device = "cuda" if gpus > 0 else "cpu"
    remote = ray.remote(_train_rounds).options(num_cpus=cpus, num_gpus=gpus, max_retries=max_retries,
                                               retry_exceptions=True)
    jobs = {}
    try:
        for cell, experiment_id in zip(cells, experiment_ids, strict=True):
            pending = sorted(set(range(rounds)) - store.finished_round_indices(experiment_id, seed))
            for group in round_groups(task, parallel_rounds, pending, 1, accel):
                ref = remote.remote(task, cell.config, data_dir, seed, group, device, accel, max(1, int(cpus)))
                jobs[ref] = (cell, experiment_id, group)
        log(f"ray: {len(jobs)} task(s) for {sum(len(g) for _, _, g in jobs.values())} round(s) submitted to "
            f"{ray.cluster_resources().get('CPU', 0):g} CPU(s), {ray.cluster_resources().get('GPU', 0):g} GPU(s)")
        ran = 0
        while jobs:
            (ref,), _ = ray.wait(list(jobs), num_returns=1)
            cell, experiment_id, group = jobs.pop(ref)
            try:
                results = ray.get(ref)
            except ray.exceptions.RayError as error:
                raise SuiteError(f"grid cell {cell.label}, rounds {group}: failed after {max_retries} "
                                 f"retries: {_cause(error)}") from None
            store.add_group(experiment_id, seed, group, results)
            ran += len(group)
            primary = declaration(task, task.primary_metric)
            for index, result in zip(group, results, strict=True):
                log(f"cell {cell.label} round {index + 1}/{rounds}: "
                    f"{primary.name}={primary.show(result.metrics.get(primary.name, float('nan')))}")
        return ran
    finally:
        for ref in jobs:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _cause(error: Exception) -> str:
    cause = getattr(error, "cause", None)
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(error).splitlines()[0]
