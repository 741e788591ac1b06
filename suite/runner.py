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
from suite.parallel import fit_parallel
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


def train_group(task: Task, config: Any, prepared: Any, group: list[RoundSeeds], device: torch.device,
                on_epoch=None) -> list:
    """Several rounds trained as one stacked model (suite.parallel); each round's data, init, batch order and
    augmentation come from its own streams, as in train_round. Dropout draws from the first round's noise stream."""
    splits = [task.round_data(prepared, config, s.generator("data"), s.round_index) for s in group]
    models = []
    for s in group:
        torch.manual_seed(s.seed("init"))
        models.append(task.build_model(config))
    torch.manual_seed(group[0].seed("noise"))
    return fit_parallel(task, config, models, splits, device, [s.generator("order") for s in group],
                        [s.device_generator("augment", device) for s in group], on_epoch)


def run_experiment(task: Task, config: Any, *, rounds: int, seed: int, device: torch.device, store: Store,
                   data_dir: Path, download: bool = False, fresh: bool = False, reporter=None,
                   parallel_rounds: int = 1) -> Outcome:
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
    pending = [index for index in range(rounds) if index not in done]
    try:
        for start in range(0, len(pending), parallel_rounds):
            group = pending[start:start + parallel_rounds]
            if reporter is not None:
                for index in group:
                    reporter.round_started(index)
            if len(group) == 1:
                on_epoch = (lambda e, m, g=group: reporter.epoch(g[0], e, m)) if reporter is not None else None
                results = [train_round(task, config, prepared, RoundSeeds(seed, group[0]), device, on_epoch)]
            else:
                on_epoch = (lambda k, e, m, g=group: reporter.epoch(g[k], e, m)) if reporter is not None else None
                results = train_group(task, config, prepared, [RoundSeeds(seed, i) for i in group], device, on_epoch)
            for index, result in zip(group, results, strict=True):
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
