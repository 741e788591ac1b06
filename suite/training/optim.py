"""The optimizer and learning-rate schedule a config names, over any parameters (one model's, or k stacked)."""

from typing import Any

import torch


def make_optimizer(config: Any, params) -> torch.optim.Optimizer:
    # One kernel per parameter update instead of a Python loop: `fused` where torch has it (Adam, AdamW, SGD), else
    # `foreach` (RMSprop), which torch picks by default only on a GPU although it is the same arithmetic on a CPU.
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
