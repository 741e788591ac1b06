"""Rounds, resume and interruption, through the runner (on the toy task) and the real CLI process (on MNIST)."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite.training.rounds import train_rounds
from tests.cli_helpers import suite
from tests.toy_task import TASK, ToyConfig

CPU = torch.device("cpu")
NO_DATA = Path("no-data")  # the toy task draws its data from each round's generator


def test_round_is_reproducible_from_its_seeds():
    config = ToyConfig(pairs=60, epochs=2, batch_size=20, val_pairs=20, dropout=0.2)
    data = TASK.prepare(config, NO_DATA, False)
    first = train_rounds(TASK, config, data, [RoundSeeds(5, 1)], CPU)[0]
    second = train_rounds(TASK, config, data, [RoundSeeds(5, 1)], CPU)[0]
    other = train_rounds(TASK, config, data, [RoundSeeds(5, 2)], CPU)[0]
    assert first.metrics == second.metrics
    assert first.metrics != other.metrics
    assert len(first.curves) == 2 and {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(
        first.curves[0])
    assert {"test_accuracy", "val_accuracy", "train_accuracy", "epochs"} <= set(first.metrics)
    assert first.peak_memory_bytes > 0 and len(first.epoch_seconds) == 2


def test_resume_and_fresh(tmp_path):
    store = Store(tmp_path / "r.db")
    config = ToyConfig(pairs=40, epochs=1, batch_size=20)
    run = dict(seed=0, device=CPU, store=store, data_dir=NO_DATA)
    first = run_experiment(TASK, config, RunPlan(**run, rounds=2))
    assert (first.ran, first.reused, len(first.rounds)) == (2, 0, 2)
    more = run_experiment(TASK, config, RunPlan(**run, rounds=3))
    assert (more.ran, more.reused, more.experiment_id) == (1, 2, first.experiment_id)
    assert list(more.rounds["test_accuracy"][:2]) == list(first.rounds["test_accuracy"])
    fresh = run_experiment(TASK, config, RunPlan(**run, rounds=3, fresh=True))
    assert (fresh.ran, fresh.reused) == (3, 0)
    other_seed = run_experiment(TASK, config, RunPlan(**{**run, "seed": 1}, rounds=1))
    assert other_seed.ran == 1 and other_seed.experiment_id == first.experiment_id


@pytest.mark.slow  # the real command line, twice: seconds of start-up
def test_ctrl_c_keeps_finished_rounds_and_rerun_resumes(tmp_path, fake_mnist):
    args = ["run", "mnist", "--rounds", "6", "--pairs", "90", "--epochs", "15", "--batch-size", "10",
            "--parallel-rounds", "1",  # one round at a time, so rounds finish one by one
            "--quiet", "--device", "cpu", "--store", str(tmp_path / "r.db"), "--data-dir", str(fake_mnist)]
    # A job started in the background by a non-interactive shell inherits SIGINT ignored, and Python keeps it so:
    # give the child the default disposition, as in a terminal, whatever launched the tests.
    process = subprocess.Popen([sys.executable, "-m", "suite", *args], cwd=tmp_path, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in process.stderr:
        if line.startswith("round 3/6 finished"):
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()  # from the same buffered stream the loop read (communicate() would skip it)
    process.wait(timeout=120)
    assert process.returncode == 130, rest
    assert "experiment 1 has 3 finished round(s) stored" in rest and "Traceback" not in rest

    resumed = suite(*args, "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 reused from the store" in resumed.stderr
    assert '"rounds": 6' in resumed.stdout
    listing = suite("results", "--store", str(tmp_path / "r.db"), cwd=tmp_path)
    assert listing.stdout.count("mnist") == 1


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_a_seed_outside_the_64_bit_range_is_refused_before_anything_is_stored(tmp_path, seed):
    store = Store(tmp_path / "r.db")
    with pytest.raises(SuiteError, match=r"--seed: must be between 0 and 2\*\*63 - 1"):
        run_experiment(TASK, ToyConfig(pairs=40, epochs=1), RunPlan(store=store, data_dir=NO_DATA, seed=seed))
    assert store.experiments().empty


@pytest.mark.slow
def test_two_processes_running_the_same_experiment_store_each_round_once(tmp_path, fake_mnist):
    import os
    import sqlite3

    store = tmp_path / "r.db"
    args = [sys.executable, "-m", "suite", "run", "mnist", "--rounds", "4", "--pairs", "100", "--epochs", "12",
            "--batch-size", "10", "--parallel-rounds", "1", "--quiet", "--device", "cpu", "--store", str(store)]
    env = {**os.environ, "SUITE_DATA_DIR": str(fake_mnist)}
    both = [subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    errors = [process.communicate(timeout=300)[1] for process in both]
    assert [process.returncode for process in both] == [0, 0], errors
    assert all("Traceback" not in error for error in errors)
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = db.execute("SELECT seed, round_index FROM rounds").fetchall()
    assert sorted(keys) == [(0, 0), (0, 1), (0, 2), (0, 3)]  # each round once
