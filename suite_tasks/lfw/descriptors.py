"""LBP descriptors of a data set's images, computed once and cached on disk beside the image cache they come from:
a View 2 run describes 7,701 images, about a minute on a 2-core CPU, which every run paid again before.

A cache file is named by the image cache's own name (which hashes the source files and their preprocessing), the
region, cell and radius, and the digest of lbp.py's source, so a changed image, option or LBP code gives another
file; it holds the sha256 of its tensor, checked on every load (torch.load checks no CRC), and a file that is
unreadable, of other images or corrupt is rebuilt in its place with one line on stderr.
"""

import hashlib
import json
import sys
from pathlib import Path

import torch

from suite_tasks.lfw import data, lbp

FORMAT = 1
_LBP_SOURCE = Path(lbp.__file__)


def cache_path(images_cache: Path, region: str, cell: int, radius: int) -> tuple[Path, str]:
    """(the descriptors' cache file, the key it must hold) for the images of `images_cache`."""
    spec = {"format": FORMAT, "images": images_cache.name, "region": region, "cell": cell, "radius": radius,
            "lbp": hashlib.sha256(_LBP_SOURCE.read_bytes()).hexdigest()}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return images_cache.with_name(f"lfw-lbp-{region}-c{cell}-r{radius}-{key[:20]}.pt"), key


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


def describe(loaded: data.LoadedImages, region: str, cell: int, radius: int) -> tuple[torch.Tensor, bool]:
    """lbp.describe of the loaded images, from the cache when it holds them; (descriptors, whether cached)."""
    path, key = cache_path(loaded.cache_path, region, cell, radius)
    descriptors, stale = _read(path, key, len(loaded.images))
    if descriptors is not None:
        return descriptors, True
    if stale:
        print(f"suite: descriptor cache {path} {stale}: rebuilding it", file=sys.stderr, flush=True)
    descriptors = lbp.describe(loaded.images, region, cell, radius)
    data._write_cache(path, {"format": FORMAT, "key": key, "descriptors": descriptors,  # noqa: SLF001
                             data.DIGEST: data.tensor_digest(descriptors)})
    return descriptors, False
