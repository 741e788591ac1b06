"""Opening a store, as users meet it: read-only commands never write (a foreign, old, read-only file or folder is
left byte for byte as it was); a run refuses a store it cannot write before it trains, and creates none when its
data or configuration is refused; a full disk while storing is one line, with every committed round kept.

Read-only folders and a full disk are made with real mounts (a read-only or tiny tmpfs) where the tests run as
root, since root writes through file permissions; elsewhere read-only is made with chmod and the full disk skips."""

import contextlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from suite.results.store import SCHEMA_VERSION, Store
from tests.cli_helpers import suite_here
from tests.stored_fixtures import add_experiment

ROOT = os.geteuid() == 0


def _can_mount() -> bool:
    if not ROOT or shutil.which("mount") is None:
        return False
    probe = Path("/tmp/suite-mount-probe")
    probe.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                             capture_output=True).returncode == 0
    if mounted:
        subprocess.run(["umount", str(probe)], check=True)
    return mounted


MOUNT = _can_mount()


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` (holding a store) made read-only for this process: a read-only tmpfs copy mounted over it as
    root, chmod otherwise."""
    if ROOT:
        if not MOUNT:
            pytest.skip("running as root without mount: root writes through permissions, so no read-only folder")
        saved = folder.with_name(folder.name + "-saved")
        shutil.copytree(folder, saved)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], check=True)
        try:
            shutil.copytree(saved, folder, dirs_exist_ok=True)
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def snapshot(folder: Path) -> dict[str, bytes]:
    """The folder's files, but a WAL store's -wal and -shm: SQLite readers share the shared-memory index there
    (reading while a run writes); the database itself must not change."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def one_line_error(result, *words: str) -> None:
    """Exit 2 and one error line, the last on stderr (after a run's progress lines), no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("suite: error: ") and result.stderr.count("suite: error") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def mnist_store(path: Path) -> None:
    store = Store(path)
    add_experiment(store, [0.8, 0.82, 0.81], model="baseline")
    add_experiment(store, [0.85, 0.87, 0.86])
    store.close()


READERS = [("results",), ("show", "1"), ("compare", "--task", "mnist")]


def test_a_foreign_sqlite_file_is_refused_by_every_command_and_left_as_it_was(tmp_path, fake_mnist):
    folder = tmp_path / "theirs"
    folder.mkdir()
    db = sqlite3.connect(folder / "other.db")  # another project's database, with an "experiments" table
    db.executescript("CREATE TABLE experiments (id INTEGER PRIMARY KEY, name TEXT);"
                     "INSERT INTO experiments (name) VALUES ('theirs'); PRAGMA user_version = 3;")
    db.close()
    before = snapshot(folder)
    store = str(folder / "other.db")
    for args in [*READERS, ("report", "--task", "mnist", "--out", str(tmp_path / "out")),
                 ("run", "mnist", "--rounds", "1", "--epochs", "1", "--data-dir", str(fake_mnist))]:
        one_line_error(suite_here(*args, "--store", store, cwd=tmp_path), "not a suite results store")
        assert snapshot(folder) == before, args


def test_reading_an_older_store_upgrades_a_private_copy_and_leaves_the_file_unchanged(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    mnist_store(folder / "r.db")
    old = sqlite3.connect(folder / "r.db")  # what version 5 wrote: no code columns
    old.executescript("ALTER TABLE rounds DROP COLUMN code_digest; ALTER TABLE rounds DROP COLUMN code_commit;"
                      "PRAGMA user_version = 5;")
    old.close()
    before = snapshot(folder)
    for args in READERS:
        result = suite_here(*args, "--store", str(folder / "r.db"), cwd=tmp_path, env={"COLUMNS": "200"})
        assert result.returncode == 0, result.stderr
    assert snapshot(folder) == before
    store = Store(folder / "r.db")  # a writing command upgrades it in place
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reading_commands_work_in_a_read_only_folder_and_a_run_is_refused_before_training(tmp_path, fake_mnist):
    folder = tmp_path / "shared"
    folder.mkdir()
    mnist_store(folder / "r.db")
    before = snapshot(folder)
    with read_only(folder):
        for args in READERS:
            result = suite_here(*args, "--store", str(folder / "r.db"), cwd=tmp_path, env={"COLUMNS": "200"})
            assert result.returncode == 0, result.stderr
            assert "81.00" in result.stdout
        run = suite_here("run", "mnist", "--rounds", "1", "--epochs", "1", "--quiet", "--data-dir", str(fake_mnist),
                         "--store", str(folder / "r.db"), cwd=tmp_path)
        one_line_error(run, "read-only", "r.db")
        assert "round 1/1" not in run.stderr  # refused before anything trained
        fresh = suite_here("run", "mnist", "--rounds", "1", "--store", str(folder / "new" / "r.db"),
                           "--data-dir", str(fake_mnist), cwd=tmp_path)
        one_line_error(fresh, "cannot create it", "not writable")
        assert snapshot(folder) == before


@pytest.mark.parametrize("bad", [["--data-dir", "{empty}"], ["--lr", "-1"], ["--rounds", "0"]])
def test_a_run_refused_by_its_data_or_configuration_creates_no_store(tmp_path, bad):
    (tmp_path / "empty").mkdir()
    args = [a.format(empty=tmp_path / "empty") for a in bad]
    data = [] if "--data-dir" in args else ["--data-dir", str(tmp_path / "empty")]
    result = suite_here("run", "mnist", "--epochs", "1", *data, *args, "--store", str(tmp_path / "s" / "r.db"),
                        cwd=tmp_path)
    one_line_error(result)
    assert not (tmp_path / "s").exists()


@pytest.mark.slow  # two runs of the real command
@pytest.mark.skipif(not MOUNT, reason="a full disk needs a tiny tmpfs: root and mount")
def test_a_full_disk_while_storing_is_one_line_and_every_stored_round_is_kept(tmp_path, fake_mnist):
    with tmpfs(tmp_path / "tiny", "160k") as tiny:
        args = ["run", "mnist", "--rounds", "8", "--parallel-rounds", "1", "--epochs", "1", "--pairs", "30",
                "--quiet", "--device", "cpu",
                "--data-dir", str(fake_mnist)]
        result = suite_here(*args, "--store", str(tiny / "r.db"), cwd=tmp_path)
        one_line_error(result, f"store {tiny / 'r.db'}", "full", "round(s) of this command are kept")
        kept = int(result.stderr.splitlines()[-1].split("; ")[1].split()[0])
        check = sqlite3.connect(tiny / "r.db")
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert check.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == kept > 0
        moved = sqlite3.connect(tmp_path / "r.db")  # to a disk with room: the store with its WAL's rows
        check.backup(moved)
        moved.close()
        check.close()
    resumed = suite_here(*args, "--store", str(tmp_path / "r.db"), cwd=tmp_path, env={"COLUMNS": "200"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"{kept} reused from the store" in " ".join(resumed.stdout.split())
