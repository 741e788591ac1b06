"""`suite export`: experiments, rounds, epochs and scores as files that read back to what the store holds."""

import importlib.util
import io

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import suite_here
from tests.stored_fixtures import add_experiment, comparison_store
from tests.suite.test_store_access import MOUNT, tmpfs

ALL = "experiments,rounds,epochs,scores"


@pytest.fixture
def store(tmp_path):
    comparison_store(tmp_path / "c.db")
    from suite.results.store import Store

    add_experiment(Store(tmp_path / "c.db"), [0.7, 0.75, None], scores=True, lr=0.01)  # 5: one round diverged
    return tmp_path / "c.db"


def export(store, *args, cwd):
    return suite_here("export", "--store", str(store), *args, cwd=cwd)


def test_csv_tables_read_back_to_the_store(store, tmp_path) -> None:
    done = export(store, "--out", str(tmp_path / "out"), "--tables", ALL, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "experiments.csv (5 rows)" in done.stdout
    experiments = pd.read_csv(tmp_path / "out" / "experiments.csv")
    assert list(experiments["id"]) == [1, 2, 3, 4, 5]
    assert list(experiments["model"]) == ["baseline", "siamese", "siamese", "siamese", "siamese"]
    assert list(experiments["rounds"]) == [5, 5, 5, 4, 2] and list(experiments["diverged"]) == [0, 0, 0, 0, 1]
    assert experiments.loc[0, "test_accuracy_mean"] == pytest.approx(np.mean([0.80, 0.82, 0.79, 0.81, 0.83]))
    rounds = pd.read_csv(tmp_path / "out" / "rounds.csv")
    assert len(rounds) == 5 + 5 + 5 + 4 + 2  # finished rounds only
    assert list(rounds.loc[rounds["experiment_id"] == 5, "test_accuracy"]) == [0.7, 0.75]
    epochs = pd.read_csv(tmp_path / "out" / "epochs.csv")
    assert len(epochs) == len(rounds) * 3 and {"experiment_id", "seed", "round_index", "epoch"} <= set(epochs)
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert len(scores) == 2 * 6 and set(scores["experiment_id"]) == {5}
    assert list(scores["score"][:6]) == pytest.approx([0.9, 0.2, 0.6, 0.4, 0.3, 0.8])


def test_jsonl_of_chosen_experiments_and_one_table_on_stdout(store, tmp_path) -> None:
    done = export(store, "--task", "mnist", "--where", "w_sharing=True", "--out", str(tmp_path / "j"), "--format",
                  "jsonl", "--tables", "experiments", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    chosen = pd.read_json(tmp_path / "j" / "experiments.jsonl", lines=True)
    assert list(chosen["id"]) == [3]
    piped = export(store, "1", "2", "--out", "-", "--tables", "rounds", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert sorted(set(pd.read_csv(io.StringIO(piped.stdout))["experiment_id"])) == [1, 2]


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="Parquet needs pyarrow (the parquet extra)")
def test_parquet(store, tmp_path) -> None:
    done = export(store, "--out", str(tmp_path / "p"), "--format", "parquet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert export(store, "--out", str(tmp_path / "c"), cwd=tmp_path).returncode == 0
    for name in ("experiments", "rounds", "epochs"):
        parquet = pd.read_parquet(tmp_path / "p" / f"{name}.parquet")
        csv = pd.read_csv(tmp_path / "c" / f"{name}.csv")
        assert list(parquet.columns) == list(csv.columns) and len(parquet) == len(csv)
        numbers = [c for c in csv.select_dtypes("number").columns if pd.api.types.is_numeric_dtype(parquet[c])]
        assert {"id", "experiment_id"} & set(numbers)
        np.testing.assert_allclose(parquet[numbers].to_numpy(float), csv[numbers].to_numpy(float))


@pytest.mark.parametrize("args, message", [
    (["--out", "OUT", "--format", "xml"], "--format: 'xml' is not one of: csv, jsonl, parquet"),
    (["--out", "OUT", "--tables", "rounds,foo"], "--tables: foo is not a table"),
    (["--out", "OUT", "--tables", "scores", "--split", "val"], "--split 'val': no scores of that split"),
    (["--tables", "rounds"], "--out: name a folder"),
    (["--out", "-"], "--out -: writes one table"),
    (["--out", "OUT", "--task", "mnist", "--where", "model=nothing"], "no experiment matches"),
    (["--out", "OUT", "--where", "model=siamese"], None),  # one task in the store: no --task needed
    (["99", "--out", "OUT"], "no experiment 99 in"),
    (["--to", "s3"], "--to: 's3' is not one of: files, mlflow"),
    (["--out", "OUT", "--tracking-uri", "file:///x"], "--tracking-uri: only with --to mlflow"),
    (["--to", "mlflow", "--out", "OUT"], "--out: only with --to files"),
])
def test_bad_input_is_one_line(store, tmp_path, args, message) -> None:
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    done = export(store, *args, cwd=tmp_path)
    if message is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


def test_out_that_is_a_file_is_refused_and_other_files_are_left(store, tmp_path) -> None:
    (tmp_path / "file").write_text("mine")
    done = export(store, "--out", str(tmp_path / "file"), cwd=tmp_path)
    assert done.returncode == 2 and "is a file" in done.stderr
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert export(store, "--out", str(folder), cwd=tmp_path).returncode == 0
    assert export(store, "--out", str(folder), cwd=tmp_path).returncode == 0  # a second export replaces its files
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in folder.iterdir()) == ["epochs.csv", "experiments.csv", "notes.txt", "rounds.csv"]


@pytest.mark.skipif(not MOUNT, reason="a full disk needs a tiny tmpfs: root and mount")
def test_a_full_disk_keeps_the_previous_export_whole(store, tmp_path) -> None:
    with tmpfs(tmp_path / "tiny", "64k") as tiny:
        assert export(store, "--out", str(tiny), "--tables", "experiments", cwd=tmp_path).returncode == 0
        before = (tiny / "experiments.csv").read_text()
        (tiny / "filler").write_bytes(b"x" * (64 * 1024 - 4096 - len(before)))
        done = export(store, "--out", str(tiny), "--tables", "experiments,scores,epochs", cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "No space left on device" in done.stderr
        assert (tiny / "experiments.csv").read_text() == before
        assert not [p for p in tiny.iterdir() if p.name.endswith(".partial")]
