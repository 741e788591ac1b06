"""LBP descriptors, the per-round whitened PCA and the metric model, the CSML recipe (suite_tasks/lfw/lbp.py)."""


import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite_tasks.lfw import lbp
from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.models import INITIAL_SCALE, metric
from suite_tasks.lfw.task import TASK
from tests.cli_helpers import suite_here

CPU = torch.device("cpu")
LBP = {"features": "lbp", "model": "metric", "distance": "cosine"}


pytestmark = pytest.mark.usefixtures("private_cache")  # conftest: descriptors cached in the test's own folder


def test_uniform_codes_have_59_bins():
    uniform = [code for code in range(256) if lbp.BIN_OF_CODE[code] < lbp.BINS - 1]
    assert lbp.BINS == 59 and len(uniform) == 58
    assert lbp.BIN_OF_CODE[0] == 0 and lbp.BIN_OF_CODE[1] == 1 and lbp.BIN_OF_CODE[255] == 57
    assert lbp.BIN_OF_CODE[0b00000101] == 58  # four transitions around the circle: not uniform


def test_codes_compare_each_neighbour_with_the_centre():
    image = torch.zeros(1, 3, 3)
    image[0, 1, 1], image[0, 1, 2] = 5.0, 9.0  # only the right-hand neighbour (bit 0) is >= the centre
    assert lbp.lbp_codes(image, 1).tolist() == [[[1]]]
    image[0, 1, 2] = 0.0
    image[0, 0, 1] = 9.0  # the one above is bit 2: code 0b100, uniform, the 4th uniform pattern
    assert lbp.lbp_codes(image, 1).item() == lbp.BIN_OF_CODE[4]
    assert lbp.lbp_codes(torch.full((2, 9, 9), 3.0), 2).unique().tolist() == [57]  # flat: all bits set
    assert lbp.lbp_codes(torch.rand(1, 9, 7), 2).shape == (1, 5, 3)


def test_cell_histograms_sum_to_one_per_cell():
    codes = torch.randint(lbp.BINS, (3, 25, 21))
    histograms = lbp.cell_histograms(codes, 10)  # 2×2 cells; the partial last row and column are dropped
    assert histograms.shape == (3, 4, lbp.BINS)
    assert torch.allclose(histograms.sum(-1), torch.ones(3, 4))
    first = torch.bincount(codes[0, :10, :10].flatten(), minlength=lbp.BINS).float() / 100
    assert torch.allclose(histograms[0, 0], first)


def test_descriptors_of_an_image_and_of_its_mirror():
    images = torch.randint(256, (3, 1, 250, 250), dtype=torch.uint8)
    described = lbp.describe(images, "inner", 10, 1)
    assert described.shape == (3, 2, lbp.descriptor_size("inner", 10, 1)) == (3, 2, 14 * 7 * 59)
    assert torch.allclose(described.square().sum(-1), torch.full((3, 2), 14 * 7.0))  # √ of unit-sum histograms
    whole = lbp.describe(images, "none", 62, 1)  # 4×4 cells over 248×248 pixels: the grid is symmetric
    assert torch.equal(lbp.describe(images.flip(-1), "none", 62, 1)[:, 0], whole[:, 1])
    assert not torch.equal(whole[:, 0], whole[:, 1])


def test_whitening_gives_unit_variance_and_is_reproducible():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.randn(30, 40, generator=generator)
    features = torch.randn(500, 30, generator=generator) @ mixing + 3
    mean, projection = lbp.fit_whitening(features, 10, seed=7)
    projected = (features - mean) @ projection
    assert projection.shape == (40, 10)
    assert torch.allclose(projected.mean(0), torch.zeros(10), atol=1e-4)
    assert torch.allclose(torch.cov(projected.T), torch.eye(10), atol=1e-3)
    again = lbp.fit_whitening(features, 10, seed=7)
    assert torch.equal(again[1], projection)
    with pytest.raises(ValueError, match="11 components need at least 11 training descriptors"):
        lbp.fit_whitening(features[:10], 11, seed=7)
    with pytest.raises(ValueError, match="vary along fewer than 4 directions"):  # rank 3: no 4th to whiten
        lbp.fit_whitening(torch.randn(50, 3, generator=generator) @ mixing[:3], 4, seed=7)


def test_metric_starts_as_the_cosine_of_whitened_descriptors():
    config = LfwConfig(**LBP, pca_dims=6, fc_units=4)
    model = metric(config)
    x = torch.randn(5, 2, 1, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the model computes in float32 whatever autocast says
        outputs = model(x)
    cosine = torch.nn.functional.cosine_similarity(x[:, 0, 0, :4], x[:, 1, 0, :4], dim=1)
    assert outputs["logits"].dtype == torch.float32
    assert torch.allclose(outputs["logits"], INITIAL_SCALE * cosine, atol=1e-5)
    views = model(torch.randn(5, 2, 2, 6))  # two views per image (--tta flip): their embeddings are averaged
    assert views["logits"].shape == (5,)
    assert sum(p.numel() for p in metric(LfwConfig(**LBP)).parameters()) == 200 * 200 + 2


@pytest.mark.parametrize("options,message", [
    ({"model": "metric"}, "--model metric learns on --features lbp, not pixels"),
    ({"crop": "inner"}, "--crop inner"),
    ({**LBP, "size": 72}, "--size applies to --features pixels"),
    ({**LBP, "affine": 0.1}, "--affine applies to --features pixels"),
    ({"tta": "flip"}, "--tta applies to --features lbp"),
    ({"pca_dims": 50}, "--pca-dims applies to --features lbp"),
    ({**LBP, "fc_units": 300}, "--fc-units 300: --model metric maps the 200 components"),
    ({**LBP, "distance": "l1"}, "--model metric compares cosines: it takes --distance cosine, not l1"),
])
def test_options_of_the_other_input_kind_are_refused(options, message):
    with pytest.raises(SuiteError, match=message):
        LfwConfig(**options).check()


def test_the_cnns_refuse_lbp_descriptors_when_built():
    config = LfwConfig(features="lbp")  # valid as a data configuration: `suite data prepare lfw --features lbp`
    config.check()
    with pytest.raises(SuiteError, match="--model koch reads pixels: --features lbp needs --model metric"):
        TASK.build_model(config)


def test_round_whitens_with_training_images_only(textured_tree):
    config = LfwConfig(**LBP, crop="face", lbp_cell=25, pca_dims=4, val_fraction=0.0)
    prepared = TASK.prepare(config, textured_tree, False)
    assert prepared.images.shape == (len(prepared.row), 2, 16 * lbp.BINS)
    splits = TASK.round_data(prepared, config, RoundSeeds(0, 0).generator("data"), 0)
    train, test = splits["train"]["x"], splits["test"]["x"]
    assert train.shape == (4, 2, 2, 4) and test.shape == (2, 2, 2, 4)
    # every training image (and mirror) went into the fit: the distinct ones average to 0 on each component
    distinct = torch.unique(train.flatten(0, 2), dim=0)
    assert len(distinct) == 2 * 7 and torch.allclose(distinct.mean(0), torch.zeros(4), atol=1e-4)
    too_many = LfwConfig(**LBP, crop="face", lbp_cell=25, pca_dims=40, val_fraction=0.0)
    with pytest.raises(SuiteError, match="--pca-dims 40: 40 components need at least 40 training descriptors "
                                         r".* got 14 of 944"):
        TASK.round_data(prepared, too_many, RoundSeeds(0, 0).generator("data"), 0)


def test_transform_picks_views():
    x = torch.arange(3 * 2 * 2 * 1.0).view(3, 2, 2, 1)
    assert torch.equal(TASK.transform(LfwConfig(**LBP), x, None), x[:, :, :1])
    assert torch.equal(TASK.transform(LfwConfig(**LBP, tta="flip"), x, None), x)
    assert torch.equal(TASK.transform(LfwConfig(**LBP), x, torch.Generator()), x[:, :, :1])
    picked = TASK.transform(LfwConfig(**LBP, flip=True), x.repeat(50, 1, 1, 1), torch.Generator().manual_seed(0))
    assert picked.shape == (150, 2, 1, 1)
    assert set((picked.flatten() % 2).tolist()) == {0.0, 1.0}  # both the image (even) and its mirror (odd)


def test_lbp_run_end_to_end_on_a_synthetic_tree(tmp_path, textured_tree):
    config = LfwConfig(**LBP, crop="face", lbp_cell=25, pca_dims=4, val_fraction=0.0, epochs=3, flip=True,
                       tta="flip")
    outcome = run_experiment(TASK, config, RunPlan(rounds=2, seed=0, device=CPU, store=Store(tmp_path / "r.db"),
                                                   data_dir=textured_tree))
    assert len(outcome.rounds) == 2 and outcome.rounds["test_accuracy"].between(0, 1).all()


def test_bad_lbp_options_on_the_command_line_are_one_line(tmp_path, lfw_a_tree):
    result = suite_here("run", "lfw", "--model", "metric", "--rounds", "1", "--store", str(tmp_path / "r.db"),
                        cwd=tmp_path, data_dir=lfw_a_tree)
    assert result.returncode == 2 and not (tmp_path / "r.db").exists()
    assert result.stderr.strip().splitlines() == [
        "suite: error: --model metric learns on --features lbp, not pixels"]
    cnn = suite_here("run", "lfw", "--features", "lbp", "--model", "small", "--rounds", "1", "--store",
                     str(tmp_path / "cnn.db"), cwd=tmp_path, data_dir=lfw_a_tree)
    assert cnn.returncode == 2 and cnn.stderr.strip().splitlines() == [
        "suite: error: --model small reads pixels: --features lbp needs --model metric"]
    assert Store(tmp_path / "cnn.db").experiments().empty  # refused before the experiment was recorded
    prepared = suite_here("data", "prepare", "lfw", "--features", "lbp", "--crop", "inner", "--lbp-cell", "25",
                          cwd=tmp_path, data_dir=lfw_a_tree)
    assert prepared.returncode == 0, prepared.stderr
    said = " ".join(prepared.stdout.split())
    assert "LBP descriptors of 885 values, each image and its mirror" in said  # 5×3 cells × 59 bins
    assert str(tmp_path / "cache") in said.replace(" ", "")  # the test's own cache, not the user's
