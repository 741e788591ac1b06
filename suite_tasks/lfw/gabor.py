"""Gabor magnitude descriptors of face regions: a bank of complex Gabor filters (scikit-image's kernels) at five
frequencies and eight orientations, the magnitude of each response average-pooled over a grid and square-rooted.

Gabor magnitudes are one of the descriptor families of LFW's image-restricted era (Nguyen & Bai 2010 fuse them with
intensities and LBP). The region is halved first (bilinear area averaging) and convolved through the FFT: the
lowest frequency's kernel is 69 pixels wide, far too wide for direct convolution on a CPU.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage.filters import gabor_kernel

from suite_tasks.lfw.lbp import REGIONS

FREQUENCIES = (0.05, 0.08, 0.12, 0.18, 0.25)  # cycles per pixel of the halved region
ORIENTATIONS = 8
DOWNSAMPLE = 2  # the region is averaged over 2×2 blocks first
POOL = 5  # side of the cells whose magnitudes are averaged
CHUNK = 64  # regions per FFT batch: 64 × 2 views × 40 filters of 145×110 complex values ≈ 330 MB


def _bank() -> torch.Tensor:
    """The filters, each zero-padded to the widest one's odd side, centred: complex 40×S×S."""
    kernels = [gabor_kernel(frequency, theta=math.pi * j / ORIENTATIONS)
               for frequency in FREQUENCIES for j in range(ORIENTATIONS)]
    side = max(k.shape[0] for k in kernels)
    bank = np.zeros((len(kernels), side, side), dtype=np.complex64)
    for i, kernel in enumerate(kernels):
        offset = (side - kernel.shape[0]) // 2
        bank[i, offset:offset + kernel.shape[0], offset:offset + kernel.shape[1]] = kernel
    return torch.from_numpy(bank)


def descriptor_size(region: str) -> int:
    rows, columns = ((side.stop - side.start) // DOWNSAMPLE // POOL for side in REGIONS[region])
    return len(FREQUENCIES) * ORIENTATIONS * rows * columns


def describe(images: torch.Tensor, region: str) -> torch.Tensor:
    """uint8 N×1×250×250 LFW images → float N×2×D: pooled, square-rooted Gabor magnitudes of each image's region
    (view 0) and of its mirror image (view 1)."""
    rows, columns = REGIONS[region]
    bank = _bank()
    side = bank.shape[-1]
    height, width = (rows.stop - rows.start) // DOWNSAMPLE, (columns.stop - columns.start) // DOWNSAMPLE
    shape = (height + side - 1, width + side - 1)  # a full linear convolution: no wrap-around
    spectra = torch.fft.fft2(bank, s=shape)
    centre = side // 2
    out = torch.empty(len(images), 2, descriptor_size(region))
    for start in range(0, len(images), CHUNK):
        crops = F.avg_pool2d(images[start:start + CHUNK, :, rows, columns].float() / 255, DOWNSAMPLE)[:, 0]
        views = torch.stack([crops, crops.flip(-1)], 1)
        views = views - views.mean((-2, -1), keepdim=True)  # the DC term would dominate every low-frequency filter
        responses = torch.fft.ifft2(torch.fft.fft2(views, s=shape)[:, :, None] * spectra)
        magnitude = responses[..., centre:centre + height, centre:centre + width].abs()
        pooled = F.avg_pool2d(magnitude.flatten(0, 2)[:, None], POOL).view(len(crops), 2, -1)
        out[start:start + len(crops)] = pooled.sqrt()
    return out
