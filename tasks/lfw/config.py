"""The `lfw` task's configuration: one frozen dataclass, the single source of its CLI options and presets."""

from dataclasses import dataclass

from suite.config import BaseConfig, option, shared_option
from suite.errors import SuiteError

LAYOUTS = ("auto", "lfw-a", "lfw", "lfw_funneled", "lfw-deepfunneled")
BATCH_NORM = ("none", "after-conv", "after-pool", "before-act")


@dataclass(frozen=True)
class LfwConfig(BaseConfig):
    # Data and protocol
    layout: str = option("auto", "Image layout: lfw-a (<data-dir>/lfw-a, grayscale) or torchvision's "
                         "lfw-py/{lfw,lfw_funneled,lfw-deepfunneled} (colour); auto picks the one present.",
                         choices=LAYOUTS)
    protocol: str = option("view1", "view1: train DevTrain, report DevTest; view2: 10-fold cross-validation on "
                           "pairs.txt, round r tests fold r mod 10.", choices=("view1", "view2"))
    training: str = option("restricted", "restricted: LFW's image-restricted setting, only the given training "
                           "pairs; unrestricted: pairs drawn from all images of the training people, by identity "
                           "(--train-pairs of them); validation and test people are never drawn from.",
                           choices=("restricted", "unrestricted"))
    train_pairs: int = option(20000, "--training unrestricted: training pairs drawn per round, half matched.",
                              min=2, max=1_000_000)
    crop: str = option("none", "none (whole 250×250 image, like the reports) or face (centred 125×125 face box).",
                       choices=("none", "face"))
    size: int = option(105, "Side of the square network input in pixels (the paper: 105).", min=8, max=250)
    channels: int = option(1, "Input channels: 1 (grayscale) or 3 (colour; grayscale images are repeated).",
                           choices=(1, 3))
    val_fraction: float = option(0.2, "Share of training pairs held out for validation, people-disjoint from "
                                 "training (0: none).", min=0.0, max=0.5)
    # Model
    model: str = option("koch", "Architecture (see `suite list`).", choices=("koch", "small"))
    width: float = option(1.0, "Multiplier of every conv layer's filters.", min=0.0, min_exclusive=True)
    filters: str = option("", "Filters per conv layer, comma-separated (overrides the model's and --width), "
                          "e.g. 64,128,128,256.")
    fc_units: int = option(0, "Units of the embedding FC layer (0: the model's own, 4096 for koch).", min=0)
    stride: int = option(1, "Stride of the first convolution.", min=1, max=4)
    batch_norm: str = option("none", "Batch-norm placement.", choices=BATCH_NORM)
    dropout: float = option(0.0, "Dropout rate after each block (and before the FC layer).", min=0.0, max=0.95)
    dropout_schedule: str = option("constant", "constant, or decreasing: 0.05 less in each block than in the one "
                                   "before, from --dropout in the first (report 001).",
                                   choices=("constant", "decreasing"))
    init: str = option("paper", "Weight initialisation.", choices=("paper", "xavier", "kaiming", "lecun"))
    distance: str = option("l1", "How the two embeddings are compared.", choices=("l1", "l2", "cosine"))
    loss: str = option("bce", "bce on the same/different score, or contrastive on the embedding distance.",
                          choices=("bce", "contrastive"))
    margin: float = option(1.0, "Contrastive loss margin.", min=0.0, min_exclusive=True)
    label_smoothing: float = option(0.0, "Label smoothing ε of the BCE targets (0 → ε/2, 1 → 1 − ε/2).",
                                    min=0.0, max=0.5)
    # Augmentation, on the fly per training image
    flip: bool = option(False, "Random horizontal flip.")
    affine: float = option(0.0, "Random affine strength a: zoom ±a, shear ±a·20°, translation ±a·10 % "
                           "(report 003 used about 0.1–0.2).", min=0.0, max=1.0)
    brightness: float = option(0.0, "Random brightness: multiply by a factor in [1 − b, 1 + b].", min=0.0, max=1.0)
    # Training (engine fields with this task's defaults). Adam at 0.001, as reports 001–003 trained: with the
    # paper's SGD (lr 0.01, momentum 0.5) and its init the `small` net stays at chance (README, "Defaults").
    epochs: int = shared_option("epochs", 20)
    batch_size: int = shared_option("batch_size", 128)
    optimizer: str = shared_option("optimizer", "adam")
    lr: float = shared_option("lr", 1e-3)
    momentum: float = shared_option("momentum", 0.5, "Momentum of SGD and RMSprop (Koch et al. start at 0.5).")

    def check(self) -> None:
        if self.filters:
            try:
                values = [int(v) for v in self.filters.split(",")]
            except ValueError:
                raise SuiteError(f"filters: expected comma-separated integers, got {self.filters!r}") from None
            if not values or min(values) < 1:
                raise SuiteError(f"filters: every layer needs at least 1 filter, got {self.filters!r}")
        if self.loss == "contrastive" and self.label_smoothing:
            raise SuiteError("--label-smoothing applies to --loss bce, not contrastive")

    def filter_list(self, default: tuple[int, ...]) -> list[int]:
        """The conv filters: --filters if given, else the model's default scaled by --width."""
        if self.filters:
            return [int(v) for v in self.filters.split(",")]
        return [max(1, round(f * self.width)) for f in default]
