"""A group of rounds from their seeds: each round's data, initial weights and noise from its own streams, then the
one training loop (suite.training.engine.fit): alone for one round, stacked for several."""

from typing import Any

import torch

from suite.core.identity import code_identity
from suite.core.records import RoundResult
from suite.core.registry import ROUND_STATE, Task
from suite.core.seeding import RoundSeeds
from suite.training.devices import PLAIN, Acceleration
from suite.training.engine import EpochCallback, fit


def train_rounds(task: Task, config: Any, prepared: Any, seeds: list[RoundSeeds], device: torch.device,
                 on_epoch: EpochCallback | None = None, accel: Acceleration = PLAIN,
                 keep: str | None = None) -> list[RoundResult]:
    """Each round's data from its data stream, its model from its init stream; dropout and other training noise
    from the first round's noise stream (so stacked rounds depend on which rounds were stacked together: the
    result's device says so, and the group can be reproduced). `keep`: weights to hand back (--save-models), with
    each round's preprocessing state (what round_data returned under ROUND_STATE)."""
    splits = [task.round_data(prepared, config, s.generator("data"), s.round_index) for s in seeds]
    states = [s.pop(ROUND_STATE, {}) for s in splits]  # not a split: nothing trains or is measured on it
    models = []
    for s in seeds:
        torch.manual_seed(s.seed("init"))
        models.append(task.build_model(config))
    torch.manual_seed(seeds[0].seed("noise"))
    results = fit(task, config, models, splits, device, [s.generator("order") for s in seeds],
                  [s.device_generator("augment", device) for s in seeds], on_epoch, accel, keep)
    code = code_identity(task)
    stacked = ",".join(str(s.round_index) for s in seeds)
    for result, state in zip(results, states, strict=True):
        result.code_digest, result.code_commit = code.digest, code.commit
        if result.weights is not None:
            result.state = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
        if len(seeds) > 1:
            result.device = f"{result.device} stacked:{stacked}"
    return results
