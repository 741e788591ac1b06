"""The command line through typer's CliRunner (happy paths) and the real entry point (errors)."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from suite.cli import app
from tests.cli_helpers import suite, suite_here

runner = CliRunner(env={"COLUMNS": "200"})
TINY = ["--pairs", "60", "--epochs", "2", "--batch-size", "20", "--quiet", "--device", "cpu"]


def test_list_shows_tasks_models_and_presets():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    for word in ("mnist", "baseline", "siamese", "siamese-ws-aux", "93.76"):
        assert word in result.output


def test_run_help_is_built_from_the_config():
    result = runner.invoke(app, ["run", "mnist", "--help"])
    assert result.exit_code == 0
    for flag in ("--w-sharing", "--no-w-sharing", "--aux-loss", "--alpha", "--rounds", "--seed", "--fresh"):
        assert flag in result.output


def test_run_stores_and_reports(tmp_path, fake_mnist):
    store = str(tmp_path / "r.db")
    args = ["run", "mnist", "--rounds", "2", "--store", store, "--data-dir", str(fake_mnist), *TINY]
    result = runner.invoke(app, [*args, "--w-sharing", "--aux-loss", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rounds"] == 2 and summary["config"]["w_sharing"] is True
    accuracy = summary["metrics"]["test_accuracy"]
    assert accuracy["n"] == 2 and 0 <= accuracy["min"] <= accuracy["mean"] <= accuracy["max"] <= 1
    assert {"test_digit_accuracy", "train_loss", "seconds_per_epoch", "peak_memory_mb"} <= set(summary["metrics"])

    # Same command again: everything comes from the store.
    again = runner.invoke(app, [*args, "--w-sharing", "--aux-loss"])
    text = " ".join(again.stdout.split())  # the title wraps at the table's width
    assert again.exit_code == 0 and "2 reused from the store" in text
    # The two rounds trained stacked: their time was measured once, and is shown as one measurement.
    assert "1 group" in text and "(measured once for 2 stacked rounds)" in text
    listing = runner.invoke(app, ["results", "--store", store])
    assert listing.exit_code == 0 and "w_sharing=True, aux_loss=True" in listing.stdout
    shown = runner.invoke(app, ["show", str(summary["experiment_id"]), "--store", store])
    assert shown.exit_code == 0 and "config.w_sharing" in shown.stdout and "code_version" in shown.stdout


def test_preset_then_explicit_options(tmp_path, fake_mnist):
    args = ["run", "mnist", "--rounds", "1", "--store", str(tmp_path / "r.db"), "--data-dir", str(fake_mnist), *TINY]
    result = runner.invoke(app, [*args, "--preset", "siamese-ws-aux", "--no-aux-loss", "--json"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)["config"]
    assert (config["w_sharing"], config["aux_loss"], config["epochs"]) == (True, False, 2)


@pytest.mark.parametrize(("args", "message"), [
    (["run", "mnist", "--rounds", "0"], "--rounds: must be between 1 and 10,000, got 0"),
    (["run", "mnist", "--rounds", "10000000"], "--rounds: must be between 1 and 10,000, got 10,000,000"),
    (["run", "mnist", "--epochs", "1000000"], "epochs: must be <= 100000"),
    (["run", "mnist", "--pairs", "1000000"], "pairs: must be <= 5000"),
    (["run", "mnist", "--extra-pairs", "2000000"], "extra_pairs: must be <= 1000000"),
    (["run", "mnist", "--parallel-rounds", "0"], "--parallel-rounds: must be between 1 and 1,024, got 0"),
    (["run", "mnist", "--parallel-rounds", "many"], "--parallel-rounds: must be auto or a whole number >= 1"),
    (["run", "mnist", "--precision", "fp16"], "--precision: 'fp16' is not one of auto, fp32, bf16"),
    (["run", "mnist", "--compile", "--parallel-rounds", "2"], "--compile works on one round at a time"),
    (["run", "mnist", "--workers", "0"], "--workers: must be between 1 and 256, got 0"),
    (["run", "mnist", "--model", "resnet"], "model: 'resnet' is not one of: baseline, siamese"),
    (["run", "mnist", "--preset", "best-ever"], "unknown preset 'best-ever'"),
    (["run", "mnist", "--lr", "fast"], "Invalid value for '--lr'"),
    (["run", "mnist", "--lr", "nan"], "lr: must be a finite number, got nan"),
    (["run", "mnist", "--lr", "inf"], "lr: must be a finite number, got inf"),
    (["run", "mnist", "--momentum", "nan"], "momentum: must be a finite number, got nan"),
    (["run", "mnist", "--seed", "-5"], "--seed: must be between 0 and 2**63 - 1, got -5"),
    (["run", "mnist", "--seed", str(2**70)], f"--seed: must be between 0 and 2**63 - 1, got {2**70}"),
    (["run", "mnist", "--device", "tpu"], "--device: 'tpu' is not one of"),
    (["run", "imagenet"], "unknown task 'imagenet'; known: lfw, mnist"),
    (["show", "99"], "no results store"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, fake_mnist, args, message):
    result = suite_here(*args, cwd=tmp_path, data_dir=fake_mnist)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()  # nothing was written


@pytest.mark.slow  # the real entry point, in a process of its own
def test_missing_data_directory(tmp_path):
    result = suite("run", "mnist", "--data-dir", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"suite: error: data directory {tmp_path / 'nowhere'} does not exist "
                                      "(from --data-dir); pass --data-dir or set $SUITE_DATA_DIR")


@pytest.mark.slow  # the real entry point, twice
def test_truncated_idx_file_keeps_the_store(tmp_path, fake_mnist):
    store = tmp_path / "r.db"
    ok = suite("run", "mnist", "--rounds", "1", "--store", str(store), *TINY, cwd=tmp_path, data_dir=fake_mnist)
    assert ok.returncode == 0, ok.stderr
    before = store.read_bytes()
    labels = fake_mnist / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-7])
    result = suite("run", "mnist", "--rounds", "2", "--store", str(store), *TINY, cwd=tmp_path, data_dir=fake_mnist)
    assert result.returncode == 2
    assert "train-labels-idx1-ubyte: truncated IDX file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store.read_bytes() == before


@pytest.mark.parametrize("args", [["-h"], ["run", "mnist", "-h"], ["results", "-h"], ["compare", "-h"]])
def test_dash_h_is_help(tmp_path, args):
    result = suite_here(*args, cwd=tmp_path)
    assert result.returncode == 0 and "Usage: suite" in result.stdout, result.stderr


@pytest.mark.slow
def test_version_and_shell_completion(tmp_path):
    assert suite_here("--version", cwd=tmp_path).stdout.startswith("suite 0.")
    shown = suite_here("--show-completion", "bash", cwd=tmp_path)
    assert shown.returncode == 0 and "_SUITE_COMPLETE=complete_bash" in shown.stdout
    # what the installed script asks for as a user presses tab: tasks, then a task's own options
    for words, expected in (("suite run ", {"lfw", "mnist"}), ("suite run mnist --w-sh", {"--w-sharing"})):
        env = {"COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - (not words.endswith(" "))),
               "_SUITE_COMPLETE": "complete_bash"}
        completed = subprocess.run([sys.executable, "-m", "suite"], cwd=tmp_path, env={**os.environ, **env},
                                   capture_output=True, text=True, timeout=120)
        assert expected <= set(completed.stdout.split()), completed.stderr


def test_results_json_lists_configs_rounds_diverged_and_the_primary_metric(tmp_path):
    from suite.results.store import Store
    from tests.stored_fixtures import add_experiment

    store = Store(tmp_path / "s.db")
    add_experiment(store, [0.8, 0.82, None], model="baseline")
    add_experiment(store, [None])
    result = suite_here("results", "--json", "--store", "s.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    first, second = listed["experiments"]
    assert (first["rounds"], first["diverged"], first["config"]["model"]) == (2, 1, "baseline")
    assert first["primary_metric"] == {"name": "test_accuracy", "unit": "%", "mean": pytest.approx(0.81),
                                       "std": pytest.approx(0.0141421356)}
    assert (second["rounds"], second["diverged"], second["primary_metric"]) == (0, 1, None)
    assert listed["sweeps"] == []


@pytest.mark.slow  # the real entry point with the toy task installed, in a process of its own
def test_a_task_that_reads_no_files_runs_without_a_data_directory(tmp_path):
    from tests.fault_helpers import python_path

    result = suite("run", "toy", "--rounds", "2", "--epochs", "1", "--quiet", "--store", "r.db", cwd=tmp_path,
                   env={"PYTHONPATH": python_path(tmp_path), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "data").exists() and "2 rounds" in " ".join(result.stdout.split())
