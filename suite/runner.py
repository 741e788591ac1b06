"""Repeated randomized rounds of one experiment, resumable through the store."""

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from suite.config import config_dict, config_hash
from suite.devices import describe
from suite.engine import fit
from suite.environment import environment
from suite.registry import Task
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
                on_epoch=None):
    """One round: its data from the data stream, its init and noise from their own streams."""
    splits = task.round_data(prepared, config, seeds.generator("data"), seeds.round_index)
    torch.manual_seed(seeds.seed("init"))
    model = task.build_model(config)
    torch.manual_seed(seeds.seed("noise"))  # dropout and other training noise
    return fit(task, config, model, splits, device, seeds.generator("order"), on_epoch,
               augment=seeds.device_generator("augment", device))


def run_experiment(task: Task, config: Any, *, rounds: int, seed: int, device: torch.device, store: Store,
                   data_dir: Path, download: bool = False, fresh: bool = False, reporter=None) -> Outcome:
    # Data first: a missing or corrupt file must fail before anything is written to the store.
    prepared = task.prepare(config, data_dir, download)
    experiment_id = store.ensure_experiment(task.name, config_hash(task.name, config), config_dict(config),
                                            environment(describe(device)), task.setting(config, prepared))
    if fresh:
        store.delete_rounds(experiment_id, seed)
    done = store.finished_round_indices(experiment_id, seed) & set(range(rounds))
    ran = 0
    if reporter is not None:
        reporter.start(experiment_id, rounds, config.epochs, done)
    try:
        for index in range(rounds):
            if index in done:
                continue
            if reporter is not None:
                reporter.round_started(index)
            on_epoch = (lambda e, m, i=index: reporter.epoch(i, e, m)) if reporter is not None else None
            result = train_round(task, config, prepared, RoundSeeds(seed, index), device, on_epoch)
            store.add_round(experiment_id, index, seed, result)
            ran += 1
            if reporter is not None:
                reporter.round_finished(index, result.metrics)
    except KeyboardInterrupt:
        raise Interrupted(experiment_id, len(done) + ran) from None
    finally:
        if reporter is not None:
            reporter.close()
    return Outcome(experiment_id, store.rounds(experiment_id, seed, range(rounds)), len(done), ran)
