"""Histograms of oriented gradients (Dalal & Triggs 2005) of face regions, by scikit-image: 9 orientations per
cell, 2×2-cell blocks normalised with L2-Hys, square-rooted like the LBP histograms (a Hellinger kernel)."""

import numpy as np
import torch
from skimage.feature import hog

from suite_tasks.lfw.lbp import REGIONS

ORIENTATIONS = 9
BLOCK = 2  # cells per block side


def _one(region: np.ndarray, cell: int) -> np.ndarray:
    return np.sqrt(hog(region, orientations=ORIENTATIONS, pixels_per_cell=(cell, cell),
                       cells_per_block=(BLOCK, BLOCK), block_norm="L2-Hys", feature_vector=True))


def descriptor_size(region: str, cell: int) -> int:
    rows, columns = ((side.stop - side.start) // cell - BLOCK + 1 for side in REGIONS[region])
    return rows * columns * BLOCK * BLOCK * ORIENTATIONS


def describe(images: torch.Tensor, region: str, cell: int) -> torch.Tensor:
    """uint8 N×1×250×250 LFW images → float N×2×D: HOG of each image's region (view 0) and of its mirror (view 1)."""
    rows, columns = REGIONS[region]
    crops = images[:, 0, rows, columns].numpy().astype(np.float32)
    out = np.empty((len(images), 2, descriptor_size(region, cell)), dtype=np.float32)
    for i, crop in enumerate(crops):
        out[i, 0], out[i, 1] = _one(crop, cell), _one(crop[:, ::-1], cell)
    return torch.from_numpy(out)
