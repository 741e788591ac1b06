"""`suite export`: the tables of suite.results.tables written as CSV, JSON lines or Parquet files, one per table.
A file is written beside its final name and renamed into place, so a full disk or a kill never leaves half a file
where a whole one was."""

import importlib.util
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from suite.core.errors import SuiteError
from suite.core.files import write_whole
from suite.results import tables
from suite.results.store import Store

FORMATS = ("csv", "jsonl", "parquet")
TABLES = ("experiments", "rounds", "epochs", "scores")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise SuiteError(f"--format: {fmt!r} is not one of: {', '.join(FORMATS)}")
    if fmt == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise SuiteError("--format parquet needs pyarrow: pip install -e '.[parquet]'")
    return fmt


def parse_tables(text: str) -> list[str]:
    """`--tables rounds,epochs` → the names, in the order given, each one of TABLES."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TABLES]
    if unknown or not names:
        raise SuiteError(f"--tables: {', '.join(unknown) or repr(text)} is not a table; choose from: "
                         f"{', '.join(TABLES)} (comma-separated)")
    return list(dict.fromkeys(names))


def table(store: Store, name: str, ids: list[int], split: str) -> pd.DataFrame:
    if name == "experiments":
        return tables.experiments_table(store, ids)
    if name == "rounds":
        return tables.rounds_table(store, ids)
    if name == "epochs":
        return tables.epochs_table(store, ids)
    return tables.scores_table(store, ids, split)


def _write(frame: pd.DataFrame, target, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(target, index=False)
    elif fmt == "jsonl":
        frame.to_json(target, orient="records", lines=True)
    else:
        frame.to_parquet(target, index=False)


def write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """The frame at path, whole or not at all."""
    write_whole(path, lambda partial: _write(frame, partial, fmt))


def export(store: Store, out: Path | None, fmt: str, names: list[str], ids: Iterable[int] | None = None,
           task: str | None = None, where: Mapping[str, Any] | Iterable[str] | None = None,
           split: str = "test") -> list[tuple[Path | None, int]]:
    """Each named table of the chosen experiments as out/<table>.<fmt> (out None: the one table on stdout).
    Returns (path, rows) per table written."""
    check_format(fmt)
    chosen_ids = tables.chosen_ids(store, ids, task, where)
    if "scores" in names and split not in store.score_splits():
        raise SuiteError(f"--split {split!r}: no scores of that split in {store.path}; stored: "
                         f"{', '.join(store.score_splits()) or 'none'}")
    if out is None:
        if len(names) != 1 or fmt == "parquet":
            raise SuiteError("--out -: writes one table (--tables NAME) as csv or jsonl to stdout")
        frame = table(store, names[0], chosen_ids, split)
        _write(frame, sys.stdout, fmt)
        return [(None, len(frame))]
    if out.exists() and not out.is_dir():
        raise SuiteError(f"--out {out}: is a file; exports go into a folder, one file per table")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        frame = table(store, name, chosen_ids, split)
        path = out / f"{name}.{fmt}"
        write_table(frame, path, fmt)
        written.append((path, len(frame)))
    return written
