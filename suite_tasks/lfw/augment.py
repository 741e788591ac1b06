"""On-the-fly augmentation of face images, on the device, drawn from the round's augmentation stream.

Each image of a pair is augmented independently (as report 003 did per image), with its own flip, affine
transform and brightness factor.
"""

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, half_width: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n values uniform in [-half_width, half_width]."""
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width


def augment_images(images: torch.Tensor, *, flip: bool, affine: float, brightness: float,
                   generator: torch.Generator) -> torch.Tensor:
    """images: float N×C×H×W in [0, 1]. affine a: zoom ±a, shear ±20a°, translation ±10a % of the side."""
    n, device = len(images), images.device
    if flip:
        mirrored = torch.rand(n, generator=generator, device=device) < 0.5
        images = torch.where(mirrored[:, None, None, None], images.flip(-1), images)
    if affine > 0:
        zoom = 1 + _uniform(n, affine, generator, device)
        shear = torch.tan(_uniform(n, math.radians(20 * affine), generator, device))
        shift = _uniform(2 * n, 0.2 * affine, generator, device).view(n, 2)  # 10 % of a side = 0.2 in [-1, 1]
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = 1 / zoom  # the grid maps output to input coordinates: zooming in samples a smaller area
        theta[:, 0, 1] = shear
        theta[:, 1, 1] = 1 / zoom
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if brightness > 0:
        factor = 1 + _uniform(n, brightness, generator, device)
        images = (images * factor[:, None, None, None]).clamp(0, 1)
    return images
