"""The `lfw` task's configuration: one frozen dataclass, the single source of its CLI options and presets."""

from dataclasses import dataclass, fields

from suite import BaseConfig, SuiteError, flag, option, shared_option

DEFAULT_DESCRIPTORS = "lbp,lbp-r2,lbp-wide,lbp-r3-wide,hog,hog-wide,gabor"
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
    features: str = option("pixels", "What the network sees: pixels (the image, resized to --size); lbp "
                           "(uniform-LBP histograms of the --crop region and of its mirror image, whitened by a PCA "
                           "fitted on each round's training images; --model metric); or descriptors (the "
                           "--descriptors bank, each whitened on its own; --model fusion).",
                           choices=("pixels", "lbp", "descriptors"))
    descriptors: str = option(DEFAULT_DESCRIPTORS, "--features descriptors: comma-separated names of the bank: lbp "
                              "(radius 1, 10-pixel cells, the 150×80 eyes-to-mouth box), lbp-r2 (radius 2, 12-pixel "
                              "cells), lbp-wide (radius 1, 10-pixel cells of the 170×120 box around it), "
                              "lbp-r3-wide (radius 3, 14-pixel cells of it), hog (8-pixel cells), hog-wide "
                              "(10-pixel cells of the wide box), gabor (5 frequencies × 8 orientations).")
    fusion_folds: int = option(5, "--model fusion: folds of the training pairs, each embedded with the within-pair "
                               "whitening of the others, that the fusion learns on (0: the same pairs' own).",
                               min=0, max=100)
    lbp_cell: int = option(10, "--features lbp: side of the square cells, in pixels, each with its own histogram.",
                           min=2, max=125)
    lbp_radius: int = option(1, "--features lbp: radius of the circle of 8 neighbours.", choices=(1, 2, 3))
    pca_dims: int = option(200, "--features lbp: whitened principal components kept.", min=1)
    val_fraction: float = option(0.2, "Share of training pairs held out for validation, people-disjoint from "
                                 "training (0: none).", min=0.0, max=0.5)
    # Model
    model: str = option("koch", "Architecture (see `suite list`).", choices=("koch", "small", "metric", "fusion"))
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
        # The converse (descriptors need --model metric or fusion) is the CNNs' to refuse when they are built: `suite
        # data prepare lfw --features lbp` has no --model, and its config keeps the default koch.
        for features, model in MODEL_OF_FEATURES.items():
            if self.model == model and self.features != features:
                raise SuiteError(f"--model {model} learns on --features {features}, not {self.features}")
        if self.crop == "inner" and self.features == "pixels":
            raise SuiteError("--crop inner (150×80, not square) is for --features lbp; pixel models take "
                             "--crop none or face")
        changed = [name for name, kinds in APPLIES_TO.items()
                   if self.features not in kinds and getattr(self, name) != FIELDS[name].default]
        if changed:
            kinds = " or ".join(APPLIES_TO[changed[0]])
            raise SuiteError(f"{flag(changed[0])} applies to --features {kinds}, not {self.features}")
        if self.features == "descriptors":
            from suite_tasks.lfw.descriptors import parse  # the bank's names live with the descriptors

            parse(self.descriptors)
            if self.fusion_folds == 1:
                raise SuiteError("--fusion-folds 1 leaves no pairs to fit the whitening on: use 0 or at least 2")
            if self.loss != "bce":
                raise SuiteError("--model fusion learns a logistic fusion: it takes --loss bce")
        if self.model in ("metric", "fusion") and self.distance != "cosine":
            raise SuiteError(f"--model {self.model} compares cosines: it takes --distance cosine, not {self.distance}")
        if self.model == "metric" and self.fc_units > self.pca_dims:
            raise SuiteError(f"--fc-units {self.fc_units}: --model metric maps the {self.pca_dims} components "
                             "(--pca-dims) to at most as many units")

    def filter_list(self, default: tuple[int, ...]) -> list[int]:
        """The conv filters: --filters if given, else the model's default scaled by --width."""
        if self.filters:
            return [int(v) for v in self.filters.split(",")]
        return [max(1, round(f * self.width)) for f in default]


FIELDS = {f.name: f for f in fields(LfwConfig)}
# The one model that learns on each kind of descriptor input; pixel inputs take any of the CNNs.
MODEL_OF_FEATURES = {"lbp": "metric", "descriptors": "fusion"}
# Options that mean something for some kinds of input only: the others refuse them rather than ignore them.
APPLIES_TO = {name: ("pixels",) for name in ("size", "channels", "width", "filters", "stride", "batch_norm",
                                             "dropout", "dropout_schedule", "init", "affine", "brightness")}
APPLIES_TO |= {"lbp_cell": ("lbp",), "lbp_radius": ("lbp",), "crop": ("pixels", "lbp"),
               "pca_dims": ("lbp", "descriptors"), "tta": ("lbp", "descriptors"),
               "descriptors": ("descriptors",), "fusion_folds": ("descriptors",)}
