"""Which cells of a sweep are not significantly worse than the best: a paired sign-flip step-down max-T test over
every pair of cells (Westfall & Young 1993, Algorithm 2.8; Romano & Wolf 2005).

The best cell is picked from the very rounds it is then compared on, so testing each cell against it alone
(k − 1 tests, Holm) flags equal cells as worse far more often than α. Here every pair of cells is a hypothesis, and
a cell is marked worse when some other cell is significantly better than it. The step-down max-T procedure
controls the family-wise error of all those statements at once: with probability at least 1 − α, every cell
marked worse is truly worse than some cell, and so than the truly best one, whichever cell came out on top. The
null distribution comes from flipping the sign of whole rounds (all pairs of a round flip together, which keeps
their dependence); it is exact when a round's differences are symmetric about their means, as with normal noise.
With n rounds the smallest p-value it can give is 2 / 2ⁿ (1/16 at 5 rounds): too few rounds can flag nothing.
"""

import itertools
import math

import numpy as np

EXACT_UP_TO = 12  # rounds: all 2ⁿ sign patterns below this, else RANDOM_FLIPS seeded ones
RANDOM_FLIPS = 4999
FLIP_SEED = 0


def smallest_p(rounds: int) -> float:
    """The smallest adjusted p-value the test can give with this many shared rounds."""
    if rounds < 2:
        return math.nan
    return 2 / 2**rounds if rounds <= EXACT_UP_TO else 1 / (RANDOM_FLIPS + 1)


def _flips(rounds: int) -> np.ndarray:
    if rounds <= EXACT_UP_TO:
        return np.array(list(itertools.product((1.0, -1.0), repeat=rounds)))
    rng = np.random.default_rng(FLIP_SEED)
    random = rng.choice((1.0, -1.0), size=(RANDOM_FLIPS, rounds))
    return np.vstack([np.ones(rounds), random])  # the observed signs are one of the patterns


def _t(sums: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
    """|paired t| from the differences' sum and sum of squares (a sign flip changes the sum, not the squares)."""
    mean = sums / n
    variance = np.maximum(squares - n * mean**2, 0.0) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(mean) / np.sqrt(variance / n)
    return np.where(np.abs(mean) <= 1e-12 * np.sqrt(squares / n + 1e-300), 0.0, t)  # equal rounds: no difference


def worse_than_best(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """values: rounds × cells, the same rounds in every column. Per cell, the step-down max-T adjusted p-value of
    "some other cell is better than this one" (NaN for a cell that no other beats on average, such as the best)."""
    n, k = values.shape
    out = np.full(k, math.nan)
    if n < 2 or k < 2:
        return out
    goodness = values if higher_is_better else -values
    pairs = list(itertools.combinations(range(k), 2))
    differences = np.stack([goodness[:, j] - goodness[:, i] for i, j in pairs], axis=1)  # rounds × pairs
    squares = (differences**2).sum(axis=0)
    observed = _t(differences.sum(axis=0), squares, n)
    order = np.argsort(-observed, kind="stable")
    flipped = _t(_flips(n) @ differences[:, order], squares[order], n)  # patterns × pairs, largest observed first
    # Step down: the s-th largest statistic is judged against the maximum over it and all smaller ones.
    tail_max = np.maximum.accumulate(flipped[:, ::-1], axis=1)[:, ::-1]
    tolerance = 1e-9 * np.maximum(observed[order], 1.0)
    adjusted = np.maximum.accumulate((tail_max >= observed[order] - tolerance).mean(axis=0))
    p_pair = np.empty(len(pairs))
    p_pair[order] = adjusted
    mean_difference = differences.mean(axis=0)
    for (i, j), p, d, t in zip(pairs, p_pair, mean_difference, observed, strict=True):
        if t == 0:
            continue
        loser = i if d > 0 else j  # the pair's evidence is that the other cell is better than this one
        out[loser] = p if math.isnan(out[loser]) else min(out[loser], p)
    return out
