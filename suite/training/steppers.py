"""How the rounds of one training run take their steps: one model alone (OneRound), or K rounds at once as one
stacked model (StackedRounds, `--parallel-rounds K`). The epoch loop (suite.training.engine.fit) is the same for
both: it asks the stepper for an epoch of steps, then evaluates, stops early and finishes each round on its own
ordinary module (`stepper.models[k]`).

Stacked rounds: the K models' parameters are stacked along a new leading dimension (torch.func.stack_module_state)
and one forward runs all K on their own batches, so small models fill the machine instead of paying Python and
kernel-launch overhead K times: through the model's `forward_stacked` (grouped convolutions and batched matmuls,
suite.training.grouped) where it has one, under vmap otherwise. Each round keeps its own data, initial weights,
batch order and augmentation stream from its seeds. One optimizer steps the stacked parameters: every supported
optimizer and schedule is elementwise, so that is K independent optimizers. The loss is the sum of the rounds'
losses, whose gradient with respect to round k's slice is round k's own gradient. Not bit-identical to rounds
trained alone: the rounds share one dropout stream, and grouped kernels may sum in another order, so results agree
in distribution, and to rounding where no randomness is involved.
"""

import copy
from typing import Any, Protocol

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from suite.core.errors import SuiteError
from suite.core.registry import Split, Task
from suite.training.batches import cat, take
from suite.training.devices import Acceleration
from suite.training.optim import make_optimizer


class Stepper(Protocol):
    models: list[nn.Module]  # one ordinary module per round, current after `sync`
    optimizer: torch.optim.Optimizer

    def train_epoch(self) -> list[dict[str, float]]:
        """One epoch of steps for every round; each round's running loss and metrics."""

    def sync(self) -> None:
        """Bring every round's module up to date with the weights the steps changed."""


class OneRound:
    """One model, its own optimizer (and torch.compile when asked for: after the optimizer took the parameters,
    the compiled module shares them)."""

    def __init__(self, task: Task, config: Any, model: nn.Module, train: Split, order: torch.Generator,
                 augment: torch.Generator | None, accel: Acceleration) -> None:
        self.task, self.config, self.train, self.order, self.augment, self.accel = (
            task, config, train, order, augment, accel)
        self.optimizer = make_optimizer(config, model.parameters())
        self.models = [torch.compile(model) if accel.compile else model]

    def train_epoch(self) -> list[dict[str, float]]:
        task, config, model, split = self.task, self.config, self.models[0], self.train
        model.train()
        n = len(split["x"])
        device = split["x"].device
        perm = torch.randperm(n, generator=self.order).to(device)
        loss_sum = torch.zeros((), device=device)
        seen: list[dict[str, torch.Tensor]] = []
        for index in perm.split(config.batch_size):
            batch = take(split, index)
            with self.accel.autocast(device):
                outputs = model(task.transform(config, batch["x"], self.augment))
                loss = task.loss(config, outputs, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach() * len(index)
            seen.append({k: v.detach().float() for k, v in outputs.items()})
        # Running metrics of the epoch, from the outputs the model gave while it trained.
        running = task.metrics(config, cat(seen), take(split, perm))
        return [{"loss": float(loss_sum) / n, **running}]

    def sync(self) -> None:
        pass  # the module is what the optimizer steps


class StackedRounds:
    """K rounds' models stacked into one set of parameters, stepped by one optimizer (see the module's doc)."""

    def __init__(self, task: Task, config: Any, models: list[nn.Module], trains: list[Split],
                 orders: list[torch.Generator], augments: list[torch.Generator | None],
                 accel: Acceleration) -> None:
        self.task, self.config, self.orders, self.augments, self.accel = task, config, orders, augments, accel
        self.models = models
        self.params, self.buffers = stack_module_state(models)
        self.skeleton = copy.deepcopy(models[0]).to("meta")
        self.optimizer = make_optimizer(config, list(self.params.values()))
        self.train = {key: torch.stack([t[key] for t in trains]) for key in trains[0]}

    def train_epoch(self) -> list[dict[str, float]]:
        task, config, train, accel = self.task, self.config, self.train, self.accel
        rounds, n = train["x"].shape[:2]
        device = train["x"].device
        perms = torch.stack([torch.randperm(n, generator=g) for g in self.orders]).to(device)
        rows = torch.arange(rounds, device=device)[:, None]
        self.skeleton.train()
        stacked_step = _stacked_step(task, config, self.skeleton)
        loss_sums = torch.zeros(rounds, device=device)
        seen = []
        for index in perms.split(config.batch_size, dim=1):
            batch = {key: value[rows, index] for key, value in train.items()}
            with accel.autocast(device):
                x = torch.stack([task.transform(config, batch["x"][k], self.augments[k]) for k in range(rounds)])
                losses, outputs = stacked_step(self.params, self.buffers, x, batch)
            self.optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            self.optimizer.step()
            loss_sums += losses.detach() * index.shape[1]
            seen.append({key: v.detach().float() for key, v in outputs.items()})
        outputs = cat(seen, dim=1)
        shuffled = {key: value[rows, perms] for key, value in train.items()}
        return [{"loss": float(loss_sums[k]) / n,
                 **task.metrics(config, {key: v[k] for key, v in outputs.items()},
                                {key: v[k] for key, v in shuffled.items()})} for k in range(rounds)]

    @torch.no_grad()
    def sync(self) -> None:
        """Copy each round's slice of the stacked weights into its own module."""
        for k, model in enumerate(self.models):
            for name, tensor in model.named_parameters():
                tensor.copy_(self.params[name][k])
            for name, tensor in model.named_buffers():
                tensor.copy_(self.buffers[name][k])


def _stacked_step(task: Task, config: Any, skeleton: nn.Module):
    """(params, buffers, x, batch) → (per-round losses, per-round outputs), each with the rounds first.

    The model's own `forward_stacked` (grouped layers, suite.training.grouped) where it has one and no buffers,
    with the task's `stacked_loss` (one call for all rounds instead of a per-round Python loop over the loss);
    otherwise vmap over the model and its loss."""
    if hasattr(skeleton, "forward_stacked") and not any(True for _ in skeleton.buffers()):
        def grouped_step(p, b, x, batch):
            outputs = skeleton.forward_stacked(p, x)
            return task.stacked_loss(config, outputs, batch), outputs
        return grouped_step

    def forward_loss(p, b, x, batch):
        outputs = functional_call(skeleton, (p, b), (x,))
        return task.loss(config, outputs, batch), outputs

    return vmap(forward_loss, randomness="different")  # dropout masks differ between rounds


def make_stepper(task: Task, config: Any, models: list[nn.Module], trains: list[Split],
                 orders: list[torch.Generator], augments: list[torch.Generator | None],
                 accel: Acceleration) -> Stepper:
    if len(models) == 1:
        return OneRound(task, config, models[0], trains[0], orders[0], augments[0], accel)
    return StackedRounds(task, config, models, trains, orders, augments, accel)


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
    """torch.compile is applied to one round's module, so it cannot train stacked rounds."""
    if accel.compile and (parallel_rounds or 1) > 1:
        raise SuiteError("--compile works on one round at a time; leave out --parallel-rounds (or set it to 1)")
