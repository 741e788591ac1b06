"""--parallel-rounds: K rounds as one stacked model give each round what sequential training gives it."""

import pytest
import torch

from suite.errors import SuiteError
from suite.parallel import check_stackable
from suite.runner import run_experiment, train_group, train_round
from suite.seeding import RoundSeeds
from suite.store import Store
from tasks.mnist_pairs.task import TASK, MnistConfig

CPU = torch.device("cpu")


@pytest.mark.parametrize("options", [{"model": "baseline"}, {"w_sharing": True, "aux_loss": True},
                                     {"aux_loss": True, "val_pairs": 50, "patience": 1, "epochs": 6}])
def test_without_randomness_stacked_rounds_equal_sequential_rounds(fake_mnist, options):
    config = MnistConfig(pairs=100, epochs=options.pop("epochs", 3), dropout=0.0, batch_size=10, **options)
    digits = TASK.prepare(config, fake_mnist, False)
    seeds = [RoundSeeds(3, r) for r in range(3)]
    together = train_group(TASK, config, digits, seeds, CPU)
    for s, stacked in zip(seeds, together, strict=True):
        alone = train_round(TASK, config, digits, s, CPU)
        assert stacked.metrics.keys() == alone.metrics.keys()
        for name, value in alone.metrics.items():
            assert stacked.metrics[name] == pytest.approx(value, abs=2e-3), name  # rounding, not randomness
        assert len(stacked.curves) == len(alone.curves)  # early stopping at the same epoch
        assert torch.allclose(stacked.scores["test"], alone.scores["test"], atol=1e-3)
        assert torch.equal(stacked.targets["test"], alone.targets["test"])


def test_with_dropout_rounds_differ_from_each_other_and_train(fake_mnist):
    config = MnistConfig(pairs=100, epochs=4, batch_size=10, w_sharing=True)
    digits = TASK.prepare(config, fake_mnist, False)
    results = train_group(TASK, config, digits, [RoundSeeds(0, r) for r in range(3)], CPU)
    losses = [r.curves[-1]["train_loss"] for r in results]
    assert len(set(losses)) == 3
    assert all(r.curves[-1]["train_loss"] < r.curves[0]["train_loss"] for r in results)


def test_runner_stores_every_round_of_the_groups_and_resumes(tmp_path, fake_mnist):
    store = Store(tmp_path / "r.db")
    config = MnistConfig(pairs=50, epochs=1, batch_size=10)
    first = run_experiment(TASK, config, rounds=3, seed=0, device=CPU, store=store, data_dir=fake_mnist,
                           parallel_rounds=2)
    assert first.ran == 3 and list(first.rounds["round_index"]) == [0, 1, 2]
    again = run_experiment(TASK, config, rounds=5, seed=0, device=CPU, store=store, data_dir=fake_mnist,
                           parallel_rounds=4)
    assert again.reused == 3 and again.ran == 2 and len(again.rounds) == 5


def test_rounds_of_different_sizes_are_refused():
    splits = [{"train": {"x": torch.zeros(4, 2)}}, {"train": {"x": torch.zeros(5, 2)}}]
    with pytest.raises(SuiteError, match="differ in their train split .4 vs 5 examples"):
        check_stackable(splits)


def test_worker_processes_store_every_round_as_sequential_training_would(tmp_path, fake_mnist):
    config = MnistConfig(pairs=60, epochs=2, batch_size=10, dropout=0.0)
    alone = run_experiment(TASK, config, rounds=3, seed=0, device=CPU, store=Store(tmp_path / "a.db"),
                           data_dir=fake_mnist)
    spread = run_experiment(TASK, config, rounds=3, seed=0, device=CPU, store=Store(tmp_path / "b.db"),
                            data_dir=fake_mnist, workers=2)
    assert spread.ran == 3 and list(spread.rounds["round_index"]) == [0, 1, 2]
    assert spread.rounds["test_loss"].tolist() == pytest.approx(alone.rounds["test_loss"].tolist(), abs=1e-4)


def test_workers_are_for_the_cpu(tmp_path, fake_mnist):
    with pytest.raises(SuiteError, match="--workers splits the CPU's threads"):
        run_experiment(TASK, MnistConfig(), rounds=2, seed=0, device=torch.device("meta"),
                       store=Store(tmp_path / "r.db"), data_dir=fake_mnist, workers=2)
    assert not Store(tmp_path / "r.db").experiments().shape[0]
