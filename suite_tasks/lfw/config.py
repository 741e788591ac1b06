"""The `lfw` task's configuration: one frozen dataclass, the single source of its CLI options and presets."""

from dataclasses import dataclass, fields

from suite import BaseConfig, SuiteError, flag, option, shared_option

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
    crop: str = option("none", "none (whole 250×250 image, like the reports), face (centred 125×125 face box) or "
                       "inner (the 150×80 eyes-to-mouth box, --features lbp only).", choices=("none", "face", "inner"))
    size: int = option(105, "Side of the square network input in pixels (the paper: 105).", min=8, max=250)
    channels: int = option(1, "Input channels: 1 (grayscale) or 3 (colour; grayscale images are repeated).",
                           choices=(1, 3))
    features: str = option("pixels", "What the network sees: pixels (the image, resized to --size) or lbp "
                           "(uniform-LBP histograms of the --crop region and of its mirror image, whitened by a PCA "
                           "fitted on each round's training images; --model metric).", choices=("pixels", "lbp"))
    lbp_cell: int = option(10, "--features lbp: side of the square cells, in pixels, each with its own histogram.",
                           min=2, max=125)
    lbp_radius: int = option(1, "--features lbp: radius of the circle of 8 neighbours.", choices=(1, 2, 3))
    pca_dims: int = option(200, "--features lbp: whitened principal components kept.", min=1)
    val_fraction: float = option(0.2, "Share of training pairs held out for validation, people-disjoint from "
                                 "training (0: none).", min=0.0, max=0.5)
    # Model
    model: str = option("koch", "Architecture (see `suite list`).", choices=("koch", "small", "metric"))
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
    flip: bool = option(False, "Random horizontal flip (--features lbp: a random one of the image and its mirror).")
    affine: float = option(0.0, "Random affine strength a: zoom ±a, shear ±a·20°, translation ±a·10 % "
                           "(report 003 used about 0.1–0.2).", min=0.0, max=1.0)
    brightness: float = option(0.0, "Random brightness: multiply by a factor in [1 − b, 1 + b].", min=0.0, max=1.0)
    tta: str = option("none", "Test-time augmentation: flip averages the embeddings of each image and its mirror "
                      "(--model metric).", choices=("none", "flip"))
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
        # The converse (lbp descriptors need --model metric) is the CNNs' to refuse when they are built: `suite data
        # prepare lfw --features lbp` has no --model, and its config keeps the default koch.
        if self.model == "metric" and self.features != "lbp":
            raise SuiteError("--model metric learns on --features lbp descriptors, not pixels")
        if self.crop == "inner" and self.features != "lbp":
            raise SuiteError("--crop inner (150×80, not square) is for --features lbp; pixel models take "
                             "--crop none or face")
        only = LBP_ONLY if self.features == "pixels" else PIXELS_ONLY
        changed = [name for name in only if getattr(self, name) != FIELDS[name].default]
        if changed:
            other = "lbp" if self.features == "pixels" else "pixels"
            raise SuiteError(f"{flag(changed[0])} applies to --features {other}, not {self.features}")
        if self.model == "metric" and self.distance != "cosine":
            raise SuiteError(f"--model metric learns a cosine metric: it takes --distance cosine, not {self.distance}")
        if self.model == "metric" and self.fc_units > self.pca_dims:
            raise SuiteError(f"--fc-units {self.fc_units}: --model metric maps the {self.pca_dims} components "
                             "(--pca-dims) to at most as many units")

    def filter_list(self, default: tuple[int, ...]) -> list[int]:
        """The conv filters: --filters if given, else the model's default scaled by --width."""
        if self.filters:
            return [int(v) for v in self.filters.split(",")]
        return [max(1, round(f * self.width)) for f in default]


FIELDS = {f.name: f for f in fields(LfwConfig)}
# Options that mean something for one kind of input only: the other refuses them rather than ignore them.
PIXELS_ONLY = ("size", "channels", "width", "filters", "stride", "batch_norm", "dropout", "dropout_schedule",
               "init", "affine", "brightness")
LBP_ONLY = ("lbp_cell", "lbp_radius", "pca_dims", "tta")
