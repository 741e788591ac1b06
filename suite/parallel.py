"""Several rounds trained at once as one stacked model (`--parallel-rounds K`).

The K models' parameters are stacked along a new leading dimension (torch.func.stack_module_state) and one
forward runs all K on their own batches, so small models fill the machine instead of paying Python and
kernel-launch overhead K times: through the model's `forward_stacked` (grouped convolutions and batched
matmuls, suite.grouped; 1.5× faster than vmap for the MNIST Siamese net) where it has one, under vmap otherwise.
Each round keeps its own data, initial weights, batch order and augmentation stream from its seeds. One optimizer
steps the stacked parameters: every supported optimizer and schedule is elementwise, so that is K independent
optimizers. The loss is the sum of the rounds' losses, whose gradient with respect to round k's slice is round k's
own gradient.

Exactly as in sequential training: data, initialisation, batch order, augmentation, early stopping (each round
stops, and has its best weights restored, at its own epoch; the stacked step simply keeps going until every round
has stopped), the final evaluation (the shared code, on an ordinary module per round). Not bit-identical: the
rounds share one dropout stream, and grouped kernels may sum in another order, so results agree in distribution,
and to rounding where no randomness is involved. Time and peak memory are measured once, for the group: every
round's result carries the group's measurement, and the store keeps it once.
"""

import copy
import time
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from suite.devices import PLAIN, Acceleration, PeakMemory
from suite.engine import (
    EarlyStopping,
    RoundResult,
    _prefixed,
    _to,
    check_patience,
    evaluate,
    finish,
    make_optimizer,
    make_schedule,
    place,
)
from suite.errors import SuiteError
from suite.registry import Split, Task


def check_stackable(splits: list[dict[str, Split]]) -> None:
    """Stacking needs every round's splits to have the same names and tensor shapes."""
    first = splits[0]
    for other in splits[1:]:
        for name in first.keys() | other.keys():
            a, b = first.get(name), other.get(name)
            if a is None or b is None or {k: v.shape for k, v in a.items()} != {k: v.shape for k, v in b.items()}:
                size_a = len(a["x"]) if a else 0
                size_b = len(b["x"]) if b else 0
                raise SuiteError(f"--parallel-rounds: this experiment's rounds differ in their {name} split "
                                 f"({size_a} vs {size_b} examples), so they cannot be stacked; use "
                                 "--parallel-rounds 1 or --workers")


def check_compile(accel: Acceleration, parallel_rounds: int | None) -> None:
    """torch.compile is applied to one round's module (engine.fit), so it cannot train stacked rounds."""
    if accel.compile and (parallel_rounds or 1) > 1:
        raise SuiteError("--compile works on one round at a time; leave out --parallel-rounds (or set it to 1)")


def fit_parallel(task: Task, config: Any, models: list[nn.Module], splits: list[dict[str, Split]],
                 device: torch.device, orders: list[torch.Generator], augments: list[torch.Generator | None],
                 on_epoch=None, accel: Acceleration = PLAIN) -> list[RoundResult]:
    """Train len(models) rounds together; `on_epoch(k, epoch, row)` is called for each round still training."""
    check_compile(accel, len(models))
    check_patience(config, splits[0])
    check_stackable(splits)
    rounds = len(models)
    start = time.perf_counter()
    with PeakMemory(device) as peak:
        splits = [{name: _to(split, device) for name, split in s.items()} for s in splits]
        models = [place(model, device) for model in models]
        params, buffers = stack_module_state(models)
        skeleton = copy.deepcopy(models[0]).to("meta")
        optimizer = make_optimizer(config, list(params.values()))
        schedule = make_schedule(config, optimizer)
        stopping = [EarlyStopping(config.patience) for _ in models]
        training = list(range(rounds))
        curves: list[list[dict]] = [[] for _ in models]
        epoch_seconds: list[float] = []
        train = {key: torch.stack([s["train"][key] for s in splits]) for key in splits[0]["train"]}
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            running = _train_epoch(task, config, skeleton, params, buffers, optimizer, train, orders, augments,
                                   accel)
            if schedule is not None:
                schedule.step()
            _unstack(params, buffers, models)
            stopped = []
            for k in training:
                row = {"lr": lr} | _prefixed("train", running[k])
                if "val" in splits[k]:
                    row |= _prefixed("val", evaluate(task, config, models[k], splits[k]["val"], accel))
                    if stopping[k].update(epoch, row["val_loss"], models[k]):
                        stopped.append(k)
                curves[k].append(row)
                if on_epoch is not None:
                    on_epoch(k, epoch, row)
            epoch_seconds.append(time.perf_counter() - t0)
            training = [k for k in training if k not in stopped]
            if not training:
                break
        finished = [finish(task, config, models[k], splits[k], stopping[k], len(curves[k]), accel)
                    for k in range(rounds)]
    seconds = time.perf_counter() - start
    return [RoundResult(metrics=m, curves=curves[k], epoch_seconds=epoch_seconds, seconds=seconds,
                        peak_memory_bytes=peak.bytes, device=accel.describe(device), scores=s, targets=t)
            for k, (m, s, t) in enumerate(finished)]


def _train_epoch(task: Task, config: Any, skeleton: nn.Module, params: dict, buffers: dict,
                 optimizer: torch.optim.Optimizer, train: Split, orders: list[torch.Generator],
                 augments: list[torch.Generator | None], accel: Acceleration) -> list[dict[str, float]]:
    rounds, n = train["x"].shape[:2]
    device = train["x"].device
    perms = torch.stack([torch.randperm(n, generator=g) for g in orders]).to(device)
    rows = torch.arange(rounds, device=device)[:, None]

    skeleton.train()
    stacked_step = _stacked_step(task, config, skeleton)
    loss_sums = torch.zeros(rounds, device=device)
    seen = []
    for index in perms.split(config.batch_size, dim=1):
        batch = {key: value[rows, index] for key, value in train.items()}
        with accel.autocast(device):
            x = torch.stack([task.transform(config, batch["x"][k], augments[k]) for k in range(rounds)])
            losses, outputs = stacked_step(params, buffers, x, batch)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        optimizer.step()
        loss_sums += losses.detach() * index.shape[1]
        seen.append({key: v.detach().float() for key, v in outputs.items()})
    outputs = {key: torch.cat([s[key] for s in seen], dim=1) for key in seen[0]}
    shuffled = {key: value[rows, perms] for key, value in train.items()}
    return [{"loss": float(loss_sums[k]) / n,
             **task.metrics(config, {key: v[k] for key, v in outputs.items()},
                            {key: v[k] for key, v in shuffled.items()})} for k in range(rounds)]


def _stacked_step(task: Task, config: Any, skeleton: nn.Module):
    """(params, buffers, x, batch) → (per-round losses, per-round outputs), each with the rounds first.

    The model's own `forward_stacked` (grouped layers, suite.grouped) where it has one and no buffers, with the
    task's `stacked_loss` (one call for all rounds: a per-round Python loop over the loss cost a quarter of the
    step); otherwise vmap over the model and its loss."""
    if hasattr(skeleton, "forward_stacked") and not any(True for _ in skeleton.buffers()):
        def grouped_step(p, b, x, batch):
            outputs = skeleton.forward_stacked(p, x)
            return task.stacked_loss(config, outputs, batch), outputs
        return grouped_step

    def forward_loss(p, b, x, batch):
        outputs = functional_call(skeleton, (p, b), (x,))
        return task.loss(config, outputs, batch), outputs

    return vmap(forward_loss, randomness="different")  # dropout masks differ between rounds


@torch.no_grad()
def _unstack(params: dict, buffers: dict, models: list[nn.Module]) -> None:
    """Copy each round's slice of the stacked weights into its own module (for evaluation and early stopping)."""
    for k, model in enumerate(models):
        for name, tensor in model.named_parameters():
            tensor.copy_(params[name][k])
        for name, tensor in model.named_buffers():
            tensor.copy_(buffers[name][k])
