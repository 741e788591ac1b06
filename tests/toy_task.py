"""A toy task for the framework's tests: is the sum of one small random vector at most the sum of another?

Everything the Task contract asks for, through the public API (`suite`) only, with data drawn from each round's
generator (no files) and models so small that a round trains in a few milliseconds on a CPU. The framework tests
(runner, resume, stacking, worker processes, sweeps, store and report round trips) run on it; the real tasks keep
the tests of their own behaviour.

Two models: "mlp" (a hidden ReLU layer, optional dropout, with a `forward_stacked` through suite.grouped, so
stacked rounds take the grouped path) and "linear" (no `forward_stacked`, so stacked rounds take the vmap path).
The target is a linear function of the input, so both can learn it.

Imported by reference in worker processes (`tests.toy_task:TASK`), as the repository is on their path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from suite import (
    BaseConfig,
    Metric,
    NamedRegistry,
    Split,
    SuiteError,
    SweepPreset,
    Task,
    cumulative,
    grouped,
    option,
    percent,
    shared_option,
)

MODELS = NamedRegistry("model")


class Mlp(nn.Module):
    """Both vectors flattened (2·dim inputs) → hidden, ReLU, dropout → 2 logits."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.net(x)}

    def forward_stacked(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
        """K stacked rounds at once (suite.grouped): x is K×B×2×dim, the logits K×B×2."""
        return {"logits": grouped.sequential(self.net[1:], params, "net", x.flatten(2), len(x), self.training)}


class Linear(nn.Module):
    """2·dim inputs → 2 logits; no `forward_stacked`, so stacked rounds run it under vmap."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(2 * dim, 2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.net(x)}


@MODELS.register("mlp", "2·dim → hidden (ReLU, dropout) → 2 logits, with a grouped forward for stacked rounds.")
def mlp(config: ToyConfig) -> nn.Module:
    return Mlp(config.dim, config.hidden, config.dropout)


@MODELS.register("linear", "2·dim → 2 logits (stacked rounds under vmap).")
def linear(config: ToyConfig) -> nn.Module:
    return Linear(config.dim)


@dataclass(frozen=True)
class ToyConfig(BaseConfig):
    model: str = option("mlp", "Architecture.", choices=tuple(MODELS))
    dim: int = option(4, "Length of each vector of a pair.", min=1, max=64)
    hidden: int = option(16, "MLP: hidden units.", min=1, max=1024)
    dropout: float = option(0.0, "MLP: dropout rate after the hidden layer.", min=0.0, max=0.9)
    pairs: int = option(64, "Pairs per round in the training set and, separately, in the test set.",
                        min=1, max=100_000)
    val_pairs: int = option(0, "Validation pairs per round (0: no validation split).", min=0, max=100_000)
    epochs: int = shared_option("epochs", 3)
    batch_size: int = shared_option("batch_size", 16)
    lr: float = shared_option("lr", 0.01)

    def check(self) -> None:
        if self.model == "linear" and self.dropout:
            raise SuiteError("--dropout applies to --model mlp, not linear")


@dataclass(frozen=True)
class ToyData:
    """What `prepare` gives: nothing loaded, only the shape of what each round draws."""

    dim: int


PRESETS = NamedRegistry("preset")
PRESETS.register("linear", "The linear model.", {"model": "linear"})
PRESETS.register("mlp", "The MLP with its defaults.", {"model": "mlp"})
PRESETS.register("wide", "A wider MLP with dropout and early stopping on a validation split.",
                 {"model": "mlp", "hidden": 64, "dropout": 0.2, "val_pairs": 32, "patience": 2, "epochs": 10})

SWEEPS = NamedRegistry("sweep preset")
SWEEPS.register("toy-models", "Both models, the MLP with and without dropout (a list of cells: the linear model "
                "refuses --dropout).",
                SweepPreset({}, cells=[{"model": "linear"}, {"model": "mlp"}, {"model": "mlp", "dropout": 0.3}]))
SWEEPS.register("toy-lr-hidden", "The MLP: learning rate × hidden units.",
                SweepPreset({"model": "mlp"}, axes={"lr": [1e-3, 1e-2], "hidden": [8, 16]}))
SWEEPS.register("toy-ablation", "From the MLP's defaults one change more per cell.",
                SweepPreset({"model": "mlp"}, cells=cumulative([{}, {"hidden": 32}, {"dropout": 0.1},
                                                                {"schedule": "cosine"}])))


class ToyTask(Task):
    name = "toy"
    description = "Synthetic vector pairs (2×dim): is the first vector's sum <= the second's? (framework tests)"
    config_cls = ToyConfig
    models = MODELS
    presets = PRESETS
    sweeps = SWEEPS
    primary_metric = "test_accuracy"
    metric_declarations = (percent("accuracy", "pairs whose comparison is right"),
                           Metric("positive_rate", None, description="share of pairs predicted first <= second"))
    target_names = ("first > second", "first <= second")
    data_fields = ("dim",)
    stack_rounds = True  # every round's splits have the config's sizes
    reads_data = False  # it draws its pairs: no data directory needed
    eval_batch_size = 50  # not a divisor of the split sizes: evaluation runs in uneven chunks

    def prepare(self, config: ToyConfig, data_dir: Path, download: bool) -> ToyData:
        """No files to read (data_dir is not looked at): what the rounds draw from."""
        return ToyData(config.dim)

    def setting(self, config: ToyConfig, prepared: ToyData) -> dict[str, str]:
        return {"data": f"synthetic: pairs of {prepared.dim}-value vectors, uniform on [0, 1)"}

    def round_data(self, prepared: ToyData, config: ToyConfig, generator: torch.Generator,
                   round_index: int = 0) -> dict[str, Split]:
        # Drawn in a fixed order from the data stream only, so model options never change the pairs.
        def draw(n: int) -> Split:
            x = torch.rand(n, 2, prepared.dim, generator=generator)
            return {"x": x, "target": (x[:, 0].sum(-1) <= x[:, 1].sum(-1)).long()}

        train, test = draw(config.pairs), draw(config.pairs)
        splits = {"train": train, "test": test}
        return splits | ({"val": draw(config.val_pairs)} if config.val_pairs else {})

    def loss(self, config: ToyConfig, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"], batch["target"])

    def stacked_loss(self, config: ToyConfig, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        """Each round's mean cross-entropy without vmap: outputs K×B×2, targets K×B."""
        logits, target = outputs["logits"], batch["target"]
        terms = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
        return terms.view(target.shape).mean(1)

    def metrics(self, config: ToyConfig, outputs: dict[str, torch.Tensor], batch: Split) -> dict[str, float]:
        predicted = outputs["logits"].argmax(-1)
        return {"accuracy": float((predicted == batch["target"]).float().mean()),
                "positive_rate": float(predicted.float().mean())}

    def scores(self, config: ToyConfig, outputs: dict[str, torch.Tensor], split: Split) -> torch.Tensor:
        return torch.softmax(outputs["logits"].float(), -1)[:, 1]


TASK = ToyTask()
