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

from suite.devices import PeakMemory
from suite.registry import Split, Task

EpochCallback = Callable[[int, dict[str, float]], None]
EVAL_BATCH = 1024


@dataclasses.dataclass
class RoundResult:
    metrics: dict[str, float]  # test_*, train_* (final model), val_* (last epoch), epochs
    curves: list[dict[str, float]]  # one dict per epoch: train_loss, train_accuracy, val_* ...
    epoch_seconds: list[float]
    seconds: float
    peak_memory_bytes: int
    device: str


def make_optimizer(config: Any, params) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"optimizer {config.optimizer!r}")  # the config's choices make this unreachable


def _to(split: Split, device: torch.device) -> Split:
    return {k: v.to(device, non_blocking=True) for k, v in split.items()}


def _take(split: Split, index: torch.Tensor) -> Split:
    return {k: v[index] for k, v in split.items()}


def _cat(chunks: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items()}


@torch.no_grad()
def evaluate(task: Task, config: Any, model: nn.Module, split: Split) -> dict[str, float]:
    """Loss and task metrics of the model in eval mode over a whole split."""
    model.eval()
    n = len(split["x"])
    outputs = _cat([model(split["x"][i:i + EVAL_BATCH]) for i in range(0, n, EVAL_BATCH)])
    return {"loss": float(task.loss(config, outputs, split)), **task.metrics(config, outputs, split)}


def _train_epoch(task: Task, config: Any, model: nn.Module, optimizer: torch.optim.Optimizer,
                 split: Split, order: torch.Generator) -> dict[str, float]:
    model.train()
    n = len(split["x"])
    device = split["x"].device
    perm = torch.randperm(n, generator=order).to(device)
    loss_sum = torch.zeros((), device=device)
    seen: list[dict[str, torch.Tensor]] = []
    for index in perm.split(config.batch_size):
        batch = _take(split, index)
        outputs = model(batch["x"])
        loss = task.loss(config, outputs, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(index)
        seen.append({k: v.detach() for k, v in outputs.items()})
    # Running metrics of the epoch, from the outputs the model gave while it trained.
    running = task.metrics(config, _cat(seen), _take(split, perm))
    return {"loss": float(loss_sum) / n, **running}


def fit(task: Task, config: Any, model: nn.Module, splits: dict[str, Split], device: torch.device,
        order: torch.Generator, on_epoch: EpochCallback | None = None) -> RoundResult:
    """Train for config.epochs epochs, then measure the final model on every split."""
    start = time.perf_counter()
    with PeakMemory(device) as peak:
        splits = {name: _to(split, device) for name, split in splits.items()}
        model = model.to(device)
        optimizer = make_optimizer(config, model.parameters())
        curves, epoch_seconds = [], []
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            row = _prefixed("train", _train_epoch(task, config, model, optimizer, splits["train"], order))
            if "val" in splits:
                row |= _prefixed("val", evaluate(task, config, model, splits["val"]))
            epoch_seconds.append(time.perf_counter() - t0)
            curves.append(row)
            if on_epoch is not None:
                on_epoch(epoch, row)
        metrics = {"epochs": float(config.epochs)}
        for name, split in splits.items():
            metrics |= _prefixed(name, evaluate(task, config, model, split))
    return RoundResult(metrics=metrics, curves=curves, epoch_seconds=epoch_seconds,
                       seconds=time.perf_counter() - start, peak_memory_bytes=peak.bytes, device=str(device))
