import sqlite3

import pytest

from suite.core.errors import SuiteError
from suite.core.records import RoundResult
from suite.results.store import SCHEMA_VERSION, Store

ENV = {"code_version": "test", "torch_version": "x", "python_version": "3", "device": "cpu"}


def result(accuracy: float, epochs: int = 2) -> RoundResult:
    return RoundResult(metrics={"test_accuracy": accuracy, "test_loss": 1 - accuracy},
                       curves=[{"train_loss": 1.0 / (e + 1)} for e in range(epochs)],
                       epoch_seconds=[0.5] * epochs, seconds=1.5, peak_memory_bytes=2**20, device="cpu")


def test_experiment_is_found_again_by_hash(tmp_path):
    store = Store(tmp_path / "r.db")
    first = store.ensure_experiment("mnist", "abc", {"lr": 0.1}, ENV)
    assert store.ensure_experiment("mnist", "abc", {"lr": 0.1}, ENV) == first
    assert store.ensure_experiment("mnist", "def", {"lr": 0.2}, ENV) != first
    assert len(store.experiments()) == 2


def test_rounds_resume_by_index_and_seed(tmp_path):
    path = tmp_path / "r.db"
    store = Store(path)
    exp = store.ensure_experiment("mnist", "abc", {}, ENV)
    for index in range(3):
        store.add_round(exp, index, seed=0, result=result(0.5 + index / 10))
    store.close()
    reopened = Store(path)
    assert reopened.stored_round_indices(exp, 0) == {0, 1, 2}
    assert reopened.stored_round_indices(exp, 1) == set()
    rounds = reopened.rounds(exp, 0, range(2))
    assert list(rounds["round_index"]) == [0, 1]
    assert list(rounds["test_accuracy"]) == [0.5, 0.6]
    assert list(reopened.curves(int(rounds["id"].iloc[0]))["train_loss"]) == [1.0, 0.5]
    # a round is stored once: one stored meanwhile (by another process) is kept, the late one dropped
    assert reopened.add_group(exp, 0, [0, 3], [result(0.9), result(0.8)]) == [3]
    assert reopened.rounds(exp, 0)["test_accuracy"].tolist() == [0.5, 0.6, 0.7, 0.8]


def test_delete_rounds_removes_their_curves(tmp_path):
    store = Store(tmp_path / "r.db")
    exp = store.ensure_experiment("mnist", "abc", {}, ENV)
    store.add_round(exp, 0, 0, result(0.5))
    store.add_round(exp, 0, 1, result(0.6))
    assert store.delete_rounds(exp, 0) == 1
    assert store.db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 2  # the seed-1 round's
    assert store.stored_round_indices(exp, 1) == {0}


def test_reader_is_not_blocked_by_a_writer(tmp_path):
    path = tmp_path / "r.db"
    writer = Store(path)
    exp = writer.ensure_experiment("mnist", "abc", {}, ENV)
    writer.add_round(exp, 0, 0, result(0.5))
    with writer.transaction():  # a write in progress, not yet committed
        writer.db.execute("INSERT INTO rounds (experiment_id, round_index, seed, status, metrics, device, finished)"
                          " VALUES (?, 1, 0, 'finished', '{}', 'cpu', 'now')", (exp,))
        reader = sqlite3.connect(path, timeout=0.1)  # would raise 'database is locked' if it had to wait
        assert reader.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == 1
        assert len(Store(path, readonly=True).experiments()) == 1
    assert reader.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == 2


def test_interrupted_transaction_leaves_no_partial_round(tmp_path):
    store = Store(tmp_path / "r.db")
    exp = store.ensure_experiment("mnist", "abc", {}, ENV)
    broken = result(0.5)
    broken.epoch_seconds = broken.epoch_seconds[:1]  # curves and timings disagree: the epochs insert fails
    with pytest.raises(ValueError):
        store.add_round(exp, 0, 0, broken)
    assert store.stored_round_indices(exp, 0) == set()


def test_not_a_database_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my precious notes, not SQLite " * 100)
    before = path.read_bytes()
    with pytest.raises(SuiteError, match="not a SQLite database"):
        Store(path)
    assert path.read_bytes() == before


def test_missing_store_for_reading(tmp_path):
    with pytest.raises(SuiteError, match="no results store"):
        Store(tmp_path / "none.db", readonly=True)
    assert not (tmp_path / "none.db").exists()


def test_scores_and_setting_are_stored(tmp_path):
    import torch
    store = Store(tmp_path / "r.db")
    exp = store.ensure_experiment("lfw", "abc", {}, ENV, {"protocol": "View 1"})
    stored = result(0.7)
    stored.scores = {"test": torch.tensor([0.25, 0.75, 0.5]), "val": torch.tensor([0.1])}
    stored.targets = {"test": torch.tensor([0, 1, 1])}
    store.add_round(exp, 0, seed=0, result=stored)
    round_id = int(store.rounds(exp)["id"].iloc[0])
    assert list(store.scores(round_id)["score"]) == [0.25, 0.75, 0.5]
    assert list(store.scores(round_id)["target"]) == [0.0, 1.0, 1.0]
    assert store.scores(round_id, "val")["target"].isna().all()  # scored without labels
    assert store.scores(round_id, "train").empty
    assert store.experiment(exp)["setting"] == {"protocol": "View 1"}


def test_version_1_store_is_upgraded_in_place(tmp_path):
    path = tmp_path / "r.db"
    store = Store(path)
    exp = store.ensure_experiment("mnist", "abc", {"lr": 0.1}, ENV)
    store.add_round(exp, 0, seed=0, result=result(0.9))
    store.close()
    old = sqlite3.connect(path)  # make it what version 1 wrote: no scores table, no setting column
    old.executescript("DROP TABLE scores; ALTER TABLE experiments DROP COLUMN setting; PRAGMA user_version = 1;")
    old.close()
    upgraded = Store(path)
    assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert list(upgraded.rounds(exp)["test_accuracy"]) == [0.9]
    assert upgraded.experiment(exp)["setting"] == {}


def test_version_2_store_gains_score_targets_and_keeps_its_scores(tmp_path):
    import torch
    path = tmp_path / "r.db"
    store = Store(path)
    exp = store.ensure_experiment("lfw", "abc", {}, ENV)
    stored = result(0.7)
    stored.scores = {"test": torch.tensor([0.25, 0.75])}
    store.add_round(exp, 0, seed=0, result=stored)
    store.close()
    old = sqlite3.connect(path)  # version 2: scores without their targets
    old.executescript("ALTER TABLE scores DROP COLUMN target; PRAGMA user_version = 2;")
    old.close()
    upgraded = Store(path)
    round_id = int(upgraded.rounds(exp)["id"].iloc[0])
    assert list(upgraded.scores(round_id)["score"]) == [0.25, 0.75]
    assert upgraded.scores(round_id)["target"].isna().all()


def stacked(accuracies: list[float], seconds: float = 6.0, epochs: int = 2) -> list[RoundResult]:
    """The results of one stacked group: each carries the group's one measurement."""
    return [RoundResult(metrics={"test_accuracy": a}, curves=[{"train_loss": 1.0}] * epochs,
                        epoch_seconds=[seconds / epochs] * epochs, seconds=seconds, peak_memory_bytes=3 * 2**20,
                        device="cpu stacked:0,1,2") for a in accuracies]


def test_a_stacked_group_is_stored_as_one_measurement(tmp_path):
    store = Store(tmp_path / "r.db")
    exp = store.ensure_experiment("mnist", "abc", {}, ENV)
    store.add_group(exp, 0, [0, 1, 2], stacked([0.8, 0.9, 0.85]))
    assert store.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 1
    rounds = store.rounds(exp)
    assert rounds["measurement_id"].nunique() == 1 and rounds["group_size"].tolist() == [3, 3, 3]
    assert rounds["round_seconds"].tolist() == [6.0] * 3 and rounds["peak_memory_mb"].tolist() == [3.0] * 3
    store.delete_rounds(exp, 0)
    assert store.db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 0


# What version 4 wrote: time and memory on every round (a stacked round held its share of the group's time).
VERSION_4_ROUNDS = """
CREATE TABLE rounds (id INTEGER PRIMARY KEY, experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE
  CASCADE, round_index INTEGER NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, metrics TEXT NOT NULL,
  seconds REAL NOT NULL, seconds_per_epoch REAL NOT NULL, peak_memory_bytes INTEGER NOT NULL, device TEXT NOT NULL,
  finished TEXT NOT NULL, UNIQUE (experiment_id, round_index, seed));
CREATE TABLE epochs (round_id INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
  metrics TEXT NOT NULL, seconds REAL NOT NULL, PRIMARY KEY (round_id, epoch));
"""


def test_version_4_store_gets_one_measurement_per_stacked_group(tmp_path):
    path = tmp_path / "r.db"
    store = Store(path)
    exp = store.ensure_experiment("mnist", "abc", {}, ENV)
    store.close()
    old = sqlite3.connect(path)
    old.executescript("PRAGMA foreign_keys = OFF; DROP TABLE epochs; DROP TABLE scores; DROP TABLE rounds;"
                      "DROP TABLE measurements;" + VERSION_4_ROUNDS + "PRAGMA user_version = 4;")
    # Rounds 0-2 stacked (6 s in all, 2 s each; epoch times 1 s each, a third each), round 3 alone (5 s).
    for index in range(3):
        old.execute("INSERT INTO rounds VALUES (?, ?, ?, 0, 'finished', ?, 2.0, 1.0, 3145728, 'cpu stacked:0,1,2',"
                    " 'now')", (index + 1, exp, index, f'{{"test_accuracy": 0.{index + 7}}}'))
        old.executemany("INSERT INTO epochs VALUES (?, ?, '{}', ?)", [(index + 1, e, 1 / 3) for e in range(2)])
    old.execute("INSERT INTO rounds VALUES (4, ?, 3, 0, 'finished', '{\"test_accuracy\": 0.5}', 5.0, 2.5, 1048576,"
                " 'cpu', 'now')", (exp,))
    old.executemany("INSERT INTO epochs VALUES (4, ?, '{}', 2.5)", [(e,) for e in range(2)])
    old.commit()
    old.close()
    upgraded = Store(path)
    assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    rounds = upgraded.rounds(exp)
    assert rounds["test_accuracy"].tolist() == [0.7, 0.8, 0.9, 0.5]
    assert rounds["measurement_id"].nunique() == 2 and rounds["group_size"].tolist() == [3, 3, 3, 1]
    assert rounds["round_seconds"].tolist() == pytest.approx([6.0, 6.0, 6.0, 5.0])
    assert rounds["seconds_per_epoch"].tolist() == pytest.approx([1.0, 1.0, 1.0, 2.5])
    assert rounds["peak_memory_mb"].tolist() == [3.0, 3.0, 3.0, 1.0]
    assert "seconds" not in {r[1] for r in upgraded.db.execute("PRAGMA table_info(rounds)")}
    assert upgraded.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
