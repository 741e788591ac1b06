"""The `pairs` task: is a pair of noisy vectors two views of the same prototype? Verification in miniature.

Each split draws its own prototypes, so the test pairs compare vectors of classes the model never saw in
training: it has to learn how to compare, not to recognise. Nothing is read from disk (reads_data = False).

This module imports no torch at the top (only for type hints): suite loads every installed task to list its
options, and reading them should not cost a torch import. The methods that compute import it when they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from suite import (
    ROUND_STATE,
    BaseConfig,
    Lazy,
    Metric,
    NamedRegistry,
    Split,
    SuiteError,
    SweepPreset,
    Task,
    option,
    percent,
    shared_option,
)

if TYPE_CHECKING:
    import torch

# The builders live in models.py, named by reference: imported (with torch) when a model is first built.
MODELS = NamedRegistry("model")
MODELS.register("siamese", "Shared MLP encoder for both vectors, head on |a − b| and a·b.",
                Lazy("suite_example_pairs.models:siamese"))
MODELS.register("concat", "Both vectors concatenated (2·dim) into one MLP.", Lazy("suite_example_pairs.models:concat"))


@dataclass(frozen=True)
class PairsConfig(BaseConfig):
    model: str = option("siamese", "Architecture.", choices=tuple(MODELS))
    dim: int = option(16, "Length of each vector.", min=2, max=1024)
    noise: float = option(0.7, "Std of the noise around each view's prototype (prototypes have std 1): larger "
                          "is harder.", min=0.0, max=10.0)
    classes: int = option(100, "Prototypes per split (train, validation and test each draw their own).",
                          min=2, max=100_000)
    pairs: int = option(512, "Pairs per round in the training set and, separately, in the test set.",
                        min=2, max=100_000)
    val_pairs: int = option(0, "Validation pairs per round (0: no validation split; --patience needs one).",
                            min=0, max=100_000)
    hidden: int = option(32, "Hidden units of each MLP layer.", min=1, max=4096)
    embedding: int = option(16, "Siamese: length of the embedding the encoder gives each vector.", min=1,
                            max=4096)
    swap: bool = option(False, "Training augmentation: swap the two vectors of a random half of each batch's "
                        "pairs (same or not does not depend on the order).")
    epochs: int = shared_option("epochs", 20)
    batch_size: int = shared_option("batch_size", 64)
    lr: float = shared_option("lr", 3e-3)

    def check(self) -> None:
        """Rules across fields, checked before anything trains."""
        if self.patience and not self.val_pairs:
            raise SuiteError("--patience: early stopping needs a validation split; give --val-pairs")
        if self.val_pairs == 1:  # one pair is of one kind only, and its AUC has no meaning
            raise SuiteError("--val-pairs: 0 (none) or at least 2")


PRESETS = NamedRegistry("preset")
PRESETS.register("siamese", "The Siamese MLP with its defaults.", {"model": "siamese"})
PRESETS.register("concat", "The concatenating MLP with its defaults.", {"model": "concat"})
PRESETS.register("concat-swap", "The concatenating MLP, trained on pairs in both orders.",
                 {"model": "concat", "swap": True})
PRESETS.register("hard", "Noisier pairs; longer training, stopped early on a validation split.",
                 {"noise": 1.2, "val_pairs": 256, "patience": 5, "epochs": 60})

SWEEPS = NamedRegistry("sweep preset")
SWEEPS.register("pairs-models-noise", "Both models at three noise levels.",
                SweepPreset({}, axes={"model": ["siamese", "concat"], "noise": [0.4, 0.7, 1.0]}))


class PairsTask(Task):
    name = "pairs"
    description = "Synthetic vector pairs (2×dim): two views of the same prototype? (example task)"
    config_cls = PairsConfig
    models = MODELS
    presets = PRESETS
    sweeps = SWEEPS
    primary_metric = "test_accuracy"
    # Declared once, without a split prefix: the engine stores train_accuracy, val_accuracy, test_accuracy, …
    metric_declarations = (
        percent("accuracy", "pairs whose P(same) is on the right side of 0.5"),
        Metric("auc", True, description="area under the ROC curve of P(same)"),
        Metric("accuracy_gap", None, "%", 100.0, 2, description="training minus test accuracy (not ranked: a "
                                                                 "small gap is no merit in itself)"),
    )
    target_names = ("different", "same")
    reads_data = False  # it draws its pairs: runs need no data directory
    stack_rounds = True  # tiny models and splits of fixed sizes: --parallel-rounds auto trains all rounds at once

    def prepare(self, config: PairsConfig, data_dir: Path, download: bool) -> None:
        """Nothing to load or check: each round draws its own pairs."""
        return None

    def round_data(self, prepared: None, config: PairsConfig, generator: torch.Generator,
                   round_index: int = 0) -> dict[str, Split]:
        from suite_example_pairs.data import draw_pairs, standardisation, standardise

        def draw(n: int) -> Split:
            return draw_pairs(n, config.classes, config.dim, config.noise, generator)

        # Drawn in a fixed order, validation last, so that --val-pairs leaves the training and test pairs as they are.
        raw = {"train": draw(config.pairs), "test": draw(config.pairs)}
        if config.val_pairs:
            raw["val"] = draw(config.val_pairs)
        state = standardisation(raw["train"]["x"])
        splits = {name: split | {"x": standardise(split["x"], state)} for name, split in raw.items()}
        return splits | {ROUND_STATE: state}  # saved with the round's model (--save-models), for suite predict

    def transform(self, config: PairsConfig, x: torch.Tensor, augment: torch.Generator | None) -> torch.Tensor:
        """Training batches (augment given) with --swap: a random half of the pairs in the other order."""
        if augment is None or not config.swap:
            return x
        import torch

        swapped = torch.rand(len(x), generator=augment, device=x.device) < 0.5
        return torch.where(swapped[:, None, None], x.flip(1), x)

    def loss(self, config: PairsConfig, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(outputs["logits"], batch["target"])

    def metrics(self, config: PairsConfig, outputs: dict[str, torch.Tensor], batch: Split) -> dict[str, float]:
        import numpy as np

        from suite import roc_rates

        p_same, same = self.scores(config, outputs, batch), batch["target"] == 1
        fpr, tpr = roc_rates(p_same.cpu().numpy(), same.cpu().numpy())
        return {"accuracy": float(((p_same > 0.5) == same).float().mean()),
                "auc": float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))}  # trapezoids under the curve

    def final_metrics(self, config: PairsConfig, outputs: dict[str, dict[str, torch.Tensor]],
                      splits: dict[str, Split]) -> dict[str, float]:
        """A metric of two splits at once, from the final model's outputs on each."""
        accuracy = {name: self.metrics(config, outputs[name], splits[name])["accuracy"] for name in ("train", "test")}
        return {"accuracy_gap": accuracy["train"] - accuracy["test"]}

    def scores(self, config: PairsConfig, outputs: dict[str, torch.Tensor], split: Split) -> torch.Tensor:
        """P(same) per pair: stored per test pair for the report's ROC curves and galleries."""
        import torch

        return torch.softmax(outputs["logits"].float(), -1)[:, 1]

    def predict_inputs(self, config: PairsConfig, state: dict[str, torch.Tensor],
                       paths: list[Path]) -> tuple[Split, list[str]]:
        """`suite predict pairs --experiment ID FILE.npy…`: raw vector pairs, standardised as the round's were."""
        from suite_example_pairs.data import read_pairs, standardise

        x, names = read_pairs(paths, config.dim)
        return {"x": standardise(x, state)}, names

    def setting(self, config: PairsConfig, prepared: None) -> dict[str, str]:
        """What the results depend on, said in words: stored with them and printed under a run's summary."""
        return {"data": f"synthetic: {config.classes} prototypes per split, {config.dim} dimensions, noise "
                        f"{config.noise}"}


TASK = PairsTask()
