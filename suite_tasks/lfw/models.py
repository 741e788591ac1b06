"""The Siamese networks of the LFW reports: Koch et al. (2015)'s verification net and report 002's reduced one.

Both share one layout: four conv blocks with kernels 10, 7, 4, 4 (stride 1, no padding; the first conv's
stride is --stride), 2×2 max-pooling after the first three, then flatten → FC → sigmoid, the embedding.
One branch reads both images of a pair; a distance between the two embeddings feeds one output unit.

Block order by --batch-norm (report 003 tried the three placements); where ReLU and pool are adjacent the
pool runs first (same result, less work: conv_block):
  none        conv → ReLU → pool
  before-act  conv → BN → ReLU → pool            (BN between the linear conv and its activation)
  after-conv  conv → ReLU → BN → pool            (BN after the conv's activation; report 000's layer table, 003)
  after-pool  conv → ReLU → pool → BN            (report 002; the unpooled last block: conv → ReLU → BN)
Dropout, when its rate is above 0, ends each block; the last block's dropout is the one before the FC layer.
--dropout-schedule decreasing lowers the rate by 0.05 per block from --dropout in the first (report 001).
"""

import torch
import torch.nn.functional as F
from torch import nn

from suite import SuiteError
from suite_tasks.lfw import descriptors
from suite_tasks.lfw.config import MODEL_OF_FEATURES, LfwConfig

KERNELS = (10, 7, 4, 4)
POOLED = (True, True, True, False)
KOCH_FILTERS = (64, 128, 128, 256)
KOCH_UNITS = 4096
SMALL_FILTERS = (32, 32, 32, 32)
SMALL_UNITS = 32
DECREASING_STEP = 0.05  # report 001 §5.1 item 5: the dropout rate falls by 0.05 from one block to the next

# Koch et al. 2015, §3.3 (reports 000 "Initial setup", 001 §5.1 items 5–6 and 002 "Configurations" quote the
# conv values): conv weights N(0, 10⁻²), all biases N(0.5, 10⁻²), FC weights N(0, 2·10⁻¹). Values are std.
PAPER_CONV_STD = 1e-2
PAPER_FC_STD = 2e-1
PAPER_BIAS_MEAN = 0.5
PAPER_BIAS_STD = 1e-2


INITIAL_SCALE = 10.0  # metric: the head's starting weight on the cosine


def output_side(size: int, stride: int) -> int:
    """Side of the last conv block's feature map for a size×size input; 0 when the input is too small."""
    side = size
    for i, (kernel, pooled) in enumerate(zip(KERNELS, POOLED, strict=True)):
        if side < kernel:
            return 0
        side = (side - kernel) // (stride if i == 0 else 1) + 1
        if pooled:
            side //= 2
    return side


def smallest_size(stride: int) -> int:
    size = 1
    while output_side(size, stride) < 1:  # output_side grows with size, so the first hit is the smallest
        size += 1
    return size


def dropout_rates(config: LfwConfig, blocks: int = len(KERNELS)) -> list[float]:
    """Per-block dropout rates. Decreasing, as report 001 (§5.1 item 5): 0.05 less in each block than in the one
    before, never below 0 (its --dropout 0.25 gives 0.25, 0.2, 0.15, 0.1)."""
    if config.dropout_schedule == "constant":
        return [config.dropout] * blocks
    return [max(0.0, round(config.dropout - DECREASING_STEP * i, 10)) for i in range(blocks)]


def patch_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 stride: tuple[int, int]) -> torch.Tensor:
    """F.conv2d(x, weight, bias, stride) (no padding, dilation or groups) as one matrix product: a row of
    C·kh·kw input values per output pixel, times the flattened weights. The output comes back channels-last."""
    out_channels, _, kh, kw = weight.shape
    if torch.is_autocast_enabled(x.device.type):  # the patches in bf16 from the start: half the bytes to copy
        x = x.to(torch.get_autocast_dtype(x.device.type))
    patches = x.unfold(2, kh, stride[0]).unfold(3, kw, stride[1])  # N×C×OH×OW×kh×kw, a view
    n, c, oh, ow = patches.shape[:4]
    rows = patches.permute(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    out = F.linear(rows, weight.reshape(out_channels, -1), bias)  # (N·OH·OW)×O: pixels × channels
    return out.view(n, oh, ow, out_channels).permute(0, 3, 1, 2)


class PatchConv2d(nn.Conv2d):
    """The first convolution (a few input channels, no padding): nn.Conv2d's parameters and results, computed on a
    GPU as one matrix product over the input's patches (patch_conv2d). cuDNN's tensor-core kernels pad the input
    channels to 8, so koch's 1-channel 10×10 convolution did 8× its arithmetic; as a product its forward and weight
    gradient read and write each value once (docs/benchmarks.md). On a CPU oneDNN's convolution stays: the patches
    were no faster there."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.padding != (0, 0) or self.dilation != (1, 1) or self.groups != 1:
            raise ValueError("PatchConv2d computes unpadded, undilated, ungrouped convolutions only")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cuda":
            return super().forward(x)
        return patch_conv2d(x, self.weight, self.bias, self.stride)


def conv_block(c_in: int, c_out: int, kernel: int, stride: int, pooled: bool, batch_norm: str,
               dropout: float) -> nn.Sequential:
    conv = PatchConv2d if c_in <= 3 else nn.Conv2d  # the input images: 1 (grayscale) or 3 channels
    layers: list[nn.Module] = [conv(c_in, c_out, kernel, stride)]
    if batch_norm == "before-act":
        layers.append(nn.BatchNorm2d(c_out))
    if pooled and batch_norm != "after-conv":
        # ReLU → max-pool computed as max-pool → ReLU: the same outputs and gradients (max commutes with the
        # monotone ReLU), with the ReLU on a quarter of the values (koch's first map: 64×96×96 an image)
        layers += [nn.MaxPool2d(2), nn.ReLU()]
    else:
        layers.append(nn.ReLU())
        if batch_norm == "after-conv" or (batch_norm == "after-pool" and not pooled):
            layers.append(nn.BatchNorm2d(c_out))
        if pooled:
            layers.append(nn.MaxPool2d(2))
    if pooled and batch_norm == "after-pool":
        layers.append(nn.BatchNorm2d(c_out))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Siamese(nn.Module):
    """Shared branch (conv blocks → flatten → FC → sigmoid) on both images, then the pair head (PairHead)."""

    def __init__(self, name: str, config: LfwConfig, filters: list[int], units: int) -> None:
        super().__init__()
        if config.features != "pixels":
            raise SuiteError(f"--model {name} reads pixels: --features {config.features} needs --model "
                             f"{MODEL_OF_FEATURES[config.features]}")
        side = output_side(config.size, config.stride)
        if side < 1:
            raise SuiteError(f"--size {config.size} is too small for model {name} with --stride "
                             f"{config.stride}: the smallest size that works is {smallest_size(config.stride)}")
        rates = dropout_rates(config, len(KERNELS))
        blocks, c_in = [], config.channels
        for i, (c_out, kernel, pooled, rate) in enumerate(zip(filters, KERNELS, POOLED, rates, strict=True)):
            stride = config.stride if i == 0 else 1
            blocks.append(conv_block(c_in, c_out, kernel, stride, pooled, config.batch_norm, rate))
            c_in = c_out
        self.convs = nn.Sequential(*blocks)
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, units), nn.Sigmoid())
        self.compare = PairHead(config.distance, units)
        init_weights(self, config.init)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        # N×2×C×H×W → 2N×C×H×W (a view): both images in one batched pass, and BN sees them together.
        h = self.embedding(self.convs(x.flatten(0, 1))).view(n, 2, -1)
        return self.compare(h[:, 0], h[:, 1])


class PairHead(nn.Module):
    """Two embeddings → "logits" (sigmoid = P(same person)) and "distance" (non-negative, for the contrastive loss).

    l1: |h1 − h2| → Linear(units, 1) (the paper's weighted L1), distance the L1 sum; l2: (h1 − h2)² →
    Linear(units, 1), distance the L2 norm; cosine: cos(h1, h2) → Linear(1, 1), a learned scale and bias,
    distance 1 − cosine."""

    def __init__(self, distance: str, units: int) -> None:
        super().__init__()
        self.distance = distance
        self.head = nn.Linear(1 if distance == "cosine" else units, 1)

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.distance == "cosine":
            similarity = F.cosine_similarity(h1, h2, dim=1)
            features, distance = similarity.unsqueeze(1), 1 - similarity
        elif self.distance == "l2":
            features = (h1 - h2).square()
            distance = torch.linalg.vector_norm(h1 - h2, dim=1)  # its gradient at 0 is 0, unlike sqrt(sum)
        else:
            features = (h1 - h2).abs()
            distance = features.sum(1)
        return {"logits": self.head(features).squeeze(1), "distance": distance}


class Metric(nn.Module):
    """Cosine similarity metric learning (Nguyen & Bai 2010) as a Siamese net on whitened LBP descriptors.

    Both images go through the same linear map A = I + Δ (Δ starts at 0, so training starts from plain whitened
    PCA, and weight decay pulls A back towards it, as CSML's ‖A − A₀‖² does), then the cosine head. Input N×2×V×k:
    V views per image (1, or 2 with --tta flip: the image and its mirror, whose embeddings are averaged).
    """

    def __init__(self, config: LfwConfig) -> None:
        super().__init__()
        self.units = config.fc_units or config.pca_dims
        self.delta = nn.Linear(config.pca_dims, self.units, bias=False)
        nn.init.zeros_(self.delta.weight)
        self.compare = PairHead("cosine", self.units)  # config.check() refuses any other --distance
        # A positive start, so that more similar means more likely the same person: a head free to start negative
        # can fit the training pairs just as well with Δ turned the other way, and then fails on new people.
        nn.init.constant_(self.compare.head.weight, INITIAL_SCALE)
        nn.init.zeros_(self.compare.head.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # float32 whatever --precision says: a tiny model, and bf16's 3 digits blur the cosines it thresholds
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            h = (x[..., :self.units] + self.delta(x)).mean(2)
            return self.compare(h[:, 0], h[:, 1])


class Fusion(nn.Module):
    """Logistic fusion of per-descriptor cosine similarities (suite_tasks/lfw/fusion.py embeds the descriptors).

    Input N×2×V×(M·k): each pair's two images, V views each (1, or 2 with --tta flip: the image and its mirror,
    whose unit embeddings are averaged), M descriptors of k components. Output: a weight per descriptor's cosine
    and a bias, the logit of "same person"."""

    def __init__(self, config: LfwConfig) -> None:
        super().__init__()
        self.dims = config.pca_dims
        self.count = len(descriptors.parse(config.descriptors))
        self.head = nn.Linear(self.count, 1)
        nn.init.constant_(self.head.weight, INITIAL_SCALE / self.count)  # positive: more similar, more likely same
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.autocast(x.device.type, enabled=False):  # float32, as Metric: bf16 blurs the cosines
            h = F.normalize(x.float().unflatten(-1, (self.count, self.dims)), dim=-1).mean(2)
            similarity = F.cosine_similarity(h[:, 0], h[:, 1], dim=-1)  # N×M
            return {"logits": self.head(similarity).squeeze(1), "distance": 1 - similarity.mean(1)}


def init_weights(model: nn.Module, scheme: str) -> None:
    """paper: Koch et al.'s normals (constants above); xavier: Glorot uniform; kaiming: He normal for ReLU;
    lecun: normal with std 1/sqrt(fan_in). The last three zero the biases; batch norm keeps its 1/0."""
    for m in model.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if scheme == "paper":
            nn.init.normal_(m.weight, 0.0, PAPER_CONV_STD if isinstance(m, nn.Conv2d) else PAPER_FC_STD)
            nn.init.normal_(m.bias, PAPER_BIAS_MEAN, PAPER_BIAS_STD)
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(m.weight)
        elif scheme == "kaiming":
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif scheme == "lecun":
            nn.init.kaiming_normal_(m.weight, nonlinearity="linear")  # gain 1: std = 1/sqrt(fan_in)
        else:
            raise SuiteError(f"init: unknown scheme {scheme!r}")
        nn.init.zeros_(m.bias)


def _filters(config: LfwConfig, default: tuple[int, ...], name: str) -> list[int]:
    filters = config.filter_list(default)
    if len(filters) != len(default):
        raise SuiteError(f"filters: model {name} has {len(default)} conv layers, got {len(filters)} "
                         f"values ({config.filters!r})")
    return filters


# The builders of the `lfw` task's MODELS (suite_tasks/lfw/task.py, where their names and help are).
def koch(config: LfwConfig) -> nn.Module:
    """The paper's verification net as reports 000–003 rebuilt it (report 003: 38,951,745 parameters with a
    grayscale 105×105 input, L1 distance and the 4096 → 1 output layer)."""
    return Siamese("koch", config, _filters(config, KOCH_FILTERS, "koch"), config.fc_units or KOCH_UNITS)


def small(config: LfwConfig) -> nn.Module:
    """Report 002, Experiment 8 (kept in Experiments 9–10, the last ones; Experiment 9 its best test
    accuracy, 66.9 %): conv 1→32@10×10, 32→32@7×7, 32→32@4×4, 32→32@4×4, the first three max-pooled, then
    Linear(1152, 32) → sigmoid and Linear(32, 1). The report trained it with batch norm after each pool
    (after the ReLU in the last block) and dropout 0.7 in every block: --batch-norm after-pool --dropout 0.7."""
    return Siamese("small", config, _filters(config, SMALL_FILTERS, "small"), config.fc_units or SMALL_UNITS)


def metric(config: LfwConfig) -> nn.Module:
    return Metric(config)


def fusion(config: LfwConfig) -> nn.Module:
    return Fusion(config)
