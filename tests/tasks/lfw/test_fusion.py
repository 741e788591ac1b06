"""Several descriptors, each whitened within pairs, fused (suite_tasks/lfw/{fusion,hog,gabor,descriptors}.py)."""

import math

import numpy as np
import pytest
import torch
from skimage.feature import hog as skimage_hog

from suite import ROUND_STATE
from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite_tasks.lfw import descriptors, fusion, gabor, hog
from suite_tasks.lfw.config import DEFAULT_DESCRIPTORS, LfwConfig
from suite_tasks.lfw.models import fusion as fusion_model
from suite_tasks.lfw.presets import PRESETS
from suite_tasks.lfw.task import TASK
from tests.cli_helpers import suite_here

CPU = torch.device("cpu")
FUSION = {"features": "descriptors", "model": "fusion", "distance": "cosine"}


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: descriptors cached in the test's own folder


def test_within_pair_whitening_whitens_the_matched_differences():
    generator = torch.Generator().manual_seed(0)
    embedded = torch.randn(400, 2, 6, generator=generator) * torch.tensor([3.0, 1, 1, 1, 0.5, 2])
    a, b = torch.arange(0, 400, 2), torch.arange(1, 400, 2)
    w = fusion.within_pair_whitening(embedded, a, b).double()
    differences = (embedded[a] - embedded[b]).flatten(0, 1).double() @ w
    covariance = differences.T @ differences / len(differences)
    assert torch.allclose(covariance, torch.eye(6, dtype=torch.float64), atol=5e-3)  # up to the ridge


def test_training_pairs_are_embedded_out_of_fold():
    """A training pair's own label never shapes the whitening its embedding went through (--fusion-folds 5); with
    --fusion-folds 0 it does."""
    generator = torch.Generator().manual_seed(1)
    values = {"d": torch.randn(60, 2, 12, generator=generator)}
    a, b = torch.arange(0, 60, 2), torch.arange(1, 60, 2)
    same = torch.arange(30) % 2 == 0
    relabelled = same.clone()
    relabelled[0] = False  # pair 0, matched, now counted as mismatched

    def embedded(labels, folds):
        return fusion.embed(values, a, b, labels, 4, folds, torch.Generator().manual_seed(7))

    images, pairs, state = embedded(same, 5)
    _, pairs_relabelled, state_relabelled = embedded(relabelled, 5)
    assert images.shape == (60, 2, 4) and pairs.shape == (30, 2, 2, 4)
    assert torch.equal(pairs[0], pairs_relabelled[0])  # its fold's whitening never saw it
    assert not torch.equal(state["projection.d"], state_relabelled["projection.d"])  # the full fit did
    _, in_sample, _ = embedded(same, 0)
    _, in_sample_relabelled, _ = embedded(relabelled, 0)
    assert not torch.equal(in_sample[0], in_sample_relabelled[0])
    assert torch.allclose(fusion.embed_images(values, state), images, atol=1e-5)  # as a saved model does


def test_the_fusion_model_is_a_logistic_regression_on_cosines():
    config = LfwConfig(**FUSION, descriptors="lbp, hog,", pca_dims=3)  # spaces and a trailing comma: two names
    model = fusion_model(config)
    assert sum(p.numel() for p in model.parameters()) == 3  # a weight per descriptor and a bias
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[2.0, -1.0]]))
        model.head.bias.fill_(0.5)
    x = torch.randn(4, 2, 1, 6, generator=torch.Generator().manual_seed(0))
    cosines = np.array([[np.dot(p[0, 0, s], p[1, 0, s]) / np.linalg.norm(p[0, 0, s]) / np.linalg.norm(p[1, 0, s])
                         for s in (slice(0, 3), slice(3, 6))] for p in x.numpy()])
    assert np.allclose(model(x)["logits"].detach().numpy(), cosines @ [2.0, -1.0] + 0.5, atol=1e-5)


def test_hog_is_scikit_images_of_the_region_and_its_mirror():
    image = torch.randint(256, (1, 1, 250, 250), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    got = hog.describe(image, "inner", 8)
    region = image[0, 0, 50:200, 85:165].numpy().astype(np.float32)
    for view, crop in enumerate((region, region[:, ::-1])):
        expected = np.sqrt(skimage_hog(crop, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                                       block_norm="L2-Hys"))
        assert np.allclose(got[0, view].numpy(), expected)
    assert got.shape == (1, 2, hog.descriptor_size("inner", 8))


def test_gabor_magnitudes_peak_at_the_gratings_frequency_and_orientation():
    """A vertical grating (varying along x) of 0.12 cycles per halved pixel answers most to the filter of that
    frequency at orientation 0, and its mirror the same."""
    x = torch.arange(250.0)
    grating = (127.5 + 100 * torch.cos(2 * math.pi * 0.06 * x)).expand(250, 250)  # 0.06 here = 0.12 halved
    out = gabor.describe(grating.round().to(torch.uint8)[None, None], "inner")
    assert out.shape == (1, 2, gabor.descriptor_size("inner"))
    energy = out[0].view(2, len(gabor.FREQUENCIES), gabor.ORIENTATIONS, -1).square().mean(-1)
    for view in range(2):
        frequency, orientation = divmod(int(energy[view].argmax()), gabor.ORIENTATIONS)
        assert (gabor.FREQUENCIES[frequency], orientation) == (0.12, 0)


@pytest.mark.parametrize("names,message", [
    ("", "--descriptors: name at least one of lbp, lbp-r2"),
    ("lbp,sift", "unknown descriptor 'sift'; choose from lbp, lbp-r2, lbp-wide"),
    ("lbp,hog,lbp", "names a descriptor twice"),
])
def test_bad_descriptor_lists_are_refused(names, message):
    with pytest.raises(SuiteError, match=message):
        LfwConfig(**FUSION, descriptors=names).check()


@pytest.mark.parametrize("options,message", [
    ({"model": "fusion", "distance": "cosine"}, "--model fusion learns on --features descriptors, not pixels"),
    ({**FUSION, "model": "metric"}, "--model metric learns on --features lbp, not descriptors"),
    ({**FUSION, "crop": "inner"}, "--crop applies to --features pixels or lbp, not descriptors"),
    ({**FUSION, "lbp_cell": 12}, "--lbp-cell applies to --features lbp, not descriptors"),
    ({**FUSION, "fusion_folds": 1}, "--fusion-folds 1 leaves no pairs"),
    ({**FUSION, "loss": "contrastive"}, "--model fusion learns a logistic fusion: it takes --loss bce"),
    ({**FUSION, "distance": "l1"}, "--model fusion compares cosines"),
    ({"features": "lbp", "model": "metric", "distance": "cosine", "fusion_folds": 3},
     "--fusion-folds applies to --features descriptors, not lbp"),
])
def test_options_that_do_not_apply_are_refused(options, message):
    with pytest.raises(SuiteError, match=message):
        LfwConfig(**options).check()


def test_prepare_caches_every_descriptor(tmp_path, textured_tree):
    config = LfwConfig(**FUSION, descriptors="lbp,hog-wide,gabor")
    prepared = TASK.prepare(config, textured_tree, False)
    assert list(prepared.images) == ["lbp", "hog-wide", "gabor"]
    assert prepared.images["gabor"].shape == (len(prepared.row), 2, gabor.descriptor_size("inner"))
    assert len(list((tmp_path / "cache").glob("lfw-*-*-*.pt"))) == 1 + 3  # the images, then each descriptor
    again = TASK.prepare(config, textured_tree, False)
    assert all(torch.equal(again.images[name], prepared.images[name]) for name in prepared.images)


def test_fusion_run_and_prediction_end_to_end(tmp_path, textured_tree):
    config = LfwConfig(**FUSION, descriptors="lbp,hog", pca_dims=3, val_fraction=0.0, fusion_folds=0, epochs=5,
                       tta="flip")  # 4 training pairs, 2 matched: too few to leave matched pairs outside every fold
    outcome = run_experiment(TASK, config, RunPlan(rounds=2, seed=0, device=CPU, store=Store(tmp_path / "r.db"),
                                                   data_dir=textured_tree))
    assert len(outcome.rounds) == 2 and outcome.rounds["test_accuracy"].between(0, 1).all()
    splits = TASK.round_data(TASK.prepare(config, textured_tree, False), config,
                             RoundSeeds(0, 0).generator("data"), 0)
    assert splits["train"]["x"].shape == (4, 2, 2, 6) and splits["test"]["x"].shape == (2, 2, 2, 6)
    assert set(splits[ROUND_STATE]) == {"mean.lbp", "projection.lbp", "mean.hog", "projection.hog"}
    pairs = TASK.predict_pairs_file(config, splits[ROUND_STATE], textured_tree / "lfw-a" / "pairsDevTest.txt",
                                    textured_tree)[0]
    assert torch.allclose(pairs["x"], splits["test"]["x"], atol=1e-5)  # a saved model embeds as its round did


def test_training_pairs_or_a_fold_complement_without_matched_pairs_are_refused_by_name():
    values = {"d": torch.randn(8, 2, 5, generator=torch.Generator().manual_seed(0))}
    same = torch.tensor([True, False, False, False])
    with pytest.raises(ValueError, match="outside fold [12] of 2 \\(--fusion-folds\\) hold none"):
        fusion.embed(values, torch.arange(0, 8, 2), torch.arange(1, 8, 2), same, 2, 2, torch.Generator())
    with pytest.raises(ValueError, match="needs matched pairs, and the training pairs hold none"):
        fusion.embed(values, torch.arange(0, 8, 2), torch.arange(1, 8, 2), torch.zeros(4, dtype=torch.bool), 2, 0,
                     torch.Generator())


def test_data_prepare_counts_the_images_not_the_descriptors(tmp_path, textured_tree):
    prepared = suite_here("data", "prepare", "lfw", "--features", "descriptors", "--descriptors", "lbp,hog",
                          cwd=tmp_path, data_dir=textured_tree)
    assert prepared.returncode == 0, prepared.stderr
    images = len(TASK.prepare(LfwConfig(**FUSION, descriptors="lbp,hog"), textured_tree, False).row)
    assert " ".join(prepared.stdout.split()).startswith(f"lfw: {images} images of the view1 pairs")


def test_bad_fusion_options_on_the_command_line_are_one_line(tmp_path, lfw_a_tree):
    result = suite_here("run", "lfw", "--features", "descriptors", "--model", "fusion", "--distance", "cosine",
                        "--descriptors", "lbp,sift", "--rounds", "1", "--store", str(tmp_path / "r.db"),
                        cwd=tmp_path, data_dir=lfw_a_tree)
    assert result.returncode == 2 and not (tmp_path / "r.db").exists()
    assert result.stderr.strip().splitlines() == [
        f"suite: error: --descriptors: unknown descriptor 'sift'; choose from {', '.join(descriptors.BANK)}"]


@pytest.mark.slow
def test_best_preset_on_real_view1(tmp_path, lfw_data_dir):
    """One round of `--preset best` on the real DevTrain / DevTest pairs, descriptors computed from scratch (View 2's
    10 folds: docs/tasks/lfw.md)."""
    config = LfwConfig(**TASK.presets.get("best").value)
    outcome = run_experiment(TASK, config, RunPlan(rounds=1, seed=0, device=CPU, store=Store(tmp_path / "r.db"),
                                                   data_dir=lfw_data_dir))
    accuracy = outcome.rounds["test_accuracy"].iloc[0]
    assert accuracy >= 0.85, accuracy  # one LBP with CSML: 0.84; the reports' CNNs: 0.67–0.71
    assert not math.isnan(outcome.rounds["test_tuned_accuracy"].iloc[0])


def test_the_default_descriptors_are_the_whole_bank_in_its_order():
    # the best preset's last descriptor step names DEFAULT_DESCRIPTORS: the ablation's "+ Gabor" means the whole bank
    assert DEFAULT_DESCRIPTORS.split(",") == list(descriptors.BANK)
    assert PRESETS.get("best").value["descriptors"] == DEFAULT_DESCRIPTORS
