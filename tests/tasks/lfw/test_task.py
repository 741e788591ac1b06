"""The lfw task end to end on a synthetic tree: protocols, augmentation, metrics, scores stored per round."""

import numpy as np
import pytest
import torch
from scipy import stats

from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite_tasks.lfw import data, verification
from suite_tasks.lfw.augment import augment_images
from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.task import TASK

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path / "cache"))


def test_view1_run_stores_curves_scores_and_setting(tmp_path, lfw_a_tree):
    store = Store(tmp_path / "r.db")
    config = LfwConfig(model="small", size=72, epochs=2, batch_size=2, val_fraction=0.0, optimizer="adam",
                       lr=1e-3, flip=True, affine=0.1, brightness=0.1)
    outcome = run_experiment(TASK, config, RunPlan(rounds=2, seed=0, device=CPU, store=store, data_dir=lfw_a_tree))
    rounds = outcome.rounds
    assert len(rounds) == 2
    assert {"test_accuracy", "test_auc", "test_eer", "test_tuned_accuracy", "threshold"} <= set(rounds.columns)
    round_id = int(rounds["id"].iloc[0])
    assert len(store.curves(round_id)) == 2
    scores = store.scores(round_id, "test")
    assert len(scores) == 2 and scores["score"].between(0, 1).all()
    assert scores["target"].tolist() == [1.0, 0.0]  # DevTest of the synthetic tree: one matched, one mismatched
    setting = store.experiment(outcome.experiment_id)["setting"]
    assert setting["LFW setting"].startswith("image-restricted, label-free outside data")
    assert setting["layout"] == "lfw-a"


def test_view2_round_r_tests_fold_r(lfw_a_tree):
    config = LfwConfig(protocol="view2", size=72, val_fraction=0.0)
    prepared = TASK.prepare(config, lfw_a_tree, False)
    folds = data.view2_folds(prepared.pairs["View 2"])
    assert prepared.folds == folds
    for r in range(4):
        splits = TASK.round_data(prepared, config, RoundSeeds(0, r).generator("data"), r)
        expected = TASK.round_data(prepared, config, RoundSeeds(0, r).generator("data"), r % len(folds))
        assert torch.equal(splits["test"]["x"], expected["test"]["x"])
        assert len(splits["test"]["x"]) == len(folds[r % len(folds)])
        assert len(splits["train"]["x"]) == sum(len(f) for i, f in enumerate(folds) if i != r % len(folds))


def test_view2_summary_gives_mean_and_standard_error():
    import pandas as pd
    rounds = pd.DataFrame({"test_accuracy": [0.6, 0.7, 0.8], "test_tuned_accuracy": [0.5, 0.6, 0.7]})
    line = TASK.summary_lines(LfwConfig(protocol="view2"), rounds)[0]
    assert f"70.00 ± {100 * stats.sem([0.6, 0.7, 0.8]):.2f} %" in line and "3 folds" in line
    assert TASK.summary_lines(LfwConfig(), rounds) == []


def test_augmentation_is_reproducible_and_bounded():
    images = torch.rand(6, 1, 32, 32)
    def draw(seed):
        return augment_images(images, flip=True, affine=0.2, brightness=0.3,
                              generator=torch.Generator().manual_seed(seed))
    first, again, other = draw(1), draw(1), draw(2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == images.shape and first.min() >= 0 and first.max() <= 1
    flipped = augment_images(images, flip=True, affine=0, brightness=0, generator=torch.Generator().manual_seed(0))
    for image, out in zip(images, flipped, strict=True):
        assert torch.equal(out, image) or torch.equal(out, image.flip(-1))


def test_contrastive_loss_and_its_score():
    config = LfwConfig(loss="contrastive", margin=2.0)
    outputs = {"distance": torch.tensor([0.0, 1.0, 3.0]), "logits": torch.zeros(3)}
    batch = {"target": torch.tensor([1.0, 0.0, 0.0])}
    # matched at 0 costs 0; mismatched at 1 costs (2 − 1)² / 2; mismatched beyond the margin costs 0
    assert float(TASK.loss(config, outputs, batch)) == pytest.approx((0 + 1 + 0) / 2 / 3)
    assert TASK.scores(config, outputs, batch).tolist() == pytest.approx([1.0, 0.5, 2 ** -3])


def test_label_smoothing_moves_targets_inward():
    outputs = {"logits": torch.tensor([0.0])}
    smoothed = TASK.loss(LfwConfig(label_smoothing=0.2), outputs, {"target": torch.tensor([1.0])})
    assert float(smoothed) == pytest.approx(float(torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([0.0]), torch.tensor([0.9]))))


def test_verification_metrics():
    rng = np.random.default_rng(0)
    same = rng.random(200) < 0.5
    scores = np.where(same, rng.normal(0.6, 0.2, 200), rng.normal(0.4, 0.2, 200))
    fpr, tpr = verification.roc_curve(scores, same)
    assert verification.roc_auc(scores, same) == pytest.approx(np.trapezoid(tpr, fpr))
    assert verification.equal_error_rate(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0], bool)) == 0
    eer = verification.equal_error_rate(scores, same)
    assert 0.2 < eer < 0.4
    threshold = verification.best_threshold(scores, same)
    best = verification.accuracy(scores, same, threshold)
    assert best >= max(verification.accuracy(scores, same, t) for t in np.linspace(0, 1, 101))


@pytest.mark.parametrize("batch_norm", ["none", "after-pool"])
def test_stacked_rounds_match_sequential_ones_with_batch_norm(lfw_a_tree, batch_norm):
    from suite.training.rounds import train_rounds
    config = LfwConfig(model="small", size=72, epochs=2, batch_size=2, val_fraction=0.0, batch_norm=batch_norm,
                       dropout=0.0)
    prepared = TASK.prepare(config, lfw_a_tree, False)
    seeds = [RoundSeeds(0, r) for r in range(2)]
    together = train_rounds(TASK, config, prepared, seeds, CPU)
    for s, stacked in zip(seeds, together, strict=True):
        alone = train_rounds(TASK, config, prepared, [s], CPU)[0]
        assert stacked.metrics["test_loss"] == pytest.approx(alone.metrics["test_loss"], abs=5e-3)
        assert torch.allclose(stacked.scores["test"], alone.scores["test"], atol=5e-3)
