"""Local binary pattern (LBP) histograms of face regions, and the whitened PCA fitted on a round's training images.

The hand-crafted front end of LFW's image-restricted era (Ojala et al. 2002; Wolf, Hassner & Taigman 2008;
Nguyen & Bai 2010, cosine similarity metric learning): each pixel's 8 neighbours on a circle of the given radius
(bilinearly interpolated) are compared with it, the 8 bits are mapped to the 59 "uniform" codes (at most two
0/1 transitions around the circle; every other code shares one bin), and each cell of a grid over the region gets
a histogram of its codes. Histograms are normalised per cell and square-rooted, so the dot product of two
descriptors is the Bhattacharyya coefficient (Hellinger distance).
"""

import math

import torch

NEIGHBOURS = 8
# LFW-a regions (rows, columns) of the 250×250 image: "inner" is the eyes-to-mouth box of about 150×80 that
# Wolf et al. and Nguyen & Bai described on LFW-a; "face" the centred 125×125 box the pixel models crop; "wide"
# the 170×120 box of brows, cheeks and chin around "inner" (a descriptor of --features descriptors).
REGIONS = {"none": (slice(0, 250), slice(0, 250)), "face": (slice(62, 187), slice(62, 187)),
           "inner": (slice(50, 200), slice(85, 165)), "wide": (slice(40, 210), slice(65, 185))}
CHUNK = 256  # images per batch: codes and histograms of 256 regions stay well under 100 MB


def _uniform_bins() -> tuple[torch.Tensor, int]:
    """Code (0–255) → bin: one bin per uniform pattern (58 of them), then one shared by all the others."""
    table = torch.empty(2 ** NEIGHBOURS, dtype=torch.long)
    uniform = 0
    for code in range(2 ** NEIGHBOURS):
        bits = [(code >> i) & 1 for i in range(NEIGHBOURS)]
        if sum(bits[i] != bits[(i + 1) % NEIGHBOURS] for i in range(NEIGHBOURS)) <= 2:
            table[code] = uniform
            uniform += 1
        else:
            table[code] = -1
    table[table < 0] = uniform
    return table, uniform + 1


BIN_OF_CODE, BINS = _uniform_bins()  # BINS = 59


def lbp_codes(images: torch.Tensor, radius: int) -> torch.Tensor:
    """Uniform-LBP bin of every pixel at least `radius` from the border: float N×H×W → long N×(H−2r)×(W−2r)."""
    _, height, width = images.shape
    r = radius

    def shifted(dy: int, dx: int) -> torch.Tensor:
        return images[:, r + dy:height - r + dy, r + dx:width - r + dx]

    centre = shifted(0, 0)
    codes = torch.zeros(centre.shape, dtype=torch.long)
    for k in range(NEIGHBOURS):
        angle = 2 * math.pi * k / NEIGHBOURS
        # Rounded so that the axis neighbours sit exactly on pixels (sin π is 1e-16, not 0).
        y, x = round(-r * math.sin(angle), 9), round(r * math.cos(angle), 9)
        y0, x0 = math.floor(y), math.floor(x)
        fy, fx = y - y0, x - x0
        value = shifted(y0, x0) * (1 - fy) * (1 - fx)
        if fx:
            value = value + shifted(y0, x0 + 1) * (1 - fy) * fx
        if fy:
            value = value + shifted(y0 + 1, x0) * fy * (1 - fx)
        if fx and fy:
            value = value + shifted(y0 + 1, x0 + 1) * fy * fx
        codes |= (value >= centre).long() << k
    return BIN_OF_CODE[codes]


def cell_histograms(codes: torch.Tensor, cell: int) -> torch.Tensor:
    """Histogram of the bins in each cell×cell cell (a partial last row or column of cells is dropped):
    long N×H×W → float N×cells×BINS, each cell's histogram summing to 1."""
    n, height, width = codes.shape
    rows, columns = height // cell, width // cell
    codes = codes[:, :rows * cell, :columns * cell]
    cell_of_pixel = (torch.arange(rows).repeat_interleave(cell)[:, None] * columns
                     + torch.arange(columns).repeat_interleave(cell)[None, :])
    index = (cell_of_pixel * BINS + codes).flatten(1)
    counts = torch.zeros(n, rows * columns * BINS).scatter_add_(1, index, torch.ones(index.shape))
    return counts.view(n, rows * columns, BINS) / (cell * cell)


def descriptor_size(region: str, cell: int, radius: int) -> int:
    """Values per descriptor: the whole cells of the region less `radius` at each border, × BINS."""
    rows, columns = ((side.stop - side.start - 2 * radius) // cell for side in REGIONS[region])
    return rows * columns * BINS


def describe(images: torch.Tensor, region: str, cell: int, radius: int) -> torch.Tensor:
    """uint8 N×1×250×250 LFW images → float N×2×D: the square-rooted LBP histograms of each image's region
    (view 0) and of its mirror image (view 1)."""
    rows, columns = REGIONS[region]
    out = torch.empty(len(images), 2, descriptor_size(region, cell, radius))
    for start in range(0, len(images), CHUNK):
        crops = images[start:start + CHUNK, 0, rows, columns].float()
        for view, crop in enumerate((crops, crops.flip(-1))):
            out[start:start + len(crops), view] = cell_histograms(lbp_codes(crop, radius), cell).sqrt().flatten(1)
    return out


def fit_whitening(features: torch.Tensor, dims: int, seed: int,
                  iterations: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, projection D×dims) of the whitened PCA of features (n×D, one row per training image or mirror):
    (x − mean) @ projection has unit variance along each of the `dims` leading principal components.

    Randomized SVD (torch.pca_lowrank, Halko et al.), an order of magnitude faster than a full SVD at LFW's sizes
    (docs/benchmarks.md) with `iterations` power iterations; its random start comes from `seed`, so a round's
    projection is reproducible."""
    if dims > min(features.shape):
        raise ValueError(f"{dims} components need at least {dims} training descriptors (two per image: it and "
                         f"its mirror) of at least {dims} values, got {features.shape[0]} of {features.shape[1]}")
    mean = features.mean(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, singular, components = torch.pca_lowrank(features - mean, q=min(dims + 10, *features.shape),
                                                    center=False, niter=iterations)
    scale = singular[:dims] / math.sqrt(len(features) - 1)  # the components' standard deviations
    if scale[-1] <= 1e-6 * scale[0]:  # whitening would blow up a direction that holds only rounding noise
        raise ValueError(f"the training images' descriptors vary along fewer than {dims} directions")
    return mean, components[:, :dims] / scale
