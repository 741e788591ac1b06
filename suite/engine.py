"""The generic training loop: epochs, optimizer, per-epoch metrics, final test metrics, timings, memory.

It knows nothing about digits or faces: the task supplies the model, loss and metrics; splits are dicts of
tensors whose "x" is the model input. Data sets here are small, so each split is moved to the device once
and batches are taken by index, with no DataLoader and no host synchronisation inside the step loop.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from suite.devices import PLAIN, Acceleration, PeakMemory
from suite.errors import SuiteError
from suite.registry import Split, Task

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclasses.dataclass
class RoundResult:
    metrics: dict[str, float]  # test_*, train_*, val_* of the final (or restored best) model; epochs, best_epoch
    curves: list[dict[str, float]]  # one dict per epoch: lr, train_*, val_* ...
    # The measurement of the training run that produced the round: for stacked rounds the whole group's, shared.
    epoch_seconds: list[float]
    seconds: float
    peak_memory_bytes: int
    device: str
    scores: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # split → one score per example
    targets: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # split → the scored labels


def make_optimizer(config: Any, params) -> torch.optim.Optimizer:
    # One kernel per parameter update instead of a Python loop: `fused` where torch has it (Adam, AdamW, SGD; on a
    # CPU it was 5 % faster than foreach per stacked MNIST epoch, 4 of 4 alternating runs), else `foreach`
    # (RMSprop), which torch picks by default only on a GPU although it is the same arithmetic on a CPU.
    name, lr, wd = config.optimizer, config.lr, config.weight_decay
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd, fused=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, fused=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd, foreach=True)
    raise ValueError(f"optimizer {name!r}")  # the config's choices make this unreachable


def make_schedule(config: Any, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Stepped once per epoch."""
    sched = torch.optim.lr_scheduler
    if config.schedule == "paper":  # Koch et al.: the learning rate decays by 1 % per epoch
        return sched.ExponentialLR(optimizer, gamma=0.99)
    if config.schedule == "step":
        return sched.MultiStepLR(optimizer, milestones=[config.step_epoch], gamma=0.1)
    if config.schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


def place(model: nn.Module, device: torch.device) -> nn.Module:
    """The model on the device, its 4-d (conv) weights channels-last: oneDNN (CPU) and cuDNN (GPU) run
    convolutions faster in that layout (LFW `small`: 1.7× per batch on 2 CPU cores); other weights are untouched.
    cuDNN's autotuning (cudnn.benchmark) stays off: on an H100 it gave koch's bf16 epoch no gain (0.244 s against
    0.246 s) and cost 5–15 s of timing at each new shape."""
    return model.to(device, memory_format=torch.channels_last)


def _to(split: Split, device: torch.device) -> Split:
    return {k: v.to(device, non_blocking=True) for k, v in split.items()}


def _take(split: Split, index: torch.Tensor) -> Split:
    return {k: v[index] for k, v in split.items()}


def _cat(chunks: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items()}


@torch.no_grad()
def predict(task: Task, config: Any, model: nn.Module, split: Split,
            accel: Acceleration = PLAIN) -> dict[str, torch.Tensor]:
    """The model's outputs over a whole split, in eval mode, in chunks (as float32 whatever the precision)."""
    model.eval()
    x, step = split["x"], task.eval_batch_size
    with accel.autocast(x.device):
        chunks = [model(task.transform(config, x[i:i + step], None)) for i in range(0, len(x), step)]
    return {k: v.float() for k, v in _cat(chunks).items()}


def split_metrics(task: Task, config: Any, outputs: dict[str, torch.Tensor], split: Split) -> dict[str, float]:
    return {"loss": float(task.loss(config, outputs, split)), **task.metrics(config, outputs, split)}


def evaluate(task: Task, config: Any, model: nn.Module, split: Split,
             accel: Acceleration = PLAIN) -> dict[str, float]:
    """Loss and task metrics of the model in eval mode over a whole split."""
    return split_metrics(task, config, predict(task, config, model, split, accel), split)


def _train_epoch(task: Task, config: Any, model: nn.Module, optimizer: torch.optim.Optimizer,
                 split: Split, order: torch.Generator, augment: torch.Generator | None,
                 accel: Acceleration) -> dict[str, float]:
    model.train()
    n = len(split["x"])
    device = split["x"].device
    perm = torch.randperm(n, generator=order).to(device)
    loss_sum = torch.zeros((), device=device)
    seen: list[dict[str, torch.Tensor]] = []
    for index in perm.split(config.batch_size):
        batch = _take(split, index)
        with accel.autocast(device):
            outputs = model(task.transform(config, batch["x"], augment))
            loss = task.loss(config, outputs, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(index)
        seen.append({k: v.detach().float() for k, v in outputs.items()})
    # Running metrics of the epoch, from the outputs the model gave while it trained.
    running = task.metrics(config, _cat(seen), _take(split, perm))
    return {"loss": float(loss_sum) / n, **running}


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


def finish(task: Task, config: Any, model: nn.Module, splits: dict[str, Split], stopping: EarlyStopping,
           epochs_run: int, accel: Acceleration = PLAIN
           ) -> tuple[dict[str, float], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """After training: restore the best epoch's weights (early stopping), then measure the model on every split.
    Returns the round's metrics and its val/test scores with their targets."""
    if stopping.best_state is not None:
        model.load_state_dict(stopping.best_state)
    metrics = {"epochs": float(epochs_run)}
    if stopping.best_epoch >= 0:
        metrics["best_epoch"] = float(stopping.best_epoch + 1)
    outputs = {name: predict(task, config, model, split, accel) for name, split in splits.items()}
    for name, split in splits.items():
        metrics |= _prefixed(name, split_metrics(task, config, outputs[name], split))
    metrics |= task.final_metrics(config, outputs, splits)
    scores = {name: s.cpu() for name in ("val", "test") if name in splits
              and (s := task.scores(config, outputs[name], splits[name])) is not None}
    targets = {name: splits[name]["target"].cpu() for name in scores if "target" in splits[name]}
    return metrics, scores, targets


def fit(task: Task, config: Any, model: nn.Module, splits: dict[str, Split], device: torch.device,
        order: torch.Generator, on_epoch: EpochCallback | None = None,
        augment: torch.Generator | None = None, accel: Acceleration = PLAIN) -> RoundResult:
    """Train up to config.epochs epochs (early stopping on validation loss when config.patience > 0, restoring
    the best epoch's weights), then measure the model on every split."""
    check_patience(config, splits)
    start = time.perf_counter()
    with PeakMemory(device) as peak:
        splits = {name: _to(split, device) for name, split in splits.items()}
        model = place(model, device)
        optimizer = make_optimizer(config, model.parameters())
        if accel.compile:  # after the optimizer took the parameters; the compiled module shares them
            model = torch.compile(model)
        schedule = make_schedule(config, optimizer)
        stopping = EarlyStopping(config.patience)
        curves, epoch_seconds = [], []
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            row = {"lr": optimizer.param_groups[0]["lr"]}
            row |= _prefixed("train", _train_epoch(task, config, model, optimizer, splits["train"], order, augment,
                                                   accel))
            if schedule is not None:
                schedule.step()
            stop = False
            if "val" in splits:
                row |= _prefixed("val", evaluate(task, config, model, splits["val"], accel))
                stop = stopping.update(epoch, row["val_loss"], model)
            epoch_seconds.append(time.perf_counter() - t0)
            curves.append(row)
            if on_epoch is not None:
                on_epoch(epoch, row)
            if stop:
                break
        metrics, scores, targets = finish(task, config, model, splits, stopping, len(curves), accel)
    return RoundResult(metrics=metrics, curves=curves, epoch_seconds=epoch_seconds,
                       seconds=time.perf_counter() - start, peak_memory_bytes=peak.bytes,
                       device=accel.describe(device),
                       scores=scores, targets=targets)
