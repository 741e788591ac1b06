"""The face descriptors of `--features lbp` and `--features descriptors`, computed once per data set and cached on
disk beside the image cache they come from: a View 2 run describes 7,701 images, minutes on a 2-core CPU for
HOG and Gabor, which every run would pay again.

A cache file is named by the image cache's own name (which hashes the source files and their preprocessing), the
descriptor's parameters, and the digest of the source of the module that computes it, so a changed image, option
or descriptor code gives another file; it holds the sha256 of its tensor, checked on every load (torch.load checks
no CRC), and a file that is unreadable, of other images or corrupt is rebuilt in its place with one line on stderr.
"""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import torch

from suite import SuiteError
from suite_tasks.lfw import data, gabor, hog, lbp

FORMAT = 2


@dataclasses.dataclass(frozen=True)
class Descriptor:
    kind: str  # lbp, hog or gabor
    region: str  # a key of lbp.REGIONS
    cell: int = 0  # lbp, hog: side of the histogram cells in pixels
    radius: int = 0  # lbp: radius of the circle of neighbours

    def compute(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 N×1×250×250 images → float N×2×D (each image's descriptor, then its mirror's)."""
        if self.kind == "lbp":
            return lbp.describe(images, self.region, self.cell, self.radius)
        if self.kind == "hog":
            return hog.describe(images, self.region, self.cell)
        return gabor.describe(images, self.region)

    def source(self) -> Path:
        return Path({"lbp": lbp, "hog": hog, "gabor": gabor}[self.kind].__file__)


# The bank of --descriptors: LBP at three scales and two regions, HOG at two, Gabor magnitudes (after Nguyen & Bai
# 2010 and Wolf, Hassner & Taigman 2008, who fused several such descriptors on LFW-a).
BANK = {
    "lbp": Descriptor("lbp", "inner", cell=10, radius=1),
    "lbp-r2": Descriptor("lbp", "inner", cell=12, radius=2),
    "lbp-wide": Descriptor("lbp", "wide", cell=10, radius=1),
    "lbp-r3-wide": Descriptor("lbp", "wide", cell=14, radius=3),
    "hog": Descriptor("hog", "inner", cell=8),
    "hog-wide": Descriptor("hog", "wide", cell=10),
    "gabor": Descriptor("gabor", "inner"),
}


def parse(names: str) -> list[str]:
    """--descriptors: comma-separated names of BANK, each once, in the order given."""
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    if not chosen:
        raise SuiteError(f"--descriptors: name at least one of {', '.join(BANK)}")
    unknown = [name for name in chosen if name not in BANK]
    if unknown:
        raise SuiteError(f"--descriptors: unknown descriptor {unknown[0]!r}; choose from {', '.join(BANK)}")
    if len(set(chosen)) != len(chosen):
        raise SuiteError(f"--descriptors: {names!r} names a descriptor twice")
    return chosen


def cache_path(images_cache: Path, descriptor: Descriptor) -> tuple[Path, str]:
    """(the descriptors' cache file, the key it must hold) for the images of `images_cache`."""
    spec = {"format": FORMAT, "images": images_cache.name, **dataclasses.asdict(descriptor),
            "source": hashlib.sha256(descriptor.source().read_bytes()).hexdigest()}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return images_cache.with_name(f"lfw-{descriptor.kind}-{descriptor.region}-{key[:20]}.pt"), key


def _read(path: Path, key: str, rows: int) -> tuple[torch.Tensor | None, str | None]:
    """(the cached descriptors, None), or (None, why the file is rejected; None when there is none)."""
    if not path.is_file():
        return None, None
    try:
        saved = torch.load(path, weights_only=True)
        descriptors = saved["descriptors"]
        valid = (saved["format"] == FORMAT and saved["key"] == key and descriptors.dtype == torch.float32
                 and descriptors.dim() == 3 and len(descriptors) == rows)
        digest = saved[data.DIGEST]
    except Exception:  # truncated, overwritten, an old format: any unreadable file is rebuilt
        return None, "cannot be read (truncated or overwritten)"
    if not valid:
        return None, "holds other descriptors than its name says"
    if digest != data.tensor_digest(descriptors):
        return None, "is corrupt (its descriptors do not match the digest stored with them)"
    return descriptors, None


def describe(loaded: data.LoadedImages, descriptor: Descriptor) -> tuple[torch.Tensor, bool]:
    """The descriptor of the loaded images, from the cache when it holds them; (descriptors, whether cached)."""
    path, key = cache_path(loaded.cache_path, descriptor)
    descriptors, stale = _read(path, key, len(loaded.images))
    if descriptors is not None:
        return descriptors, True
    if stale:
        print(f"suite: descriptor cache {path} {stale}: rebuilding it", file=sys.stderr, flush=True)
    descriptors = descriptor.compute(loaded.images)
    data._write_cache(path, {"format": FORMAT, "key": key, "descriptors": descriptors,  # noqa: SLF001
                             data.DIGEST: data.tensor_digest(descriptors)})
    return descriptors, False
