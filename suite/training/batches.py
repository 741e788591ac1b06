"""Splits as dicts of tensors: moved to the device once, batches taken by index, outputs gathered."""

import torch

from suite.core.registry import Split


def to_device(split: Split, device: torch.device) -> Split:
    return {k: v.to(device, non_blocking=True) for k, v in split.items()}


def take(split: Split, index: torch.Tensor) -> Split:
    return {k: v[index] for k, v in split.items()}


def cat(chunks: list[dict[str, torch.Tensor]], dim: int = 0) -> dict[str, torch.Tensor]:
    return {k: torch.cat([c[k] for c in chunks], dim=dim) for k in chunks[0]}


def prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items()}
