"""SQLite results store: experiments, rounds, epoch curves, per-example scores, measurements, sweeps.

One experiment per (task, config hash); rounds are idempotent by (experiment, round index, base seed), so
rerunning a command resumes. A measurement is the time and peak memory of one training run: of one round, or of a
group of rounds trained stacked, which were measured together and so are stored once for the group. Each finished
group is written in one transaction with its rounds' curves and scores. Each round records the code it ran with
(suite.core.identity: a digest of the source files and the commit); a rerun reuses only rounds of the same digest
and replaces the others as it trains them again. WAL mode lets readers (`suite results`, reports) read while a run
writes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.core.errors import SuiteError
from suite.core.records import DIVERGED, FINISHED, RoundResult

if TYPE_CHECKING:  # pandas is imported by the methods that read tables: the command line starts without it
    import pandas as pd

DEFAULT_PATH = Path("results") / "suite.db"
SCHEMA_VERSION = 7

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
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    seed INTEGER NOT NULL,
    round_indices TEXT NOT NULL,
    seconds REAL NOT NULL,
    seconds_per_epoch REAL NOT NULL,
    epoch_seconds TEXT NOT NULL,
    peak_memory_bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    round_index INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    device TEXT NOT NULL,
    finished TEXT NOT NULL,
    measurement_id INTEGER REFERENCES measurements(id),
    UNIQUE (experiment_id, round_index, seed)
);
CREATE TABLE IF NOT EXISTS epochs (
    round_id INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
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
CREATE TABLE IF NOT EXISTS models (
    round_id INTEGER PRIMARY KEY REFERENCES rounds(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL
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
                 ("scores", "target", "REAL"),  # version 3: the label of each scored example
                 # version 6: the code each round ran with (suite.core.identity); rounds stored before hold
                 # 'unknown', which matches no code, so a rerun reuses them only when asked (--reuse-any-code)
                 ("rounds", "code_digest", "TEXT NOT NULL DEFAULT 'unknown'"),
                 ("rounds", "code_commit", "TEXT NOT NULL DEFAULT ''")]
# Version 4 added the sweeps and sweep_cells tables (created from SCHEMA on upgrade). Version 5 moved time and
# memory from rounds and epochs to measurements (_split_measurements). Version 7 added the models table (the saved
# weights of a round, --save-models: its file relative to the store's folder and the file's sha256).
COST_COLUMNS = ("seconds", "seconds_per_epoch", "peak_memory_bytes")


def _json(values: dict[str, float]) -> str:
    """Metrics as strict JSON: a non-finite value (a diverged round's last epoch) is stored as null."""
    return json.dumps({k: v if math.isfinite(v) else None for k, v in values.items()})


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# What makes a SQLite file a suite store (present in every schema version): another project's "experiments" table
# is not ours.
SUITE_KEY_COLUMNS = {("experiments", "task"), ("experiments", "config_hash"), ("rounds", "experiment_id"),
                     ("rounds", "round_index"), ("rounds", "seed"), ("rounds", "metrics")}


class StoreWriteError(SuiteError):
    """Writing to the store failed (disk full, I/O error, read-only): what was committed before is intact."""


def _readonly_uri(path: Path) -> str:
    """The file opened so that SQLite writes nothing: mode=ro, and immutable=1 where its folder is read-only (SQLite
    could not make its lock files there)."""
    immutable = "&immutable=1" if not os.access(path.parent, os.W_OK) else ""
    return f"{path.resolve().as_uri()}?mode=ro{immutable}"


def _probe(path: Path) -> tuple[int, set[str]]:
    """An existing file's SQLite user_version and table names (with "suite" when its experiments and rounds
    tables have a suite store's key columns), read without writing anything (mode=ro, or immutable=1 where its
    folder is read-only and SQLite could not make its lock files)."""
    try:
        probe = sqlite3.connect(_readonly_uri(path), uri=True)
        try:
            version = probe.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {(table, row[1]) for table in {"experiments", "rounds"} & tables
                       for row in probe.execute(f"PRAGMA table_info({table})")}
            if SUITE_KEY_COLUMNS <= columns:
                tables.add("suite")
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        raise SuiteError(f"store {path}: not a SQLite database ({exc})") from None
    return version, tables


class Store:
    """A results store. Writing (the default: `run`, `sweep`) checks up front that the file, if any, is a suite store
    and that it and its folder are writable, but creates the file and migrates an older schema only when the first
    experiment is stored, so a run refused by its data or configuration leaves nothing behind. Reading
    (`readonly=True`: `results`, `show`, `compare`, `report`) never writes: the file is opened with mode=ro (or
    immutable=1 in a read-only folder), and an older schema is upgraded in a private in-memory copy. A SQLite file
    that is not a suite store is refused either way, untouched."""

    def __init__(self, path: str | Path = DEFAULT_PATH, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._db: sqlite3.Connection | None = None
        if self.path.is_dir():
            raise SuiteError(f"--store {self.path}: is a directory, expected a SQLite file")
        if not self.path.exists():
            if readonly:
                raise SuiteError(f"no results store at {self.path} (run an experiment first, or pass --store)")
            folder = next(p for p in [self.path.parent, *self.path.parent.parents] if p.exists())
            if not folder.is_dir():
                raise SuiteError(f"--store {self.path}: {folder} is not a directory")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise SuiteError(f"--store {self.path}: cannot create it, {folder} is not writable")
            return
        version, tables = _probe(self.path)
        if tables and "suite" not in tables:
            raise SuiteError(f"store {self.path}: a SQLite database, but not a suite results store (no experiments "
                             "and rounds tables with a store's columns); left unchanged")
        if not tables and readonly:
            raise SuiteError(f"store {self.path}: an empty SQLite database, not a suite results store")
        if version > SCHEMA_VERSION:
            raise SuiteError(f"store {self.path} has schema version {version}; this suite reads "
                             f"up to {SCHEMA_VERSION} (upgrade suite)")
        if not readonly:
            for target in (self.path, self.path.parent):
                if not os.access(target, os.W_OK):
                    raise SuiteError(f"store {self.path}: {target} is read-only, so no round could be stored "
                                     "(choose another --store, or make it writable)")

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self._open_readonly() if self.readonly else self._open_for_writing()
        return self._db

    def _open_for_writing(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreWriteError(f"store {self.path}: cannot open it for writing ({exc})") from None
        return db

    def _open_readonly(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(_readonly_uri(self.path), uri=True, timeout=30, isolation_level=None)
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                # An older schema: upgrade a private copy, so reading never writes the file.
                copy = sqlite3.connect(":memory:", isolation_level=None)
                db.backup(copy)
                db.close()
                self._db = db = copy
                db.row_factory = sqlite3.Row
                self._migrate()
            db.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as exc:
            raise SuiteError(f"store {self.path}: cannot read it ({exc})") from None
        return db

    def _migrate(self) -> None:
        """Bring an older (or new, empty) store to SCHEMA_VERSION, in one transaction."""
        if self.db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            for table, column, declaration in ADDED_COLUMNS:
                if column not in self._columns(table):
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            if "seconds" in self._columns("rounds"):
                self._split_measurements()
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _columns(self, table: str) -> set[str]:
        return {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def _split_measurements(self) -> None:
        """Version 4 → 5: every round stored its own time and memory, stacked ones their group's time divided
        among them. Rebuild one measurement per training run: a stacked group (its rounds' device names the rounds,
        "stacked:0,1,2") gets the sum of their time shares — each epoch's too, which is exact — and their common
        peak memory; a round trained alone keeps its own."""
        self.db.execute("ALTER TABLE rounds ADD COLUMN measurement_id INTEGER REFERENCES measurements(id)")
        runs: dict[tuple, list[sqlite3.Row]] = {}
        for row in self.db.execute("SELECT id, experiment_id, seed, round_index, seconds, peak_memory_bytes, device"
                                   " FROM rounds ORDER BY id").fetchall():
            stacked = "stacked:" in row["device"]
            runs.setdefault((row["experiment_id"], row["seed"], row["device"]) if stacked else (row["id"],),
                            []).append(row)
        for members in runs.values():
            ids = [m["id"] for m in members]
            marks = ",".join("?" * len(ids))
            epoch_seconds = [s for (s,) in self.db.execute(
                f"SELECT SUM(seconds) FROM epochs WHERE round_id IN ({marks}) GROUP BY epoch ORDER BY epoch", ids)]
            cur = self.db.execute(
                "INSERT INTO measurements (experiment_id, seed, round_indices, seconds, seconds_per_epoch,"
                " epoch_seconds, peak_memory_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (members[0]["experiment_id"], members[0]["seed"], json.dumps([m["round_index"] for m in members]),
                 sum(m["seconds"] for m in members), sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds
                 else 0.0, json.dumps(epoch_seconds), max(m["peak_memory_bytes"] for m in members)))
            self.db.execute(f"UPDATE rounds SET measurement_id = ? WHERE id IN ({marks})", [cur.lastrowid, *ids])
        for column in COST_COLUMNS:
            self.db.execute(f"ALTER TABLE rounds DROP COLUMN {column}")
        self.db.execute("ALTER TABLE epochs DROP COLUMN seconds")

    def transaction(self) -> _Transaction:
        return _Transaction(self.db, self.path)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

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
        """One row per experiment with its numbers of finished rounds and of diverged ones."""
        import pandas as pd

        return pd.read_sql_query(
            "SELECT e.id, e.task, e.config_hash, e.config, e.created, e.device,"
            f" COUNT(r.id) FILTER (WHERE r.status = '{FINISHED}') AS rounds,"
            f" COUNT(r.id) FILTER (WHERE r.status = '{DIVERGED}') AS diverged"
            " FROM experiments e LEFT JOIN rounds r ON r.experiment_id = e.id GROUP BY e.id ORDER BY e.id", self.db)

    def diverged(self, experiment_id: int, seed: int | None = None,
                 indices: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """The diverged rounds (round_index, seed, the epoch they diverged at), of a seed and round indices."""
        query = ("SELECT round_index, seed, CAST(json_extract(metrics, '$.diverged_epoch') AS INTEGER) AS epoch"
                 " FROM rounds"
                 f" WHERE experiment_id = ? AND status = '{DIVERGED}'")
        params: list[Any] = [experiment_id]
        if seed is not None:
            query += " AND seed = ?"
            params.append(seed)
        wanted = None if indices is None else set(indices)
        return [dict(r) for r in self.db.execute(query + " ORDER BY seed, round_index", params)
                if wanted is None or r["round_index"] in wanted]

    # rounds ----------------------------------------------------------------------------------------------

    def add_round(self, experiment_id: int, round_index: int, seed: int, result: RoundResult) -> None:
        """Store one round trained alone."""
        self.add_group(experiment_id, seed, [round_index], [result])

    def add_group(self, experiment_id: int, seed: int, indices: list[int], results: list[RoundResult],
                  replacing: Iterable[int] = ()) -> list[int]:
        """Store the rounds of one training run — one round, or rounds trained stacked — in a single transaction:
        its measurement once (every result of a group carries the group's), each round with its curve and scores.
        The stored rounds of the indices in `replacing` (another code version's, trained again) are deleted in the
        same transaction, so they are kept until their successors are stored. A round is stored once: one that
        another process stored meanwhile is kept, and this one dropped. Returns the indices stored."""
        first = results[0]
        epochs = len(first.epoch_seconds)
        replaced = sorted(set(replacing) & set(indices))
        files = self._write_models(experiment_id, seed, indices, results)  # outside the lock: they may be large
        try:
            kept, superseded = self._add_group(experiment_id, seed, indices, results, replaced, files, first, epochs)
        except BaseException:
            self._remove_models(files.values())
            raise
        self._remove_models(file for index, file in files.items() if index not in kept)  # another process's won
        written = {path for path, _, _ in files.values()}
        self._remove_models((path, "", 0) for path in superseded if path not in written)
        return kept

    def _add_group(self, experiment_id: int, seed: int, indices: list[int], results: list[RoundResult],
                   replaced: list[int], files: dict[int, tuple[str, str, int]], first: RoundResult,
                   epochs: int) -> tuple[list[int], list[str]]:
        """add_group's transaction; returns the indices stored and the model files of the rounds it replaced."""
        superseded: list[str] = []
        with self.transaction():  # BEGIN IMMEDIATE: the check below and the inserts are one step for every writer
            if replaced:
                superseded = self._model_paths(experiment_id, seed, replaced)
                marks = ",".join("?" * len(replaced))
                self.db.execute(f"DELETE FROM rounds WHERE experiment_id = ? AND seed = ? AND round_index IN "
                                f"({marks})", (experiment_id, seed, *replaced))
                self._drop_unused_measurements(experiment_id)
            present = self.stored_round_indices(experiment_id, seed)
            kept = [(index, result) for index, result in zip(indices, results, strict=True) if index not in present]
            if not kept:
                return [], superseded
            measurement = self.db.execute(
                "INSERT INTO measurements (experiment_id, seed, round_indices, seconds, seconds_per_epoch,"
                " epoch_seconds, peak_memory_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (experiment_id, seed, json.dumps(list(indices)), first.seconds,
                 sum(first.epoch_seconds) / epochs if epochs else 0.0, json.dumps(first.epoch_seconds),
                 first.peak_memory_bytes)).lastrowid
            for round_index, result in kept:
                round_id = self._insert_round(experiment_id, round_index, seed, result, measurement)
                if round_index in files:
                    path, digest, size = files[round_index]
                    self.db.execute("INSERT INTO models (round_id, kind, path, sha256, bytes) VALUES (?, ?, ?, ?, ?)",
                                    (round_id, result.weights_kind, path, digest, size))
        return [index for index, _ in kept], superseded

    def _model_paths(self, experiment_id: int, seed: int, indices: list[int] | None = None) -> list[str]:
        """The model files (relative to the store's folder) of a seed's rounds, of these indices (None: all)."""
        rows = self.db.execute("SELECT m.path, r.round_index FROM models m JOIN rounds r ON r.id = m.round_id"
                               " WHERE r.experiment_id = ? AND r.seed = ?", (experiment_id, seed))
        return [row[0] for row in rows if indices is None or row[1] in indices]

    def _write_models(self, experiment_id: int, seed: int, indices: list[int],
                      results: list[RoundResult]) -> dict[int, tuple[str, str, int]]:
        """The weight files of the rounds that carry weights (--save-models): round index → (path, sha256, bytes).
        A file that cannot be written (disk full) is a StoreWriteError; those already written are removed."""
        from suite.results import models

        saving = [(index, result) for index, result in zip(indices, results, strict=True) if result.weights]
        if not saving:
            return {}
        experiment = self.experiment(experiment_id)
        files: dict[int, tuple[str, str, int]] = {}
        try:
            for index, result in saving:
                files[index] = models.write(self.path, experiment_id, seed, index, result, experiment)
        except OSError as exc:
            self._remove_models(files.values())
            where = f": {exc.filename}" if exc.filename else ""
            raise StoreWriteError(f"cannot save a model file of {self.path} ({exc.strerror or exc}{where})") from None
        return files

    def _remove_models(self, files) -> None:
        for path, _, _ in files:
            (self.path.parent / path).unlink(missing_ok=True)

    def models(self, experiment_id: int) -> list[dict[str, Any]]:
        """The saved models of an experiment's finished rounds: round_id, seed, round_index, kind, path (absolute),
        sha256, bytes; by seed and round index."""
        rows = self.db.execute(
            "SELECT m.round_id, r.seed, r.round_index, m.kind, m.path, m.sha256, m.bytes FROM models m"
            " JOIN rounds r ON r.id = m.round_id WHERE r.experiment_id = ? ORDER BY r.seed, r.round_index",
            (experiment_id,))
        return [dict(row) | {"path": self.path.parent / row["path"]} for row in rows]

    def rounds_lacking_models(self, experiment_id: int, seed: int, kind: str) -> set[int]:
        """The finished rounds of a seed with no saved model of this kind."""
        rows = self.db.execute(
            f"SELECT round_index FROM rounds r WHERE experiment_id = ? AND seed = ? AND status = '{FINISHED}' AND"
            " NOT EXISTS (SELECT 1 FROM models m WHERE m.round_id = r.id AND m.kind = ?)", (experiment_id, seed, kind))
        return {int(r[0]) for r in rows}

    def _insert_round(self, experiment_id: int, round_index: int, seed: int, result: RoundResult,
                      measurement: int) -> int:
        if len(result.curves) > len(result.epoch_seconds):
            raise ValueError(f"round {round_index}: {len(result.curves)} epochs of curves but "
                             f"{len(result.epoch_seconds)} timed")
        cur = self.db.execute(
            "INSERT INTO rounds (experiment_id, round_index, seed, status, metrics, device, finished, measurement_id,"
            " code_digest, code_commit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (experiment_id, round_index, seed, result.status, _json(result.metrics), result.device, _now(),
             measurement, result.code_digest, result.code_commit))
        self.db.executemany("INSERT INTO epochs (round_id, epoch, metrics) VALUES (?, ?, ?)",
                            [(cur.lastrowid, i, _json(m)) for i, m in enumerate(result.curves)])
        rows = []
        for split, values in result.scores.items():
            targets = result.targets.get(split)
            labels = targets.tolist() if targets is not None else [None] * len(values)
            rows += [(cur.lastrowid, split, i, float(v), None if t is None else float(t))
                     for i, (v, t) in enumerate(zip(values.tolist(), labels, strict=True))]
        self.db.executemany(
            "INSERT INTO scores (round_id, split, example, score, target) VALUES (?, ?, ?, ?, ?)", rows)
        return int(cur.lastrowid)

    def stored_round_indices(self, experiment_id: int, seed: int, code_digest: str | None = None) -> set[int]:
        """The stored rounds of a seed, finished or diverged (a diverged round is a result: not trained again);
        with `code_digest`, only those that code trained."""
        query = "SELECT round_index FROM rounds WHERE experiment_id = ? AND seed = ?"
        params: list[Any] = [experiment_id, seed]
        if code_digest is not None:
            query += " AND code_digest = ?"
            params.append(code_digest)
        return {int(r[0]) for r in self.db.execute(query, params)}

    def code_versions(self, experiment_id: int) -> list[dict[str, Any]]:
        """The code versions an experiment's stored rounds (finished or diverged) ran with, most rounds first."""
        rows = self.db.execute("SELECT code_digest, code_commit, COUNT(*) AS rounds, MIN(finished) AS first,"
                               " MAX(finished) AS last FROM rounds WHERE experiment_id = ?"
                               " GROUP BY code_digest, code_commit ORDER BY rounds DESC, last DESC",
                               (experiment_id,))
        return [dict(r) for r in rows]

    def delete_rounds(self, experiment_id: int, seed: int) -> int:
        """--fresh: a seed's stored rounds deleted, and then their saved models."""
        with self.transaction():
            files = self._model_paths(experiment_id, seed)
            deleted = self.db.execute("DELETE FROM rounds WHERE experiment_id = ? AND seed = ?",
                                      (experiment_id, seed)).rowcount
            self._drop_unused_measurements(experiment_id)
        self._remove_models((path, "", 0) for path in files)
        return deleted

    def _drop_unused_measurements(self, experiment_id: int) -> None:
        """Measurements none of whose rounds are stored any more (inside the caller's transaction)."""
        self.db.execute("DELETE FROM measurements WHERE experiment_id = ? AND id NOT IN"
                        " (SELECT measurement_id FROM rounds WHERE experiment_id = ?)", (experiment_id, experiment_id))

    def rounds(self, experiment_id: int, seed: int | None = None,
               indices: Iterable[int] | None = None) -> pd.DataFrame:
        """Finished rounds as a table: one row each, its metrics spread into columns, with the measurement of the
        training run it was part of (round_seconds, seconds_per_epoch, peak_memory_mb: a stacked group's, the same
        for each of its rounds; measurement_id and group_size say which rounds share it)."""
        import pandas as pd

        query = ("SELECT r.*, m.seconds AS round_seconds, m.seconds_per_epoch, m.peak_memory_bytes / 1048576.0"
                 " AS peak_memory_mb, json_array_length(m.round_indices) AS group_size FROM rounds r"
                 " JOIN measurements m ON m.id = r.measurement_id"
                 f" WHERE r.experiment_id = ? AND r.status = '{FINISHED}'")
        params: list[Any] = [experiment_id]
        if seed is not None:
            query += " AND r.seed = ?"
            params.append(seed)
        frame = pd.read_sql_query(query + " ORDER BY r.seed, r.round_index", self.db, params=params)
        if indices is not None:
            frame = frame[frame["round_index"].isin(list(indices))]
        metrics = pd.DataFrame([json.loads(m) for m in frame["metrics"]], index=frame.index)
        return pd.concat([frame.drop(columns=["metrics"]), metrics], axis=1)

    # Bulk reads: one query for many experiments or rounds, where one per experiment (a few ms each) would take
    # seconds over thousands. Ids travel as one JSON array (json_each), so no list is too long for SQLite.

    def rounds_of(self, experiment_ids: Iterable[int] | None = None) -> pd.DataFrame:
        """The finished rounds of these experiments (every experiment: None) as one table: what `rounds` gives for
        each, ordered by experiment_id, seed and round_index; a metric one experiment lacks is NaN in its rows."""
        import pandas as pd

        query = ("SELECT r.*, m.seconds AS round_seconds, m.seconds_per_epoch, m.peak_memory_bytes / 1048576.0"
                 " AS peak_memory_mb, json_array_length(m.round_indices) AS group_size FROM rounds r"
                 " JOIN measurements m ON m.id = r.measurement_id"
                 f" WHERE r.status = '{FINISHED}'")
        params: list[Any] = []
        if experiment_ids is not None:
            query += " AND r.experiment_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in experiment_ids]))
        frame = pd.read_sql_query(query + " ORDER BY r.experiment_id, r.seed, r.round_index", self.db, params=params)
        metrics = pd.DataFrame([json.loads(m) for m in frame["metrics"]], index=frame.index)
        return pd.concat([frame.drop(columns=["metrics"]), metrics], axis=1)

    def curves_of(self, round_ids: Iterable[int]) -> pd.DataFrame:
        """The epoch curves of these rounds as one table: round_id, epoch and the metrics, as `curves` per round."""
        import pandas as pd

        frame = pd.read_sql_query("SELECT round_id, epoch, metrics FROM epochs WHERE round_id IN"
                                  " (SELECT value FROM json_each(?)) ORDER BY round_id, epoch", self.db,
                                  params=[json.dumps([int(i) for i in round_ids])])
        metrics = pd.DataFrame([json.loads(m) for m in frame["metrics"]], index=frame.index)
        return pd.concat([frame.drop(columns=["metrics"]), metrics], axis=1)

    def scores_of(self, round_ids: Iterable[int], split: str = "test") -> pd.DataFrame:
        """The per-example scores of these rounds' split as one table: round_id, example, score, target."""
        import pandas as pd

        return pd.read_sql_query("SELECT round_id, example, score, target FROM scores WHERE round_id IN"
                                 " (SELECT value FROM json_each(?)) AND split = ? ORDER BY round_id, example",
                                 self.db, params=[json.dumps([int(i) for i in round_ids]), split])

    def score_splits(self) -> list[str]:
        """The splits whose per-example scores are stored (test, val, …)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT split FROM scores ORDER BY split")]

    def scores(self, round_id: int, split: str = "test") -> pd.DataFrame:
        """The stored per-example scores of one round's split and their targets, indexed by example."""
        import pandas as pd

        frame = pd.read_sql_query("SELECT example, score, target FROM scores WHERE round_id = ? AND split = ?"
                                  " ORDER BY example", self.db, params=(round_id, split))
        return frame.set_index("example")

    def curves(self, round_id: int) -> pd.DataFrame:
        import pandas as pd

        frame = pd.read_sql_query("SELECT epoch, metrics FROM epochs WHERE round_id = ?"
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
        import pandas as pd

        return pd.read_sql_query(
            "SELECT s.id, s.task, s.created, COUNT(c.position) AS cells FROM sweeps s"
            " LEFT JOIN sweep_cells c ON c.sweep_id = s.id GROUP BY s.id ORDER BY s.id", self.db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception (KeyboardInterrupt included). A write the disk or the
    file refuses (full, I/O error, read-only) is a StoreWriteError: one line, the committed rows intact."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db, self.path = db, path

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreWriteError(f"store {self.path}: cannot write ({exc})") from None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.OperationalError as failed:
                exc_type, exc = type(failed), failed
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        if issubclass(exc_type, sqlite3.OperationalError):
            raise StoreWriteError(f"store {self.path}: cannot write ({exc})") from None
