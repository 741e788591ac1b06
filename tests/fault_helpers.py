"""What the fault-injection tests (tests/suite/test_faults.py) share: a fixed copy of the code for real `suite`
processes with the toy task registered, a CLI process that can be killed at a chosen point of its output, the
processes it left behind, and the store's invariants after a crash.

The processes of one test run a copy of suite/, suite_tasks/ and the toy task taken as the test starts (`code_copy`):
a round records a digest of the code that trained it and a rerun trains again the rounds of other code, so an
edit of the checkout between a kill and its rerun would otherwise look like a resume that retrains. The toy task
is not installed, so the copy also holds a tiny distribution (a .dist-info with entry points only) registering it
under `suite.tasks`, the group the command line discovers tasks from. Nothing under suite/ is touched.

Imported by the processes themselves (TracedToy): it imports only the toy task at the top.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.toy_task import ToyTask

REPO = Path(__file__).resolve().parent.parent
MARK = "SUITE_FAULT_MARK"  # every process a test starts carries it, and so every process those start
TRACE = "SUITE_FAULT_TRACE"  # where TracedToy appends a line per round attempt
COPIED = ("suite", "suite_tasks", "tests/__init__.py", "tests/toy_task.py", "tests/fault_helpers.py")


def code_copy(tmp_path: Path) -> Path:
    """suite/, suite_tasks/ and the toy tasks copied under tmp_path (once), with `toy` and `traced-toy` registered as
    installed suite tasks: the directory to put first on a process's PYTHONPATH."""
    root = tmp_path / "code"
    if root.exists():
        return root
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    info = root / "suite_fault_tests-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: suite-fault-tests\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[suite.tasks]\ntoy = tests.toy_task:TASK\n"
                                           "traced-toy = tests.fault_helpers:TRACED\n")
    return root


def python_path(tmp_path: Path) -> str:
    """PYTHONPATH with the code copy ahead of what was there (ahead of the checkout's editable install too, whose
    finder Python consults after the path)."""
    return os.pathsep.join([str(code_copy(tmp_path)), *filter(None, [os.environ.get("PYTHONPATH")])])


def cli_environment(tmp_path: Path, mark: str) -> dict[str, str]:
    """The environment of a `suite` child (as tests.cli_helpers builds it) running the code copy, its data dir an
    empty directory (the toy task reads no files), marked so that its descendants can be found."""
    from tests.cli_helpers import _environment

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    # One thread per process: the toy models gain nothing from more, and on a busy machine threads that spin
    # waiting for each other make a round many times slower.
    return _environment(data, {"PYTHONPATH": python_path(tmp_path), MARK: mark, "COLUMNS": "200",
                               "OMP_NUM_THREADS": "1"})


class Cli:
    """`python -m suite ARGS` started in the background, its stderr read line by line as it comes (with stdout
    drained), so a test can kill it at a point of its progress."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "suite", *args], cwd=cwd, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.out: list[str] = []
        self.changed = threading.Condition()
        self.readers = [threading.Thread(target=self._read, args=(self.process.stderr, self.lines), daemon=True),
                        threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            with self.changed:
                into.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_until(self, seen: Callable[[list[str]], bool], timeout: float) -> bool:
        """Until `seen(stderr lines so far)`, the process ends or `timeout` passes; True when seen."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not seen(self.lines):
                if self.process.poll() is not None or time.monotonic() >= deadline:
                    return seen(self.lines)
                self.changed.wait(0.05)
            return True

    def kill(self) -> int | None:
        """SIGKILL, no clean-up of any kind; the exit status it had if it had already ended by itself."""
        before = self.process.poll()
        if before is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)
        self.join()
        return before

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self.join()
        return code

    def join(self) -> None:
        for reader in self.readers:
            reader.join(timeout=10)

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)


ROUND_LINE = re.compile(r"^round (\d+)/\d+ finished")
EXPERIMENT_LINE = re.compile(r"^experiment (\d+): ")


def finished_lines(lines: list[str]) -> int:
    return sum(1 for line in lines if ROUND_LINE.match(line))


def reported_finished(lines: list[str]) -> set[tuple[int, int]]:
    """(experiment id, round index) of every round a run's plain log said was finished. A log line names the
    round only; its experiment is the one last announced, which holds while experiments train one after
    another (inline) or there is only one."""
    done, experiment = set(), None
    for line in lines:
        if announced := EXPERIMENT_LINE.match(line):
            experiment = int(announced.group(1))
        elif (finished := ROUND_LINE.match(line)) and experiment is not None:
            done.add((experiment, int(finished.group(1)) - 1))
    return done


# --------------------------------------------------------------------------------------------------- processes


def _state(pid: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def marked_processes(mark: str) -> list[int]:
    """Live (not zombie) processes whose environment carries MARK=mark: what a test's child started, whoever is
    their parent now (an orphan is re-parented, so the parent cannot find it)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            entries = environ.read_bytes().split(b"\0")
        except OSError:  # ended meanwhile, or not ours
            continue
        if needle in entries and _state(environ.parent.name) not in (None, "Z"):
            found.append(int(environ.parent.name))
    return found


def wait_until_gone(mark: str, timeout: float) -> list[int]:
    """The marked processes still alive after `timeout` (none, once they have all exited)."""
    deadline = time.monotonic() + timeout
    while (alive := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


# -------------------------------------------------------------------------------------------------- the store

Key = tuple[int, int, int]  # (experiment id, round index, seed)


def _read(path: Path) -> tuple[list | None, dict]:
    """The rounds (with their numbers of epochs and test scores) and measurements of a store, after checking the
    database is sound and no round is stored twice; (None, {}) for a store killed before its schema existed."""
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "rounds" not in tables:  # killed while creating the schema: that transaction left nothing
            assert not tables, tables
            return None, {}
        twice = db.execute("SELECT experiment_id, round_index, seed, COUNT(*) FROM rounds"
                           " GROUP BY experiment_id, round_index, seed HAVING COUNT(*) > 1").fetchall()
        assert twice == [], f"stored twice: {twice}"
        rows = db.execute("SELECT r.id, r.experiment_id, r.round_index, r.seed, r.metrics, r.measurement_id,"
                          " (SELECT COUNT(*) FROM epochs e WHERE e.round_id = r.id),"
                          " (SELECT COUNT(*) FROM scores s WHERE s.round_id = r.id AND s.split = 'test')"
                          " FROM rounds r").fetchall()
        measurements = {m: (e, s, json.loads(indices)) for m, e, s, indices in db.execute(
            "SELECT id, experiment_id, seed, round_indices FROM measurements")}
    return rows, measurements


def check_store(path: Path, epochs: int, pairs: int) -> dict[Key, tuple]:
    """The invariants a store keeps whenever its writer dies: the database is sound, each (experiment, round,
    seed) is stored at most once and each stored round is whole (its curve of `epochs` epochs, its `pairs` test
    scores, its measurement, shared only with the rounds of its group, all stored). Returns every stored round:
    key → (row id, measurement id, metrics), to compare with later states. No file: nothing stored, which is
    fine (a process killed before it opened its store).

    Read from a copy of the database and its write-ahead log, so that the store itself stays as the crash left
    it (opening it would recover and checkpoint the log) for the next run to find."""
    if not path.exists():
        return {}
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        copy = Path(scratch) / path.name
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        rows, measurements = _read(copy)
    if rows is None:
        return {}
    stored = {}
    for round_id, experiment, index, seed, metrics, measurement, curve, scores in rows:
        key = (experiment, index, seed)
        assert curve == epochs, f"round {key}: {curve} epochs of curve stored, expected {epochs}"
        assert scores == pairs, f"round {key}: {scores} test scores stored, expected {pairs}"
        assert json.loads(metrics)["epochs"] == epochs, key
        assert measurement in measurements, f"round {key}: no measurement"
        assert measurements[measurement][:2] == (experiment, seed), key
        assert index in measurements[measurement][2], f"round {key}: not in its measurement's group"
        stored[key] = (round_id, measurement, metrics)
    for measurement, (_, _, indices) in measurements.items():
        members = {k[1] for k, v in stored.items() if v[1] == measurement}
        # a group is written in one transaction: all its rounds, or nothing (not even the measurement)
        assert members == set(indices), f"measurement {measurement} of rounds {indices} has rounds {members}"
    return stored


# ---------------------------------------------------------------------------------------------- the traced task


def _node() -> str:
    """The Ray node this process is a worker of ('local' outside Ray)."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return "local"


class TracedToy(ToyTask):
    """The toy task, telling where each round attempt ran: a line "lr round node pid" in $SUITE_FAULT_TRACE/attempts
    as the attempt starts (its data is drawn first), so a test can see which cells started on which node."""

    name = "traced-toy"

    def round_data(self, prepared, config, generator, round_index=0):
        if trace := os.environ.get(TRACE):
            with open(Path(trace) / "attempts", "a") as log:  # O_APPEND: one short line, whole, per writer
                log.write(f"{config.lr} {round_index} {_node()} {os.getpid()}\n")
        return super().round_data(prepared, config, generator, round_index)


TRACED = TracedToy()


def attempts(trace: Path) -> list[tuple[float, int, str, int]]:
    """(lr, round index, node id, pid) of every attempt so far, in the order they started."""
    log = trace / "attempts"
    if not log.exists():
        return []
    return [(float(lr), int(index), node, int(pid))
            for lr, index, node, pid in (line.split() for line in log.read_text().splitlines() if line.strip())]
