"""What training hands back for one round: plain data that the store persists and statistics read."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


FINISHED, DIVERGED = "finished", "diverged"  # a stored round's status
STATUSES = (FINISHED, DIVERGED)


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
    # The code the round ran with (suite.core.identity), found where it trained: a cluster's worker may differ.
    code_digest: str = "unknown"
    code_commit: str = ""
    # The epoch (1-based) at which the round's loss or outputs became non-finite; None for a round that finished.
    # A diverged round is a result: stored with its curves and the metrics it has, counted in every summary.
    diverged_epoch: int | None = None
    # With --save-models: the trained weights (CPU tensors, "best" or "final" in weights_kind) and the round's
    # preprocessing state from round_data (Task.ROUND_STATE), what `suite predict` needs besides the config.
    weights: dict[str, torch.Tensor] | None = None
    weights_kind: str = ""
    state: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)

    @property
    def status(self) -> str:
        return FINISHED if self.diverged_epoch is None else DIVERGED
