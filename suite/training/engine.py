"""The one training loop, for one round or K stacked rounds: epochs, schedule, per-epoch validation, early stopping
per round, curves, then every split measured once; time and peak memory measured once for the run.

It knows nothing about digits or faces: the task supplies the model, loss and metrics; splits are dicts of
tensors whose "x" is the model input. Data sets here are small, so each split is moved to the device once
and batches are taken by index, with no DataLoader and no host synchronisation inside the step loop. How the
steps are taken (one model, or K stacked) is the stepper's business (suite.training.steppers).
"""

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from suite.core.errors import SuiteError
from suite.core.records import RoundResult
from suite.core.registry import Split, Task
from suite.training.batches import cat, prefixed, to_device
from suite.training.devices import PLAIN, Acceleration, PeakMemory
from suite.training.optim import make_schedule
from suite.training.steppers import check_compile, check_stackable, make_stepper

# (round k of the run, epoch, that epoch's row: lr, train_*, val_*), for each round still training
EpochCallback = Callable[[int, int, dict[str, float]], None]


def place(model: nn.Module, device: torch.device) -> nn.Module:
    """The model on the device, its 4-d (conv) weights channels-last, the layout oneDNN (CPU) and cuDNN (GPU)
    run convolutions fastest in; other weights are untouched. cuDNN's autotuning stays off (no gain measured,
    seconds of timing at each new shape: docs/benchmarks.md)."""
    return model.to(device, memory_format=torch.channels_last)


@torch.no_grad()
def predict(task: Task, config: Any, model: nn.Module, split: Split,
            accel: Acceleration = PLAIN) -> dict[str, torch.Tensor]:
    """The model's outputs over a whole split, in eval mode, in chunks (as float32 whatever the precision)."""
    model.eval()
    x, step = split["x"], task.eval_batch_size
    with accel.autocast(x.device):
        chunks = [model(task.transform(config, x[i:i + step], None)) for i in range(0, len(x), step)]
    return {k: v.float() for k, v in cat(chunks).items()}


def split_metrics(task: Task, config: Any, outputs: dict[str, torch.Tensor], split: Split) -> dict[str, float]:
    return {"loss": float(task.loss(config, outputs, split)), **task.metrics(config, outputs, split)}


def evaluate(task: Task, config: Any, model: nn.Module, split: Split,
             accel: Acceleration = PLAIN) -> dict[str, float]:
    """Loss and task metrics of the model in eval mode over a whole split."""
    return split_metrics(task, config, predict(task, config, model, split, accel), split)


class EarlyStopping:
    """Tracks the epoch of lowest validation loss and keeps a copy of its weights."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def update(self, epoch: int, val_loss: float, model: nn.Module) -> bool:
        """Record this epoch; True when training should stop."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            if self.patience:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return bool(self.patience) and epoch - self.best_epoch >= self.patience


def check_patience(config: Any, splits: dict[str, Split]) -> None:
    if config.patience and "val" not in splits:
        raise SuiteError("--patience: early stopping needs a validation split, and this configuration has none")


def finite(values: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values.values())


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """A module's weights as plain CPU tensors (contiguous, so any layout saves), under their own names even when
    the module is torch.compile's wrapper."""
    module = getattr(model, "_orig_mod", model)
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


KEEP = ("best", "final")  # which weights --save-models keeps: after early stopping's restore, or the last epoch's


def finish(task: Task, config: Any, model: nn.Module, splits: dict[str, Split], stopping: EarlyStopping,
           epochs_run: int, accel: Acceleration = PLAIN, keep: str | None = None
           ) -> tuple[dict[str, float], dict[str, torch.Tensor], dict[str, torch.Tensor], bool,
                      dict[str, torch.Tensor] | None]:
    """After training: restore the best epoch's weights (early stopping), then measure the model on every split.
    Returns the round's metrics, its val/test scores with their targets, whether every output was finite
    (when not, the metrics are only the epochs: task metrics of non-finite outputs mean nothing), and with `keep`
    the weights: "final" those of the last epoch, "best" those measured (the restored best epoch's, or the last
    epoch's without early stopping)."""
    final = weights_of(model) if keep == "final" else None
    if stopping.best_state is not None:
        model.load_state_dict(stopping.best_state)
    weights = weights_of(model) if keep == "best" else final
    metrics = {"epochs": float(epochs_run)}
    if stopping.best_epoch >= 0:
        metrics["best_epoch"] = float(stopping.best_epoch + 1)
    outputs = {name: predict(task, config, model, split, accel) for name, split in splits.items()}
    if not all(finite(o) for o in outputs.values()):
        return metrics, {}, {}, False, None
    for name, split in splits.items():
        metrics |= prefixed(name, split_metrics(task, config, outputs[name], split))
    metrics |= task.final_metrics(config, outputs, splits)
    scores = {name: s.cpu() for name in ("val", "test") if name in splits
              and (s := task.scores(config, outputs[name], splits[name])) is not None}
    targets = {name: splits[name]["target"].cpu() for name in scores if "target" in splits[name]}
    return metrics, scores, targets, True, weights


def fit(task: Task, config: Any, models: list[nn.Module], splits: list[dict[str, Split]], device: torch.device,
        orders: list[torch.Generator], augments: list[torch.Generator | None],
        on_epoch: EpochCallback | None = None, accel: Acceleration = PLAIN,
        keep: str | None = None) -> list[RoundResult]:
    """Train len(models) rounds together, round k on splits[k] with its batch order and augmentation stream, up to
    config.epochs epochs. With config.patience > 0 each round stops on its validation loss at its own epoch and
    gets its best epoch's weights back (stacked steps go on until every round has stopped). Then each round is
    measured on every split. Every result carries the run's one measurement of time and memory.

    A round whose epoch loss or validation metrics become non-finite stops there, diverged (the others go on);
    one whose final outputs are non-finite diverged at its last epoch. Diverged rounds keep their curves and the
    metrics they have, never their scores or weights. `keep` ("best", "final"): each finished round's weights
    come back with it (see `finish`)."""
    check_compile(accel, len(models))
    check_patience(config, splits[0])
    check_stackable(splits)
    start = time.perf_counter()
    with PeakMemory(device) as peak:
        splits = [{name: to_device(split, device) for name, split in s.items()} for s in splits]
        models = [place(model, device) for model in models]
        stepper = make_stepper(task, config, models, [s["train"] for s in splits], orders, augments, accel)
        schedule = make_schedule(config, stepper.optimizer)
        stopping = [EarlyStopping(config.patience) for _ in models]
        training = list(range(len(models)))
        diverged: dict[int, int] = {}  # round → the epoch (1-based) whose numbers were not finite
        curves: list[list[dict[str, float]]] = [[] for _ in models]
        epoch_seconds: list[float] = []
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            lr = stepper.optimizer.param_groups[0]["lr"]
            running = stepper.train_epoch()
            if schedule is not None:
                schedule.step()
            stepper.sync()
            stopped = []
            for k in training:
                row = {"lr": lr} | prefixed("train", running[k])
                if "val" in splits[k]:
                    row |= prefixed("val", evaluate(task, config, stepper.models[k], splits[k]["val"], accel))
                if not all(math.isfinite(v) for v in row.values()):
                    diverged[k] = epoch + 1
                    stopped.append(k)
                elif "val" in splits[k] and stopping[k].update(epoch, row["val_loss"], stepper.models[k]):
                    stopped.append(k)
                curves[k].append(row)
                if on_epoch is not None:
                    on_epoch(k, epoch, row)
            epoch_seconds.append(time.perf_counter() - t0)
            training = [k for k in training if k not in stopped]
            if not training:
                break
        finished = [finish(task, config, stepper.models[k], splits[k], stopping[k], len(curves[k]), accel, keep)
                    for k in range(len(models))]
    seconds = time.perf_counter() - start
    results = []
    for k, (metrics, scores, targets, outputs_finite, weights) in enumerate(finished):
        epoch = diverged.get(k, None if outputs_finite else len(curves[k]))
        if epoch is not None:
            metrics, scores, targets, weights = metrics | {"diverged_epoch": float(epoch)}, {}, {}, None
        results.append(RoundResult(metrics=metrics, curves=curves[k], epoch_seconds=epoch_seconds, seconds=seconds,
                                   peak_memory_bytes=peak.bytes, device=accel.describe(device), scores=scores,
                                   targets=targets, diverged_epoch=epoch, weights=weights,
                                   weights_kind=keep if weights is not None else ""))
    return results
