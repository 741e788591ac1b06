"""The example's two models. Each takes a batch of pairs, B×2×dim, and returns a dict of named outputs: here
only "logits", B×2 (different, same), which the task's loss, metrics and scores read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from suite_example_pairs.task import PairsConfig


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


class SiameseMlp(nn.Module):
    """One encoder reads both vectors (shared weights); the head sees |a − b| and a·b of the two embeddings, which
    do not depend on the order of the pair."""

    def __init__(self, dim: int, hidden: int, embedding: int) -> None:
        super().__init__()
        self.encoder = mlp(dim, hidden, embedding)
        self.head = mlp(2 * embedding, hidden, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a, b = self.encoder(x[:, 0]), self.encoder(x[:, 1])
        return {"logits": self.head(torch.cat([(a - b).abs(), a * b], -1))}


class ConcatMlp(nn.Module):
    """Both vectors side by side (2·dim inputs) through one MLP: it has to learn the comparison, and that the order
    of the pair does not matter, from the training pairs alone."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(2 * dim, hidden), nn.ReLU(), mlp(hidden, hidden, 2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.net(x)}


# The builders the task registers (by reference, suite.Lazy): a config in, an untrained nn.Module out.

def siamese(config: PairsConfig) -> nn.Module:
    return SiameseMlp(config.dim, config.hidden, config.embedding)


def concat(config: PairsConfig) -> nn.Module:
    return ConcatMlp(config.dim, config.hidden)
