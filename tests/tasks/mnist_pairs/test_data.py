import numpy as np
import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.registry import ROUND_STATE
from suite.core.seeding import RoundSeeds
from suite_tasks.mnist_pairs.data import (
    check_idx,
    draw_pairs,
    elastic_field,
    load_digits,
    normalise,
    raw_dir,
    shift_digits,
    warp_digits,
)
from suite_tasks.mnist_pairs.task import TASK, MnistConfig
from tests.conftest import write_idx


def image_ids(x: torch.Tensor) -> torch.Tensor:
    """Recover the index that make_fake_mnist encoded into each (downsampled) image."""
    return (x[..., 0, 0] * 256 + x[..., 0, -1]).round().long()


def test_fake_files_load_downsampled(fake_mnist):
    digits = load_digits(fake_mnist)
    assert digits.train_images.shape == (400, 14, 14)
    assert digits.test_images.shape == (200, 14, 14)
    assert digits.train_labels.dtype == torch.int64
    assert torch.equal(image_ids(digits.train_images), torch.arange(400))


def test_pairs_shapes_target_and_no_reuse(fake_mnist):
    digits = load_digits(fake_mnist)
    train, val = draw_pairs(digits.train_images, digits.train_labels, [120, 50], torch.Generator().manual_seed(1))
    assert train["x"].shape == (120, 2, 14, 14) and val["x"].shape == (50, 2, 14, 14)
    assert torch.equal(train["target"], (train["classes"][:, 0] <= train["classes"][:, 1]).long())
    ids = torch.cat([image_ids(train["x"]).flatten(), image_ids(val["x"]).flatten()])
    assert len(ids.unique()) == len(ids) == 340  # no image twice, within or across the sets
    assert torch.equal(train["classes"], digits.train_labels[image_ids(train["x"])])


def test_too_many_pairs_for_the_pool(fake_mnist):
    digits = load_digits(fake_mnist)
    with pytest.raises(SuiteError, match="need 402 distinct images; this set has 400"):
        draw_pairs(digits.train_images, digits.train_labels, [201], torch.Generator())


def test_same_seed_same_pairs_and_model_options_do_not_change_them(fake_mnist):
    digits = TASK.prepare(MnistConfig(), fake_mnist, False)
    small = {"pairs": 60}
    variants = [MnistConfig(**small), MnistConfig(**small, w_sharing=True, aux_loss=True, lr=0.1),
                MnistConfig(**small, model="baseline", dropout=0.0, epochs=1)]
    rounds = [TASK.round_data(digits, c, RoundSeeds(3, 2).generator("data"), 2) for c in variants]
    for other in rounds[1:]:
        for split in ("train", "test"):
            for key in ("x", "target", "classes"):
                assert torch.equal(rounds[0][split][key], other[split][key])
    next_round = TASK.round_data(digits, variants[0], RoundSeeds(3, 3).generator("data"), 3)
    assert not torch.equal(next_round["train"]["classes"], rounds[0]["train"]["classes"])


def test_inputs_are_normalised_with_training_statistics(fake_mnist):
    digits = TASK.prepare(MnistConfig(), fake_mnist, False)
    splits = TASK.round_data(digits, MnistConfig(pairs=80, val_pairs=20), torch.Generator().manual_seed(0))
    state = splits.pop(ROUND_STATE)  # the statistics, saved with a model for `suite predict`
    assert set(splits) == {"train", "val", "test"}
    assert abs(float(splits["train"]["x"].mean())) < 1e-5
    assert float(splits["train"]["x"].std()) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(splits["test"]["x"].mean())) > 1e-3  # test uses train's statistics, not its own
    assert float(state["mean"]) > 1 and float(state["std"]) > 1  # of the raw 0–255 inputs


def test_truncated_idx_is_named(fake_mnist):
    path = raw_dir(fake_mnist) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(SuiteError, match=r"train-images-idx3-ubyte: truncated IDX file: .* 400×28×28"):
        load_digits(fake_mnist)


def test_wrong_kind_of_file(fake_mnist):
    path = raw_dir(fake_mnist) / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(SuiteError, match="t10k-labels-idx1-ubyte: not an MNIST IDX file"):
        check_idx(path, 0x0801)


def test_missing_file_says_how_to_get_it(fake_mnist):
    (raw_dir(fake_mnist) / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(SuiteError, match="MNIST file missing: .*t10k-images-idx3-ubyte .*--download"):
        load_digits(fake_mnist)


@pytest.mark.parametrize(("file", "value"), [("train-images-idx3-ubyte", 0), ("t10k-images-idx3-ubyte", 17)])
def test_constant_images_file_is_refused_when_data_is_prepared(fake_mnist, file, value):
    path = raw_dir(fake_mnist) / file
    n = check_idx(path, 0x0803)[0]
    write_idx(path, np.full((n, 28, 28), value))  # a valid IDX file, every pixel one value
    with pytest.raises(SuiteError) as excinfo:
        TASK.prepare(MnistConfig(), fake_mnist, False)
    assert str(excinfo.value) == (f"{path}: images are constant (std 0): cannot normalise; "
                                  "the file is probably corrupt")


def test_normalise_refuses_blank_training_pairs():
    blank = {"x": torch.zeros(3, 2, 14, 14), "target": torch.zeros(3, dtype=torch.long)}
    test = {"x": torch.rand(3, 2, 14, 14), "target": torch.zeros(3, dtype=torch.long)}
    with pytest.raises(SuiteError, match=r"^this round's training pairs: images are constant \(std 0\): cannot "
                       r"normalise; draw more of them \(--pairs\)$"):
        normalise({"train": blank, "test": test})


def test_real_mnist(mnist_data_dir):
    digits = load_digits(mnist_data_dir)
    assert digits.train_images.shape == (60000, 14, 14) and digits.test_images.shape == (10000, 14, 14)
    assert torch.equal(digits.train_labels.bincount(), torch.tensor(
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]))
    assert 0 <= float(digits.train_images.min()) and float(digits.train_images.max()) <= 255


def test_extra_pairs_reuse_only_the_rounds_training_images_and_keep_the_original_pairs(fake_mnist):
    digits = TASK.prepare(MnistConfig(), fake_mnist, False)
    plain = TASK.round_data(digits, MnistConfig(pairs=60), RoundSeeds(0, 1).generator("data"), 1)
    more = TASK.round_data(digits, MnistConfig(pairs=60, extra_pairs=500), RoundSeeds(0, 1).generator("data"), 1)
    assert len(more["train"]["x"]) == 560
    for key in ("x", "target", "classes"):
        assert torch.equal(more["train"][key][:60], plain["train"][key])
        assert torch.equal(more["test"][key], plain["test"][key])
    extra = {key: value[60:] for key, value in more["train"].items()}
    own = plain["train"]["x"].flatten(0, 1).flatten(1)
    matches = (extra["x"].flatten(2)[:, :, None, :] == own[None, None]).all(-1)  # 500×2×120
    assert (matches.sum(-1) == 1).all()  # every image of an extra pair is one of the round's own images
    assert not (matches[:, 0] & matches[:, 1]).any()  # never an image with itself
    assert torch.equal(extra["target"], (extra["classes"][:, 0] <= extra["classes"][:, 1]).long())
    assert 0.3 < extra["target"].float().mean() < 0.8


def test_shift_moves_each_digit_by_at_most_the_given_pixels_and_fills_with_background():
    x = torch.full((50, 2, 14, 14), -0.5)
    x[..., 6:8, 6:8] = 2.0
    moved = shift_digits(x, 2, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    assert torch.equal((moved == 2.0).sum((2, 3)), torch.full((50, 2), 4))  # the blob stays whole
    rows, cols = torch.nonzero(moved[..., :, :] == 2.0, as_tuple=True)[2:]
    assert rows.min() >= 4 and rows.max() <= 9 and cols.min() >= 4 and cols.max() <= 9
    assert len({tuple(torch.nonzero(moved[n, c] == 2.0)[0].tolist()) for n in range(50) for c in range(2)}) > 10
    assert set(moved.unique().tolist()) == {-0.5, 2.0}


def test_shift_applies_only_in_training(fake_mnist):
    x = torch.randn(4, 2, 14, 14)
    assert TASK.transform(MnistConfig(shift=1), x, None) is x
    assert TASK.transform(MnistConfig(), x, torch.Generator()) is x
    assert not torch.equal(TASK.transform(MnistConfig(shift=1), x, torch.Generator().manual_seed(0)), x)


def test_rotation_turns_digits_by_at_most_the_given_angle():
    x = torch.full((200, 2, 14, 14), -0.5)
    x[..., 1:13, 6:8] = 2.0  # a vertical bar through the centre
    turned = warp_digits(x, 30.0, torch.Generator().manual_seed(0))
    assert turned.shape == x.shape
    assert torch.allclose(warp_digits(x, 0.0, torch.Generator()), x, atol=1e-5)
    assert turned.min() >= -0.5 - 1e-5 and turned.max() <= 2.0 + 1e-5  # bilinear: no new extremes
    assert torch.allclose(turned[..., 6:8, 6:8], x[..., 6:8, 6:8], atol=0.6)  # the centre stays
    moved = (turned - x).abs().flatten(2).sum(-1)
    assert (moved > 1).float().mean() > 0.9  # nearly every image actually turned
    steep = warp_digits(x, 45.0, torch.Generator().manual_seed(0))
    assert (steep - x).abs().sum() > (turned - x).abs().sum()


def test_rotation_applies_only_in_training():
    x = torch.randn(4, 2, 14, 14)
    assert TASK.transform(MnistConfig(rotate=10), x, None) is x
    assert not torch.equal(TASK.transform(MnistConfig(rotate=10), x, torch.Generator().manual_seed(0)), x)


def test_val_fraction_holds_out_training_pairs_and_leaves_the_test_pairs(fake_mnist):
    digits = TASK.prepare(MnistConfig(), fake_mnist, False)
    plain = TASK.round_data(digits, MnistConfig(pairs=60), RoundSeeds(0, 2).generator("data"), 2)
    held = TASK.round_data(digits, MnistConfig(pairs=60, val_fraction=0.2), RoundSeeds(0, 2).generator("data"), 2)
    assert len(held["train"]["x"]) == 48 and len(held["val"]["x"]) == 12 and "val" not in plain
    assert torch.equal(held["test"]["classes"], plain["test"]["classes"])  # the same test pairs
    # the budget is --pairs: validation pairs are the training draw's last ones, their images never trained on
    assert torch.equal(torch.cat([held["train"]["classes"], held["val"]["classes"]]), plain["train"]["classes"])


def test_more_test_pairs_extend_the_same_draw_and_leave_training_alone(fake_mnist):
    digits = TASK.prepare(MnistConfig(), fake_mnist, False)
    options = {"pairs": 40, "val_fraction": 0.25, "extra_pairs": 30}
    plain = TASK.round_data(digits, MnistConfig(**options), RoundSeeds(0, 1).generator("data"), 1)
    every = TASK.round_data(digits, MnistConfig(**options, test_pairs=100), RoundSeeds(0, 1).generator("data"), 1)
    for split in ("train", "val"):  # the extra pairs are drawn after the test pairs: the generator must be unmoved
        assert all(torch.equal(every[split][key], plain[split][key]) for key in ("x", "target", "classes"))
    assert torch.equal(every[ROUND_STATE]["mean"], plain[ROUND_STATE]["mean"])
    assert len(plain["test"]["x"]) == 40 and len(every["test"]["x"]) == 100
    assert torch.equal(every["test"]["x"][:40], plain["test"]["x"])
    state = every[ROUND_STATE]
    assert image_ids(every["test"]["x"] * state["std"] + state["mean"]).unique().numel() == 200  # each test image once


def test_test_pairs_beyond_the_test_images_are_refused(fake_mnist):
    with pytest.raises(SuiteError, match="test_pairs"):
        MnistConfig(test_pairs=5001)
    digits = TASK.prepare(MnistConfig(), fake_mnist, False)
    with pytest.raises(SuiteError, match="101 pairs need 202 distinct images; this set has 200"):
        TASK.round_data(digits, MnistConfig(pairs=40, test_pairs=101), RoundSeeds(0, 1).generator("data"), 1)


@pytest.mark.parametrize("options, message", [
    ({"val_fraction": 0.2, "val_pairs": 10}, "--val-fraction and --val-pairs: choose one"),
    ({"val_fraction": 0.01, "pairs": 20}, "--val-fraction 0.01: holds out 0 of 20 training pairs"),
])
def test_impossible_validation_splits_are_refused(options, message):
    with pytest.raises(SuiteError, match=message):
        MnistConfig(**options)


def test_scale_zooms_each_digit_about_its_centre_within_the_given_factor():
    x = torch.full((300, 1, 14, 14), -0.5)
    x[..., 5:9, 5:9] = 2.0  # a 4×4 square in the centre
    zoomed = warp_digits(x, 0.0, torch.Generator().manual_seed(0), scale=0.4)
    assert zoomed.shape == x.shape and zoomed.min() >= -0.5 - 1e-5 and zoomed.max() <= 2.0 + 1e-5
    assert torch.allclose(zoomed[..., 6:8, 6:8], x[..., 6:8, 6:8], atol=1e-4)  # the centre stays
    ink = ((zoomed + 0.5) / 2.5).flatten(1).sum(1)  # about the square's area after a zoom by z, 16·z²
    assert ink.min() > 3 and ink.max() < 16 * 1.4 ** 2 + 4  # bilinear sampling blurs edges: loose bounds
    assert ink.min() < 12 and ink.max() > 22  # both smaller and larger digits are drawn
    assert torch.allclose(warp_digits(x, 0.0, torch.Generator(), scale=0.0), x, atol=1e-5)


def test_scale_zero_leaves_the_rotation_as_it_was_and_applies_only_in_training():
    x = torch.randn(6, 2, 14, 14)
    assert torch.equal(warp_digits(x, 10.0, torch.Generator().manual_seed(3)),
                       warp_digits(x, 10.0, torch.Generator().manual_seed(3), scale=0.0))
    assert TASK.transform(MnistConfig(scale=0.1), x, None) is x
    turned = TASK.transform(MnistConfig(scale=0.1), x, torch.Generator().manual_seed(0))
    assert not torch.equal(turned, x)
    assert torch.equal(turned, warp_digits(x, 0.0, torch.Generator().manual_seed(0), scale=0.1))


@pytest.mark.parametrize("value", [-0.1, 0.6, float("nan")])
def test_out_of_range_scale_is_refused(value):
    with pytest.raises(SuiteError, match="scale"):
        MnistConfig(scale=value)


def test_elastic_fields_are_smooth_and_have_the_requested_rms_displacement():
    field = elastic_field(500, 14, 14, 0.7, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert field.shape == (500, 14, 14, 2)
    pixels = field * 14 / 2  # back from affine_grid's [−1, 1] coordinates to pixels
    assert torch.allclose(pixels.square().mean((1, 2, 3)).sqrt(), torch.full((500,), 0.7), atol=1e-5)
    # smoothed: a pixel's displacement nearly that of its neighbour (unsmoothed noise would give about 0)
    neighbours = torch.corrcoef(torch.stack([pixels[:, :, :-1].flatten(), pixels[:, :, 1:].flatten()]))[0, 1]
    assert neighbours > 0.8


def test_elastic_distortion_bends_digits_without_new_extremes_and_leaves_other_warps_as_they_were():
    x = torch.full((200, 2, 14, 14), -0.5)
    x[..., 2:12, 6:8] = 2.0  # a vertical bar
    bent = warp_digits(x, 0.0, torch.Generator().manual_seed(0), elastic=1.0)
    assert bent.shape == x.shape and bent.min() >= -0.5 - 1e-5 and bent.max() <= 2.0 + 1e-5
    assert ((bent - x).abs().flatten(2).sum(-1) > 1).float().mean() > 0.9  # nearly every image bent
    stronger = warp_digits(x, 0.0, torch.Generator().manual_seed(0), elastic=2.0)
    assert (stronger - x).abs().sum() > (bent - x).abs().sum()
    assert torch.equal(warp_digits(x, 10.0, torch.Generator().manual_seed(3), scale=0.2),
                       warp_digits(x, 10.0, torch.Generator().manual_seed(3), scale=0.2, elastic=0.0))
    assert TASK.transform(MnistConfig(elastic=0.7), x, None) is x
    assert torch.equal(TASK.transform(MnistConfig(elastic=0.7), x, torch.Generator().manual_seed(0)),
                       warp_digits(x, 0.0, torch.Generator().manual_seed(0), elastic=0.7))


@pytest.mark.parametrize("value", [-0.1, 3.5, float("nan")])
def test_out_of_range_elastic_is_refused(value):
    with pytest.raises(SuiteError, match="elastic"):
        MnistConfig(elastic=value)
