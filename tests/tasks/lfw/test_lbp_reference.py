"""The suite's LBP codes against scikit-image's (the reference implementation of Ojala et al.'s operator)."""

import numpy as np
import pytest
import torch

from suite_tasks.lfw import lbp

feature = pytest.importorskip("skimage.feature", reason="scikit-image (the dev extra) is the reference LBP")


def relabelling(ours: np.ndarray, theirs: np.ndarray) -> dict[int, int] | None:
    """Our bin → scikit-image's label, when one exists (a bijection between the pixels' codes), else None."""
    forward: dict[int, int] = {}
    for a, b in zip(ours.ravel().tolist(), theirs.ravel().tolist(), strict=True):
        if forward.setdefault(a, b) != b:
            return None
    return forward if len(set(forward.values())) == len(forward) else None


# scikit-image warns that float images may differ by ties under rounding: these have none, by construction
@pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern` to floating-point images:UserWarning")
@pytest.mark.parametrize("radius", [1, 2, 3])
def test_codes_are_scikit_images_nri_uniform_patterns_relabelled(radius) -> None:
    """On an image without ties (distinct random values, so that no interpolated neighbour equals its centre up to
    rounding), every pixel's uniform pattern is scikit-image's `nri_uniform` one under a fixed relabelling of the
    59 bins: the histograms are the same up to the order of their bins."""
    image = np.random.default_rng(radius).permutation(64 * 72).reshape(64, 72).astype(np.float64) / 7
    ours = lbp.lbp_codes(torch.tensor(image)[None], radius)[0].numpy()
    theirs = feature.local_binary_pattern(image, 8, radius, method="nri_uniform")[radius:-radius, radius:-radius]
    mapping = relabelling(ours, theirs.astype(int))
    assert mapping is not None and len(mapping) >= 57
