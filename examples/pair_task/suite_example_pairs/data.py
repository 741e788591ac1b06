"""The example's data: pairs of noisy views of random prototypes, their standardisation, and `suite predict`'s
input files. Sampling draws from the generator it is given, and from nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from suite import Split, SuiteError


def units(dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each coordinate's scale and offset, fixed: the raw vectors mix units (scales from 0.1 to 10), as measured
    features do, so a model needs them standardised."""
    return torch.logspace(-1, 1, dim), torch.linspace(-5, 5, dim)


def draw_pairs(n: int, classes: int, dim: int, noise: float, generator: torch.Generator) -> Split:
    """n pairs over `classes` fresh prototypes: half of them two views of one prototype (target 1), half views of
    two different ones (target 0). Every view is its prototype plus Gaussian noise of std `noise`."""
    prototypes = torch.randn(classes, dim, generator=generator)
    same = torch.randperm(n, generator=generator) < (n + 1) // 2  # exactly balanced, in random places
    first = torch.randint(classes, (n,), generator=generator)
    other = (first + torch.randint(1, classes, (n,), generator=generator)) % classes  # any class but the first
    second = torch.where(same, first, other)
    views = prototypes[torch.stack([first, second], 1)] + noise * torch.randn(n, 2, dim, generator=generator)
    scale, offset = units(dim)
    return {"x": views * scale + offset, "target": same.long()}


def standardisation(train_x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-coordinate mean and std of a round's training vectors (N×2×dim): fitted on training data only, so
    nothing of the test pairs leaks into their preprocessing."""
    flat = train_x.reshape(-1, train_x.shape[-1])
    return {"mean": flat.mean(0), "std": flat.std(0).clamp_min(1e-6)}


def standardise(x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
    return (x - state["mean"]) / state["std"]


def read_pairs(paths: list[Path], dim: int) -> tuple[torch.Tensor, list[str]]:
    """`suite predict pairs FILE…`: .npy files of raw vectors, each one pair (2×dim) or several (N×2×dim), as one
    float N×2×dim tensor and a name per pair."""
    arrays, names = [], []
    for path in paths:
        try:
            array = np.load(path, allow_pickle=False)  # never unpickle a file someone handed us
        except (ValueError, OSError) as exc:
            raise SuiteError(f"{path}: not a readable .npy array ({exc})") from None
        array = array[None] if array.ndim == 2 else array
        if array.ndim != 3 or array.shape[1:] != (2, dim) or not np.issubdtype(array.dtype, np.number):
            raise SuiteError(f"{path}: expected numbers of shape 2×{dim} (or N×2×{dim}), got "
                             f"{'×'.join(map(str, array.shape))} of {array.dtype}")
        arrays.append(torch.from_numpy(array.astype(np.float32)))
        names += [f"{path} [{i}]" for i in range(len(array))]
    if not arrays:
        raise SuiteError("pairs: give one or more .npy files of vector pairs")
    return torch.cat(arrays), names
