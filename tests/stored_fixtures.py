"""Results stores with known per-round values, written through the real Store, for compare/report tests."""

from pathlib import Path

import torch

from suite.core.config import config_dict, config_hash
from suite.core.records import RoundResult
from suite.results.store import Store
from suite_tasks.mnist_pairs.task import MnistConfig

ENV = {"code_version": "test", "torch_version": "x", "python_version": "3", "device": "cpu"}


def round_result(accuracy: float, epochs: int = 3, scores: list[float] | None = None) -> RoundResult:
    """A finished round whose curves approach `accuracy`; optional test scores with alternating targets."""
    curves = [{"lr": 1e-3, "train_loss": 1 / (e + 1), "train_accuracy": accuracy * (e + 1) / epochs,
               "val_loss": 1.2 / (e + 1), "val_accuracy": accuracy * (e + 0.5) / epochs} for e in range(epochs)]
    result = RoundResult(metrics={"test_accuracy": accuracy, "test_loss": 1 - accuracy, "epochs": float(epochs)},
                         curves=curves, epoch_seconds=[0.5 + accuracy] * epochs, seconds=2.0,
                         peak_memory_bytes=2**20, device="cpu")
    if scores is not None:
        result.scores = {"test": torch.tensor(scores)}
        result.targets = {"test": torch.tensor([i % 2 for i in range(len(scores))])}
    return result


def diverged_result(epoch: int = 2) -> RoundResult:
    """A round whose loss became non-finite at `epoch`: its curves up to there, no scores."""
    curves = [{"lr": 1e-3, "train_loss": 1 / (e + 1) if e + 1 < epoch else float("nan")} for e in range(epoch)]
    return RoundResult(metrics={"epochs": float(epoch), "diverged_epoch": float(epoch)}, curves=curves,
                       epoch_seconds=[0.5] * epoch, seconds=1.0, peak_memory_bytes=2**20, device="cpu",
                       diverged_epoch=epoch)


def add_experiment(store: Store, values: list[float | None], seed: int = 0, scores: bool = False,
                   **overrides) -> int:
    """An mnist experiment with these config overrides and one round per value (base seed `seed`): finished with
    that test accuracy, or diverged where the value is None."""
    config = MnistConfig(**overrides)
    experiment = store.ensure_experiment("mnist", config_hash("mnist", config), config_dict(config), ENV)
    for index, value in enumerate(values):
        round_scores = [0.9, 0.2, 0.6, 0.4, 0.3, 0.8] if scores else None
        store.add_round(experiment, index, seed, diverged_result() if value is None
                        else round_result(value, scores=round_scores))
    return experiment


def comparison_store(path: Path) -> Store:
    """Experiments 1–3 share seed 0 (paired with each other); experiment 4 ran seed 7 (unpaired)."""
    store = Store(path)
    add_experiment(store, [0.80, 0.82, 0.79, 0.81, 0.83], model="baseline")
    add_experiment(store, [0.84, 0.85, 0.86, 0.83, 0.88])
    add_experiment(store, [0.90, 0.93, 0.91, 0.92, 0.94], w_sharing=True)
    add_experiment(store, [0.86, 0.84, 0.87, 0.85], seed=7, aux_loss=True)
    return store
