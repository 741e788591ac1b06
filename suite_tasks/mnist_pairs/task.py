"""The `mnist` task: config, presets, loss and metrics of the digit-pair comparison (report 004)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from suite import (
    ROUND_STATE,
    BaseConfig,
    Lazy,
    NamedRegistry,
    Split,
    SuiteError,
    Task,
    option,
    percent,
    shared_option,
)
from suite_tasks.mnist_pairs.sweeps import ABLATION_BASE, ABLATION_STEPS, SWEEPS

# torch and the modules built on it (data, models) are imported by the methods that compute: loading the task to
# read its config, presets and metrics (`suite results`, `suite list`) then needs none of them.
if TYPE_CHECKING:
    import torch

    from suite_tasks.mnist_pairs.data import Digits

TRAIN_SIZE, TEST_SIZE = 60_000, 10_000  # MNIST's training and test images
BRANCHES = ("report", "deep")
HEADS = ("mlp", "rule")

# The builders live with the networks in suite_tasks/mnist_pairs/models.py, imported when a model is built.
MODELS = NamedRegistry("model")
MODELS.register("baseline", "Fully connected 392→40→40→2, ReLU, cross-entropy (report 004 baseline).",
                Lazy("suite_tasks.mnist_pairs.models:baseline"))
MODELS.register("siamese", "Two conv branches 32/64@3×3, avg-pool, dropout, tanh; --w-sharing, --aux-loss, "
                "--branch, --head.", Lazy("suite_tasks.mnist_pairs.models:siamese"))


@dataclass(frozen=True)
class MnistConfig(BaseConfig):
    model: str = option("siamese", "Architecture.", choices=tuple(MODELS))
    w_sharing: bool = option(False, "Siamese: one branch reads both digits (shared weights) instead of two.")
    aux_loss: bool = option(False, "Siamese: add the digit-classification loss of both branches.")
    alpha: float = option(0.2, "Weight of the target loss when --aux-loss: α·target + (1−α)/2·(aux₁+aux₂).",
                          min=0.0, max=1.0)
    dropout: float = option(0.3, "Siamese dropout rate.", min=0.0, max=0.99)
    hidden: int = option(40, "Baseline: units of each hidden layer.", min=1, max=65_536)
    fc_hidden: int = option(128, "Siamese: units of each branch's hidden FC layer and of the head.", min=1,
                            max=65_536)
    pairs: int = option(1000, "Pairs per round in the training set and, separately (unless --test-pairs), in the "
                        "test set.", min=1, max=TEST_SIZE // 2)
    test_pairs: int = option(0, "Test pairs per round, from MNIST's test images (0: as many as --pairs; at most "
                             "5000, every test image once). The first --pairs of them are the pairs drawn without "
                             "this option, and the training pairs stay the same.", min=0, max=TEST_SIZE // 2)
    val_pairs: int = option(0, "Validation pairs drawn from the training images (0: no validation).", min=0)
    val_fraction: float = option(0.0, "Share of the round's --pairs training pairs held out for validation (their "
                                 "images are never trained on; the training budget stays --pairs): for early "
                                 "stopping and for choosing recipes without the test set.", min=0.0, max=0.5)
    branch: str = option("report", "Siamese branch: report (report 004's conv 32/64, tanh, avg-pool) or deep "
                         "(two padded convs per stage, ReLU, max-pool).", choices=BRANCHES)
    head: str = option("mlp", "Siamese comparison head: mlp (report 004: FC layers on the 20 sigmoid digit "
                       "outputs) or rule (P(first ≤ second) from the two digits' softmax distributions; no "
                       "parameters; its target loss is the negative log-likelihood).", choices=HEADS)
    extra_pairs: int = option(0, "Training pairs added by pairing the round's own training images anew (targets "
                              "from their digit labels, as --aux-loss uses them; no further images).",
                              min=0, max=1_000_000)
    tta: int = option(0, "Test-time augmentation, with --head rule: each digit's class distribution averaged over "
                      "its translations by up to this many pixels ((2·tta + 1)² views) when evaluating.",
                      min=0, max=3)
    rotate: float = option(0.0, "Training augmentation: turn each digit by a random angle of up to this many "
                           "degrees either way.", min=0.0, max=45.0)
    shift: int = option(0, "Training augmentation: move each digit by up to this many pixels in x and y "
                        "(edges filled with background).", min=0, max=4)
    scale: float = option(0.0, "Training augmentation: zoom each digit by a random factor within 1 ± this "
                          "(about its centre; with --rotate, in the same resampling).", min=0.0, max=0.5)
    elastic: float = option(0.0, "Training augmentation: distort each digit by its own smooth random displacement "
                            "field (Gaussian-smoothed, σ 2 pixels) of this RMS in pixels (Simard et al., 2003; with "
                            "--rotate and --scale, in the same resampling).", min=0.0, max=3.0)
    ensemble: int = option(1, "Siamese with --head rule: K independently initialised members (each its own "
                           "branch, or pair of branches without --w-sharing), each trained on its own loss; the "
                           "rule head reads their averaged digit distributions. K times the cost of one.",
                           min=1, max=16)
    batch_size: int = shared_option("batch_size", 25, "Mini-batch size (report silent; see docs/tasks/mnist.md).")
    lr: float = shared_option("lr", 1e-3, "Learning rate (report 004: 0.001).")

    def check(self) -> None:
        if self.model == "baseline" and (self.w_sharing or self.aux_loss or self.branch != "report"
                                         or self.head != "mlp"):
            raise SuiteError("--w-sharing, --aux-loss, --branch and --head apply to --model siamese, not baseline")
        if self.tta and (self.model != "siamese" or self.head != "rule"):
            raise SuiteError("--tta averages digit distributions: it needs --model siamese --head rule")
        if self.ensemble > 1 and (self.model != "siamese" or self.head != "rule"):
            raise SuiteError(f"--ensemble {self.ensemble} averages digit distributions: it needs --model siamese "
                             "--head rule")
        if self.val_fraction and self.val_pairs:
            raise SuiteError("--val-fraction and --val-pairs: choose one way to make a validation split")
        held_out = round(self.pairs * self.val_fraction)
        if self.val_fraction and not 1 <= held_out < self.pairs:
            raise SuiteError(f"--val-fraction {self.val_fraction}: holds out {held_out} of {self.pairs} training "
                             "pairs; it must leave at least one for validation and one for training")
        if self.pairs + self.val_pairs > TRAIN_SIZE // 2:
            raise SuiteError(f"--pairs + --val-pairs: {self.pairs + self.val_pairs} pairs need more than the "
                             f"{TRAIN_SIZE} training images (at most {TRAIN_SIZE // 2})")


PRESETS = NamedRegistry("preset")


def _best_steps() -> dict:
    return {key: value for step in ABLATION_STEPS for key, value in step.items()}

PRESETS.register("baseline", "Report 004 baseline MLP (reported 76.17 ± 7.26 %).", {"model": "baseline"})
PRESETS.register("siamese", "Siamese, no weight sharing, no aux loss (reported 68.06 ± 7.01 %).",
                 {"model": "siamese", "w_sharing": False, "aux_loss": False})
PRESETS.register("siamese-ws", "Siamese with weight sharing (reported 85.00 ± 1.00 %).",
                 {"model": "siamese", "w_sharing": True, "aux_loss": False})
PRESETS.register("siamese-aux", "Siamese with auxiliary loss, α = 0.2 (reported 92.21 ± 1.16 %).",
                 {"model": "siamese", "w_sharing": False, "aux_loss": True})
PRESETS.register("siamese-ws-aux", "Siamese with weight sharing and aux loss (reported 93.76 ± 0.85 %).",
                 {"model": "siamese", "w_sharing": True, "aux_loss": True})
# The last cell of the mnist-ablation sweep (suite_tasks/mnist_pairs/sweeps.py): same data budget as the report (1000
# training pairs, i.e. 2000 labelled images, per round), no outside data, tested on every test image.
PRESETS.register("best", "Strongest recipe found: weight sharing + aux loss, deep branch, rule head, 10000 extra "
                 "pairs of the same images, shift, rotation, zoom and elastic augmentation, 30 epochs cosine, batch "
                 "100, test-time translations, an ensemble of three nets (three times the cost of one); tested on "
                 "5000 pairs, every test image once.",
                 ABLATION_BASE | _best_steps())


class MnistPairs(Task):
    name = "mnist"
    description = "MNIST digit pairs (2×14×14): is the first digit <= the second? (EE-559, report 004)"
    config_cls = MnistConfig
    models = MODELS
    presets = PRESETS
    sweeps = SWEEPS
    target_names = ("first > second", "first <= second")
    primary_metric = "test_accuracy"
    metric_declarations = (percent("accuracy", "pairs whose comparison is right"),
                           percent("digit_accuracy", "digits the auxiliary head classifies right"))
    stack_rounds = True  # small nets: stacked rounds fill the machine where one round leaves it idle

    def prepare(self, config: MnistConfig, data_dir: Path, download: bool) -> Digits:
        from suite_tasks.mnist_pairs.data import load_digits

        return load_digits(data_dir, download)

    def round_data(self, digits: Digits, config: MnistConfig, generator: torch.Generator,
                   round_index: int = 0) -> dict[str, Split]:
        from suite_tasks.mnist_pairs.data import draw_pairs, normalisation, normalise, repair

        # Drawn in a fixed order from the data stream only, so model options never change the pairs.
        train, val = draw_pairs(digits.train_images, digits.train_labels, [config.pairs, config.val_pairs],
                                generator)
        # One permutation of all test images whatever the count: more test pairs extend the same draw and leave the
        # generator where it was, so the training stream below never changes.
        (test,) = draw_pairs(digits.test_images, digits.test_labels, [config.test_pairs or config.pairs], generator)
        if config.val_fraction:  # the last pairs drawn, so the test pairs are the same with and without it
            held_out = round(config.pairs * config.val_fraction)
            train, val = ({k: v[:-held_out] for k, v in train.items()}, {k: v[-held_out:] for k, v in train.items()})
        splits = normalise({"train": train, "test": test} | ({"val": val} if len(val["x"]) else {}))
        if config.extra_pairs:  # drawn last, so the pairs above are the same with and without them
            splits["train"] = repair(splits["train"], config.extra_pairs, generator)
        return splits | {ROUND_STATE: normalisation(train["x"])}

    def predict_inputs(self, config: MnistConfig, state: dict[str, torch.Tensor],
                       paths: list[Path]) -> tuple[Split, list[str]]:
        """Two digit images or a .npy of pairs, standardised with the round's training mean and std."""
        from suite_tasks.mnist_pairs.data import read_pair, standardise

        x, names = read_pair(paths)
        return {"x": standardise(x, state)}, names

    def objective(self, config: MnistConfig) -> str:
        """What the loss measures, for reports: the baseline and the rule head train the comparison's
        cross-entropy, the MLP head the BCE of its two sigmoid outputs, and --aux-loss mixes in the digits' BCE,
        so losses of these configurations are not on one scale."""
        target = ("cross-entropy of the comparison" if config.model == "baseline" or config.head == "rule"
                  else "BCE of the comparison's two outputs")
        if not config.aux_loss:
            return target
        return f"{config.alpha:g} × {target} + {1 - config.alpha:g} × digits' BCE"

    def example_note(self, config: MnistConfig, split: Split, index: int) -> str:
        """The pair's two true digits (the split keeps them under "classes"), for report galleries."""
        first, second = (int(digit) for digit in split["classes"][index])
        return f"digits {first} and {second}"

    def prediction_columns(self, config: MnistConfig, outputs: dict[str, torch.Tensor]) -> dict[str, list]:
        """With the auxiliary head: the digit it reads in each image."""
        if not config.aux_loss:
            return {}
        digits = outputs["digit_logits"].argmax(-1).cpu()
        return {"first digit": digits[:, 0].tolist(), "second digit": digits[:, 1].tolist()}

    def transform(self, config: MnistConfig, x: torch.Tensor, augment: torch.Generator | None) -> torch.Tensor:
        from suite_tasks.mnist_pairs.data import shift_digits, warp_digits

        if augment is None:
            return x
        if config.rotate or config.scale or config.elastic:
            x = warp_digits(x, config.rotate, augment, config.scale, config.elastic)
        return shift_digits(x, config.shift, augment) if config.shift else x

    def loss(self, config: MnistConfig, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        return _loss(config, outputs, batch, rounds=False)

    def stacked_loss(self, config: MnistConfig, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        """The same loss per round computed directly, without vmap's per-op overhead (docs/benchmarks.md)."""
        return _loss(config, outputs, batch, rounds=True)

    def scores(self, config: MnistConfig, outputs: dict[str, torch.Tensor], split: Split) -> torch.Tensor:
        """How sure the model is that the first digit is <= the second: softmax of its two outputs (above 0.5
        exactly when it predicts so). Stored per test pair for galleries of confident errors."""
        import torch

        return torch.softmax(outputs["logits"].float(), 1)[:, 1]

    def metrics(self, config: MnistConfig, outputs: dict[str, torch.Tensor], batch: Split) -> dict[str, float]:
        result = {"accuracy": float((outputs["logits"].argmax(1) == batch["target"]).float().mean())}
        if config.aux_loss:
            digits = outputs["digit_logits"].argmax(-1)
            result["digit_accuracy"] = float((digits == batch["classes"]).float().mean())
        return result


TASK = MnistPairs()


def _loss(config: MnistConfig, outputs: dict[str, torch.Tensor], batch: Split, rounds: bool) -> torch.Tensor:
    """The task's loss; with `rounds`, outputs and batch have the rounds first and each round gets its own (every
    term a mean over that round's examples)."""
    import torch.nn.functional as F

    def mean(terms: torch.Tensor) -> torch.Tensor:
        return terms.flatten(1).mean(1) if rounds else terms.mean()

    if "member_logits" in outputs:  # --ensemble, training: the mean of the members' own losses
        members = outputs["member_logits"].shape[-2]
        outputs = {"logits": outputs["member_logits"], "digit_logits": outputs["member_digit_logits"]}
        batch = {"target": batch["target"].unsqueeze(-1).expand(*batch["target"].shape, members),
                 "classes": batch["classes"].unsqueeze(-2).expand(*batch["classes"].shape[:-1], members, 2)}

    logits, target = outputs["logits"], batch["target"]
    if config.model == "baseline" or config.head == "rule":  # rule: its logits are log-probabilities
        main = mean(F.cross_entropy(logits.flatten(0, -2), target.flatten(), reduction="none").view(target.shape))
    else:  # report 004: sigmoid outputs against one-hot targets with BCE, for the target and for each digit
        main = mean(F.binary_cross_entropy_with_logits(logits, F.one_hot(target, 2).float(), reduction="none"))
    if not config.aux_loss:  # always so for the baseline (check() refuses --aux-loss there)
        return main
    # α·target + (1 − α)/2·(aux₁ + aux₂), where (aux₁ + aux₂)/2, the two digits' mean BCE, is the mean over both
    digits = F.binary_cross_entropy_with_logits(outputs["digit_logits"], F.one_hot(batch["classes"], 10).float(),
                                                reduction="none")
    return config.alpha * main + (1 - config.alpha) * mean(digits)

