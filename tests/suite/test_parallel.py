"""--parallel-rounds: K rounds as one stacked model give each round what sequential training gives it (on the toy
task, through both stacked paths: a model's grouped `forward_stacked` and vmap; and on MNIST's Siamese net)."""

from pathlib import Path

import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.executors import Processes
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite.training.rounds import train_rounds
from suite.training.steppers import check_stackable
from suite_tasks.mnist_pairs.task import TASK as MNIST
from suite_tasks.mnist_pairs.task import MnistConfig
from tests.toy_task import TASK, ToyConfig

CPU = torch.device("cpu")
NO_DATA = Path("no-data")  # the toy task draws its data from each round's generator


def assert_stacked_equal_alone(task, config, data) -> None:
    seeds = [RoundSeeds(3, r) for r in range(3)]
    together = train_rounds(task, config, data, seeds, CPU)
    for s, stacked in zip(seeds, together, strict=True):
        alone = train_rounds(task, config, data, [s], CPU)[0]
        assert stacked.metrics.keys() == alone.metrics.keys()
        for name, value in alone.metrics.items():
            assert stacked.metrics[name] == pytest.approx(value, abs=2e-3), name  # rounding, not randomness
        assert len(stacked.curves) == len(alone.curves)  # early stopping at the same epoch
        assert torch.allclose(stacked.scores["test"], alone.scores["test"], atol=1e-3)
        assert torch.equal(stacked.targets["test"], alone.targets["test"])


@pytest.mark.parametrize("options", [
    {"model": "mlp"},  # the model's forward_stacked (grouped layers) and the task's stacked_loss
    {"model": "linear"},  # no forward_stacked: vmap over the model and its loss
    {"model": "mlp", "val_pairs": 40, "patience": 1, "epochs": 20, "lr": 0.2},  # rounds stop at their own epochs
], ids=["grouped", "vmap", "early-stopping"])
def test_without_randomness_stacked_rounds_equal_sequential_rounds(options):
    config = ToyConfig(pairs=100, batch_size=10, **{"epochs": 3, **options})
    assert_stacked_equal_alone(TASK, config, TASK.prepare(config, NO_DATA, False))


def test_rounds_that_stop_early_stop_at_different_epochs():
    """What the early-stopping case above relies on: stacked rounds go on after some have stopped."""
    config = ToyConfig(pairs=100, batch_size=10, val_pairs=40, patience=1, epochs=20, lr=0.2)
    results = train_rounds(TASK, config, TASK.prepare(config, NO_DATA, False), [RoundSeeds(3, r) for r in range(3)],
                           CPU)
    assert len({len(r.curves) for r in results}) > 1


def test_without_randomness_stacked_mnist_siamese_rounds_equal_sequential_rounds(fake_mnist):
    config = MnistConfig(pairs=100, epochs=3, dropout=0.0, batch_size=10, w_sharing=True, aux_loss=True)
    assert_stacked_equal_alone(MNIST, config, MNIST.prepare(config, fake_mnist, False))


def test_with_dropout_rounds_differ_from_each_other_and_train():
    config = ToyConfig(pairs=100, epochs=4, batch_size=10, dropout=0.3)
    results = train_rounds(TASK, config, TASK.prepare(config, NO_DATA, False), [RoundSeeds(0, r) for r in range(3)],
                           CPU)
    losses = [r.curves[-1]["train_loss"] for r in results]
    assert len(set(losses)) == 3
    assert all(r.curves[-1]["train_loss"] < r.curves[0]["train_loss"] for r in results)


def test_runner_stores_every_round_of_the_groups_and_resumes(tmp_path):
    store = Store(tmp_path / "r.db")
    config = ToyConfig(pairs=50, epochs=1, batch_size=10)
    first = run_experiment(TASK, config, RunPlan(rounds=3, seed=0, device=CPU, store=store, data_dir=NO_DATA,
                                                 parallel_rounds=2))
    assert first.ran == 3 and list(first.rounds["round_index"]) == [0, 1, 2]
    assert first.rounds["device"].tolist() == ["cpu stacked:0,1", "cpu stacked:0,1", "cpu"]
    again = run_experiment(TASK, config, RunPlan(rounds=5, seed=0, device=CPU, store=store, data_dir=NO_DATA,
                                                 parallel_rounds=4))
    assert again.reused == 3 and again.ran == 2 and len(again.rounds) == 5
    assert again.rounds["device"].tolist()[3:] == ["cpu stacked:3,4"] * 2


def test_rounds_of_different_sizes_are_refused():
    splits = [{"train": {"x": torch.zeros(4, 2)}}, {"train": {"x": torch.zeros(5, 2)}}]
    with pytest.raises(SuiteError, match="differ in their train split .4 vs 5 examples"):
        check_stackable(splits)


@pytest.mark.slow  # two spawned worker processes, each importing torch
def test_worker_processes_store_every_round_as_sequential_training_would(tmp_path):
    config = ToyConfig(pairs=60, epochs=2, batch_size=10)
    alone = run_experiment(TASK, config, RunPlan(rounds=3, seed=0, device=CPU, store=Store(tmp_path / "a.db"),
                                                 data_dir=NO_DATA))
    spread = run_experiment(TASK, config, RunPlan(rounds=3, seed=0, device=CPU, store=Store(tmp_path / "b.db"),
                                                  data_dir=NO_DATA, executor=Processes(2)))
    assert spread.ran == 3 and list(spread.rounds["round_index"]) == [0, 1, 2]
    assert spread.rounds["test_loss"].tolist() == pytest.approx(alone.rounds["test_loss"].tolist(), abs=1e-4)


def test_workers_are_for_the_cpu(tmp_path):
    with pytest.raises(SuiteError, match="--workers splits the CPU's threads"):
        run_experiment(TASK, ToyConfig(), RunPlan(rounds=2, seed=0, device=torch.device("meta"),
                                                  store=Store(tmp_path / "r.db"), data_dir=NO_DATA,
                                                  executor=Processes(2)))
    assert not Store(tmp_path / "r.db").experiments().shape[0]


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_worker_processes_die_with_a_driver_killed_by_sigkill(tmp_path, fake_mnist):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = [sys.executable, "-m", "suite", "run", "mnist", "--rounds", "4", "--workers", "2", "--parallel-rounds", "1",
            "--epochs", "500", "--pairs", "200", "--quiet", "--device", "cpu", "--store", str(tmp_path / "r.db")]
    driver = subprocess.Popen(args, cwd=tmp_path, env={**os.environ, "SUITE_DATA_DIR": str(fake_mnist)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(workers) < 2:  # the pool's workers: spawned pythons running spawn_main
        workers = [c for c in _children(driver.pid) if b"spawn_main" in _command_line(c)]
        time.sleep(0.5)
    assert len(workers) == 2, "the workers did not start"
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.5)
    assert not any(_alive(w) for w in workers), "workers outlived their driver"
