"""SQLite results store: experiments, rounds, epoch curves, per-example scores, sweeps.

One experiment per (task, config hash); rounds are idempotent by (experiment, round index, base seed), so
rerunning a command resumes. Each finished round is written in one transaction with its curves. WAL mode
lets readers (`suite results`, reports) read while a run writes.
"""

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from suite.engine import RoundResult
from suite.errors import SuiteError

DEFAULT_PATH = Path("results") / "suite.db"
SCHEMA_VERSION = 4

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    created TEXT NOT NULL,
    code_version TEXT NOT NULL,
    torch_version TEXT NOT NULL,
    python_version TEXT NOT NULL,
    device TEXT NOT NULL,
    setting TEXT NOT NULL DEFAULT '{}',
    UNIQUE (task, config_hash)
);
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    round_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL NOT NULL,
    seconds_per_epoch REAL NOT NULL,
    peak_memory_bytes INTEGER NOT NULL,
    device TEXT NOT NULL,
    finished TEXT NOT NULL,
    UNIQUE (experiment_id, round_index, seed)
);
CREATE TABLE IF NOT EXISTS epochs (
    round_id INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (round_id, epoch)
);
CREATE TABLE IF NOT EXISTS scores (
    round_id INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    split TEXT NOT NULL,
    example INTEGER NOT NULL,
    score REAL NOT NULL,
    target REAL,
    PRIMARY KEY (round_id, split, example)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    sweep_hash TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_cells (
    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    cell TEXT NOT NULL,
    PRIMARY KEY (sweep_id, position)
);
"""
# Columns added since version 1 (which had no scores table). Upgrading creates missing tables from SCHEMA, then
# adds each missing column, keeping every stored row; rows stored before a column existed hold its default.
ADDED_COLUMNS = [("experiments", "setting", "TEXT NOT NULL DEFAULT '{}'"),  # version 2
                 ("scores", "target", "REAL")]  # version 3: the label of each scored example
# Version 4 added the sweeps and sweep_cells tables (created from SCHEMA on upgrade).


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store:
    def __init__(self, path: str | Path = DEFAULT_PATH, *, create: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise SuiteError(f"no results store at {self.path} (run an experiment first, or pass --store)")
            if self.path.parent.exists() and not self.path.parent.is_dir():
                raise SuiteError(f"--store {self.path}: {self.path.parent} is not a directory")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.is_dir():
            raise SuiteError(f"--store {self.path}: is a directory, expected a SQLite file")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA journal_mode = WAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SuiteError(f"store {self.path} has schema version {version}; this suite reads "
                                 f"up to {SCHEMA_VERSION} (upgrade suite)")
            if version < SCHEMA_VERSION:
                with self.transaction():
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    for table, column, declaration in ADDED_COLUMNS:
                        present = {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
                        if column not in present:
                            self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                    self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise SuiteError(f"store {self.path} is not a usable SQLite database ({exc})") from None

    def transaction(self) -> "_Transaction":
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    # experiments ------------------------------------------------------------------------------------------

    def ensure_experiment(self, task: str, config_hash: str, config: dict[str, Any],
                          env: dict[str, str], setting: dict[str, str] | None = None) -> int:
        """The id of the experiment with this task and config hash, creating it if needed."""
        row = self.db.execute("SELECT id FROM experiments WHERE task = ? AND config_hash = ?",
                              (task, config_hash)).fetchone()
        if row is not None:
            return int(row["id"])
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO experiments (task, config_hash, config, created, code_version, torch_version,"
                " python_version, device, setting) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (task, config_hash, json.dumps(config, sort_keys=True), _now(), env["code_version"],
                 env["torch_version"], env["python_version"], env["device"], json.dumps(setting or {})))
            return int(cur.lastrowid)

    def experiment(self, experiment_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        if row is None:
            raise SuiteError(f"no experiment {experiment_id} in {self.path} (see `suite results`)")
        out = dict(row)
        out["config"] = json.loads(out["config"])
        out["setting"] = json.loads(out["setting"])
        return out

    def experiments(self) -> pd.DataFrame:
        """One row per experiment with its number of finished rounds."""
        return pd.read_sql_query(
            "SELECT e.id, e.task, e.config_hash, e.config, e.created, e.device, COUNT(r.id) AS rounds"
            " FROM experiments e LEFT JOIN rounds r ON r.experiment_id = e.id AND r.status = 'finished'"
            " GROUP BY e.id ORDER BY e.id", self.db)

    # rounds ----------------------------------------------------------------------------------------------

    def add_round(self, experiment_id: int, round_index: int, seed: int, result: RoundResult) -> None:
        """Store one finished round and its epoch curve in a single transaction."""
        epochs = len(result.epoch_seconds)
        per_epoch = sum(result.epoch_seconds) / epochs if epochs else 0.0
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO rounds (experiment_id, round_index, seed, status, metrics, seconds,"
                " seconds_per_epoch, peak_memory_bytes, device, finished)"
                " VALUES (?, ?, ?, 'finished', ?, ?, ?, ?, ?, ?)",
                (experiment_id, round_index, seed, json.dumps(result.metrics), result.seconds, per_epoch,
                 result.peak_memory_bytes, result.device, _now()))
            self.db.executemany(
                "INSERT INTO epochs (round_id, epoch, metrics, seconds) VALUES (?, ?, ?, ?)",
                [(cur.lastrowid, i, json.dumps(m), s)
                 for i, (m, s) in enumerate(zip(result.curves, result.epoch_seconds, strict=True))])
            rows = []
            for split, values in result.scores.items():
                targets = result.targets.get(split)
                labels = targets.tolist() if targets is not None else [None] * len(values)
                rows += [(cur.lastrowid, split, i, float(v), None if t is None else float(t))
                         for i, (v, t) in enumerate(zip(values.tolist(), labels, strict=True))]
            self.db.executemany(
                "INSERT INTO scores (round_id, split, example, score, target) VALUES (?, ?, ?, ?, ?)", rows)

    def finished_round_indices(self, experiment_id: int, seed: int) -> set[int]:
        rows = self.db.execute("SELECT round_index FROM rounds WHERE experiment_id = ? AND seed = ?"
                               " AND status = 'finished'", (experiment_id, seed))
        return {int(r[0]) for r in rows}

    def delete_rounds(self, experiment_id: int, seed: int) -> int:
        with self.transaction():
            return self.db.execute("DELETE FROM rounds WHERE experiment_id = ? AND seed = ?",
                                   (experiment_id, seed)).rowcount

    def rounds(self, experiment_id: int, seed: int | None = None,
               indices: Iterable[int] | None = None) -> pd.DataFrame:
        """Finished rounds as a table: one row each, its metrics spread into columns."""
        query = "SELECT * FROM rounds WHERE experiment_id = ? AND status = 'finished'"
        params: list[Any] = [experiment_id]
        if seed is not None:
            query += " AND seed = ?"
            params.append(seed)
        frame = pd.read_sql_query(query + " ORDER BY seed, round_index", self.db, params=params)
        if indices is not None:
            frame = frame[frame["round_index"].isin(list(indices))]
        metrics = pd.DataFrame([json.loads(m) for m in frame["metrics"]], index=frame.index)
        return pd.concat([frame.drop(columns=["metrics"]), metrics], axis=1)

    def scores(self, round_id: int, split: str = "test") -> pd.DataFrame:
        """The stored per-example scores of one round's split and their targets, indexed by example."""
        frame = pd.read_sql_query("SELECT example, score, target FROM scores WHERE round_id = ? AND split = ?"
                                  " ORDER BY example", self.db, params=(round_id, split))
        return frame.set_index("example")

    def curves(self, round_id: int) -> pd.DataFrame:
        frame = pd.read_sql_query("SELECT epoch, metrics, seconds FROM epochs WHERE round_id = ?"
                                  " ORDER BY epoch", self.db, params=[round_id])
        metrics = pd.DataFrame([json.loads(m) for m in frame["metrics"]], index=frame.index)
        return pd.concat([frame.drop(columns=["metrics"]), metrics], axis=1)


    # sweeps ----------------------------------------------------------------------------------------------

    def ensure_sweep(self, task: str, sweep_hash: str, spec: dict[str, Any],
                     cells: list[tuple[int, dict[str, Any]]]) -> int:
        """The id of the sweep with this hash, created with its cells (experiment id, swept values) if new."""
        row = self.db.execute("SELECT id FROM sweeps WHERE sweep_hash = ?", (sweep_hash,)).fetchone()
        if row is not None:
            return int(row["id"])
        with self.transaction():
            cur = self.db.execute("INSERT INTO sweeps (task, sweep_hash, spec, created) VALUES (?, ?, ?, ?)",
                                  (task, sweep_hash, json.dumps(spec, sort_keys=True), _now()))
            self.db.executemany(
                "INSERT INTO sweep_cells (sweep_id, position, experiment_id, cell) VALUES (?, ?, ?, ?)",
                [(cur.lastrowid, i, eid, json.dumps(values, sort_keys=True)) for i, (eid, values) in enumerate(cells)])
            return int(cur.lastrowid)

    def sweep(self, sweep_id: int) -> dict[str, Any]:
        """A sweep's spec and its cells, in grid order: [{"position", "experiment_id", "values"}]."""
        row = self.db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise SuiteError(f"no sweep {sweep_id} in {self.path} (see `suite results`)")
        cells = self.db.execute("SELECT position, experiment_id, cell FROM sweep_cells WHERE sweep_id = ?"
                                " ORDER BY position", (sweep_id,))
        return {**dict(row), "spec": json.loads(row["spec"]),
                "cells": [{"position": c["position"], "experiment_id": c["experiment_id"],
                           "values": json.loads(c["cell"])} for c in cells]}

    def sweeps(self) -> pd.DataFrame:
        """One row per sweep: id, task, created, its number of cells."""
        return pd.read_sql_query(
            "SELECT s.id, s.task, s.created, COUNT(c.position) AS cells FROM sweeps s"
            " LEFT JOIN sweep_cells c ON c.sweep_id = s.id GROUP BY s.id ORDER BY s.id", self.db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (KeyboardInterrupt included)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
