"""MNIST in torchvision's layout (<data-dir>/MNIST/raw), checked, pooled to 14×14 and drawn into pairs."""

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from suite import SuiteError

# name → (file, IDX magic number: 0x08 = unsigned byte, then the number of dimensions)
RAW_FILES = {
    "train_images": ("train-images-idx3-ubyte", 0x0803),
    "train_labels": ("train-labels-idx1-ubyte", 0x0801),
    "test_images": ("t10k-images-idx3-ubyte", 0x0803),
    "test_labels": ("t10k-labels-idx1-ubyte", 0x0801),
}


@dataclass(frozen=True)
class Digits:
    """Downsampled images (float, N×14×14, raw 0–255 scale) and their labels (int64, N)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def raw_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "MNIST" / "raw"


def check_idx(path: Path, magic: int) -> tuple[int, ...]:
    """Read an IDX header and check the file holds exactly what it declares; return the shape."""
    if not path.is_file():
        raise SuiteError(f"MNIST file missing: {path} (pass --download to fetch MNIST)")
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(4)
        if len(header) < 4 or int.from_bytes(header, "big") != magic:
            raise SuiteError(f"{path}: not an MNIST IDX file of the expected kind (bad magic number)")
        ndim = magic & 0xFF
        dims_bytes = handle.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise SuiteError(f"{path}: truncated IDX file (header cut short at {size} bytes)")
    shape = tuple(int.from_bytes(dims_bytes[4 * i:4 * i + 4], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + torch.Size(shape).numel()
    if size != expected:
        problem = "truncated" if size < expected else "oversized"
        raise SuiteError(f"{path}: {problem} IDX file: header declares shape {'×'.join(map(str, shape))} "
                         f"({expected} bytes) but the file has {size} bytes")
    return shape


def load_digits(data_dir: Path, download: bool = False) -> Digits:
    """Check the four IDX files, read them with torchvision's readers and pool 28×28 → 14×14 (2×2 mean).

    An images file whose pixels are all one value (all zero: a blanked or corrupt file) is refused here, when the
    data is prepared: normalise would divide by the training file's std of 0, and training diverge on NaN inputs
    (a constant test file would not give NaNs but is as corrupt)."""
    # torchvision.datasets takes seconds to import: only commands that read data pay for it.
    from torchvision.datasets import MNIST
    from torchvision.datasets.mnist import read_image_file, read_label_file

    root = raw_dir(data_dir)
    if download and not all((root / name).is_file() for name, _ in RAW_FILES.values()):
        try:
            for train in (True, False):
                MNIST(str(data_dir), train=train, download=True)
        except Exception as exc:  # network or disk: report, don't trace
            raise SuiteError(f"downloading MNIST into {root} failed: {exc}") from None
    shapes = {key: check_idx(root / name, magic) for key, (name, magic) in RAW_FILES.items()}
    for split in ("train", "test"):
        if shapes[f"{split}_images"][0] != shapes[f"{split}_labels"][0]:
            raise SuiteError(f"{root}: {split} images and labels differ in count "
                             f"({shapes[f'{split}_images'][0]} vs {shapes[f'{split}_labels'][0]})")
    tensors = {}
    for key, (name, _) in RAW_FILES.items():
        path = str(root / name)
        if key.endswith("images"):
            images = read_image_file(path).unsqueeze(1).float()
            tensors[key] = F.avg_pool2d(images, kernel_size=2).squeeze(1)
            check_spread(tensors[key], path)
        else:
            tensors[key] = read_label_file(path).long()
    labels = torch.cat([tensors["train_labels"], tensors["test_labels"]])
    if labels.min() < 0 or labels.max() > 9:
        raise SuiteError(f"{root}: labels outside 0–9")
    return Digits(**tensors)


def draw_pairs(images: torch.Tensor, labels: torch.Tensor, counts: list[int],
               generator: torch.Generator) -> list[dict[str, torch.Tensor]]:
    """Draw consecutive sets of pairs from one pool; no image appears twice across the returned sets.

    Each set: x (N×2×14×14), target (1 when the digit in channel 0 <= the one in channel 1), classes (N×2).
    The whole pool is permuted whatever the counts: a set's first pairs, and the generator's state afterwards, do
    not depend on how many pairs are asked for.
    """
    needed = 2 * sum(counts)
    if needed > len(images):
        raise SuiteError(f"{sum(counts)} pairs need {needed} distinct images; this set has {len(images)}")
    chosen = torch.randperm(len(images), generator=generator)[:needed]
    sets, start = [], 0
    for n in counts:
        index = chosen[start:start + 2 * n].view(n, 2)
        start += 2 * n
        classes = labels[index]
        sets.append({"x": images[index], "target": (classes[:, 0] <= classes[:, 1]).long(), "classes": classes})
    return sets


def check_spread(images: torch.Tensor, source: str, advice: str = "the file is probably corrupt") -> None:
    """A SuiteError naming `source` when the images' std is 0 or not finite: they cannot be standardised."""
    std = float(images.std()) if images.numel() > 1 else 0.0  # std of one value is NaN; it is constant all the same
    if not math.isfinite(std) or std == 0:
        raise SuiteError(f"{source}: images are constant (std {std:g}): cannot normalise; {advice}")


def normalisation(train_x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The mean and std of a round's training inputs, which standardise every split (no test information leaks)
    and, saved with the round's model, the inputs of `suite predict`.

    load_digits has refused constant files; a round's training pairs can still all be blank (a tiny --pairs)."""
    check_spread(train_x, "this round's training pairs", "draw more of them (--pairs)")
    return {"mean": train_x.mean().reshape(1), "std": train_x.std().reshape(1)}


def normalise(splits: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
    """Standardise every split with the mean and std of the training inputs (see normalisation)."""
    state = normalisation(splits["train"]["x"])
    return {name: {**split, "x": standardise(split["x"], state)} for name, split in splits.items()}


def standardise(x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
    return (x - state["mean"]) / state["std"]


def read_pair(paths: list[Path]) -> tuple[torch.Tensor, list[str]]:
    """`suite predict mnist` inputs → pooled digit pairs (float N×2×14×14, raw 0–255 scale, as load_digits pools
    them) and a name per pair: two digit images (white on black, as MNIST's: PNG or any format torchvision reads,
    28×28 or already 14×14), or one .npy of 2×14×14 (or N×2×14×14) on that scale."""
    import numpy as np

    for path in paths:
        if not Path(path).is_file():
            raise SuiteError(f"{path}: no such file")
    if len(paths) == 1 and Path(paths[0]).suffix == ".npy":
        try:
            array = np.load(paths[0], allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise SuiteError(f"{paths[0]}: not a readable .npy array ({exc})") from None
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[1:] != (2, 14, 14) or not np.issubdtype(array.dtype, np.number):
            raise SuiteError(f"{paths[0]}: expected numbers of shape 2×14×14 (or N×2×14×14), got "
                             f"{'×'.join(map(str, array.shape))} of {array.dtype}")
        x = torch.from_numpy(array.astype(np.float32))
        if not torch.isfinite(x).all():
            raise SuiteError(f"{paths[0]}: holds NaN or infinite values")
        return x, [f"{paths[0]} [{i}]" for i in range(len(x))]
    if len(paths) != 2:
        raise SuiteError(f"mnist: predict takes two digit images or one .npy file, got {len(paths)} file(s)")
    return torch.stack([_digit(path) for path in paths])[None], [f"{paths[0]} vs {paths[1]}"]


def _digit(path: Path) -> torch.Tensor:
    """One digit image as float 14×14 on MNIST's raw scale, pooled 2×2 from 28×28 as load_digits pools."""
    import warnings

    from torchvision.io import ImageReadMode, decode_image, read_file

    try:
        with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs for TorchCodec, not a dependency
            warnings.simplefilter("ignore", DeprecationWarning)
            image = decode_image(read_file(str(path)), mode=ImageReadMode.GRAY)
    except RuntimeError as exc:
        raise SuiteError(f"cannot decode image {path}: {str(exc).splitlines()[0]}") from None
    side = tuple(image.shape[1:])
    if side == (28, 28):
        return F.avg_pool2d(image[None].float(), kernel_size=2)[0, 0]
    if side == (14, 14):
        return image[0].float()
    raise SuiteError(f"image {path} is {side[1]}×{side[0]}; MNIST digits are 28×28 (or 14×14, pooled)")


def repair(split: dict[str, torch.Tensor], count: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The split with `count` more pairs made of its own images, paired anew (never an image with itself); their
    targets come from the images' digit labels. Uses no image the split does not already hold."""
    images, classes = split["x"].flatten(0, 1), split["classes"].flatten()
    n = len(images)
    if n < 2:
        raise SuiteError(f"--extra-pairs: {n} training image(s) cannot be paired anew")
    first = torch.randint(n, (count,), generator=generator)
    second = (first + torch.randint(1, n, (count,), generator=generator)) % n
    pairs = torch.stack([first, second], dim=1)
    extra = {"x": images[pairs], "classes": classes[pairs],
             "target": (classes[first] <= classes[second]).long()}
    return {key: torch.cat([split[key], extra[key]]) for key in split}


def shift_digits(x: torch.Tensor, most: int, generator: torch.Generator) -> torch.Tensor:
    """Move every digit image of x (…×14×14) by its own random offset of −most…most pixels in each direction;
    uncovered edges take the value of the image's border (the background, after any normalisation)."""
    *lead, h, w = x.shape
    flat = x.reshape(-1, 1, h, w)
    padded = F.pad(flat, (most, most, most, most), mode="replicate").squeeze(1)
    offsets = torch.randint(0, 2 * most + 1, (len(flat), 2), generator=generator, device=x.device)
    rows = (offsets[:, 0, None] + torch.arange(h, device=x.device))[:, :, None]  # N×h×1
    cols = (offsets[:, 1, None] + torch.arange(w, device=x.device))[:, None, :]  # N×1×w
    picked = padded[torch.arange(len(flat), device=x.device)[:, None, None], rows, cols]
    return picked.view(*lead, h, w)


def warp_digits(x: torch.Tensor, degrees: float, generator: torch.Generator, scale: float = 0.0,
                elastic: float = 0.0) -> torch.Tensor:
    """Turn every digit image of x (…×H×W) about its centre by its own random angle in ±degrees; with `scale`, zoom
    it by its own factor in 1 ± scale; with `elastic`, distort it by its own smooth random displacement field of RMS
    `elastic` pixels (Simard et al., 2003). One bilinear resampling; uncovered corners take the border value, the
    background. The angles are drawn first, then the zooms, then the fields, so that leaving an option at 0
    reproduces the warps drawn before it existed."""
    *lead, h, w = x.shape
    flat = x.reshape(-1, 1, h, w)
    angle = (torch.rand(len(flat), generator=generator, device=x.device) * 2 - 1) * math.radians(degrees)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    if scale:  # the grid maps output to input coordinates: dividing by the zoom enlarges the digit by it
        zoom = 1 + (torch.rand(len(flat), generator=generator, device=x.device) * 2 - 1) * scale
        cos, sin = cos / zoom, sin / zoom
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)  # N×2×3
    grid = F.affine_grid(theta.to(x.dtype), list(flat.shape), align_corners=False)  # N×H×W×(x, y)
    if elastic:
        grid = grid + elastic_field(len(flat), h, w, elastic, generator, x.device).to(x.dtype)
    return F.grid_sample(flat, grid, mode="bilinear", padding_mode="border", align_corners=False).view(*lead, h, w)


# Simard et al. smooth 28×28 fields with a Gaussian of σ = 4 pixels; the task's digits are pooled to 14×14.
ELASTIC_SIGMA = 2.0


def elastic_field(count: int, h: int, w: int, rms: float, generator: torch.Generator,
                  device: torch.device) -> torch.Tensor:
    """`count` smooth random displacement fields (count×H×W×2, in affine_grid's [−1, 1] coordinates): uniform noise
    per pixel, Gaussian-smoothed, each field scaled to an RMS displacement of `rms` pixels."""
    from torchvision.transforms.v2.functional import gaussian_blur

    noise = torch.rand(count, 2, h, w, generator=generator, device=device) * 2 - 1
    radius = min(math.ceil(3 * ELASTIC_SIGMA), (min(h, w) - 1) // 2)  # reflect padding needs radius < side
    smooth = gaussian_blur(noise, [2 * radius + 1] * 2, [ELASTIC_SIGMA] * 2)
    pixels = smooth * (rms / smooth.square().mean((1, 2, 3), keepdim=True).sqrt())
    return (pixels * torch.tensor([2 / w, 2 / h], device=device)[:, None, None]).permute(0, 2, 3, 1)
