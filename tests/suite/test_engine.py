"""The generic loop: optimizers, learning-rate schedules, early stopping with restore of the best weights (on the toy
task: what is checked is the loop's, not a task's)."""

import math

import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.training.rounds import train_rounds
from tests.toy_task import TASK, ToyConfig

CPU = torch.device("cpu")


def run(**options):
    config = ToyConfig(pairs=60, batch_size=20, **options)
    return train_rounds(TASK, config, TASK.prepare(config, None, False), [RoundSeeds(0, 0)], CPU)[0]


@pytest.mark.parametrize("schedule,expected", [
    ("none", lambda e: 1.0),
    ("paper", lambda e: 0.99 ** e),
    ("step", lambda e: 1.0 if e < 3 else 0.1),
    ("cosine", lambda e: (1 + math.cos(math.pi * e / 6)) / 2),
])
def test_learning_rate_schedules(schedule, expected):
    result = run(epochs=6, schedule=schedule, step_epoch=3, lr=0.01)
    assert [c["lr"] for c in result.curves] == pytest.approx([0.01 * expected(e) for e in range(6)])


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_trains(optimizer):
    result = run(epochs=2, optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else 0.0)
    assert math.isfinite(result.metrics["train_loss"])


def test_early_stopping_restores_the_best_epoch():
    result = run(epochs=40, val_pairs=20, patience=2, lr=0.2)
    val_losses = [c["val_loss"] for c in result.curves]
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    assert len(val_losses) == best + 1 + 2 < 40  # stopped two epochs after the best
    assert result.metrics["best_epoch"] == best + 1 and result.metrics["epochs"] == len(val_losses)
    assert result.metrics["val_loss"] == pytest.approx(val_losses[best], rel=1e-6)  # best weights restored


def test_patience_without_validation_is_refused():
    with pytest.raises(SuiteError, match="needs a validation split"):
        run(epochs=2, patience=2)
