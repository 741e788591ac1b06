"""Fault injection against real processes and a real SQLite store (issue 23, item 9).

`suite` processes on the toy task (tests/fault_helpers.py runs them on a copy of the code with it registered) are
killed with SIGKILL at seeded random points, several times over one store, running inline, a sweep, and local
worker processes; one of those workers is killed under its driver; a sweep on a two-node Ray cluster loses a node
while it trains. After every fault the store must be sound, hold each
round at most once and each stored round whole, have lost nothing it held before nor anything the run said was
finished; rerunning the same command must then train exactly the missing rounds.

Existing tests this does not repeat: one SIGINT and one SIGKILL of a driver with a single resume
(test_runner.py, test_sweep.py), worker processes outliving a killed driver (test_parallel.py, whose check this
generalises to every process the driver started, found by an environment mark instead of by parent), two
concurrent writers (test_runner.py) and a Ray task that raises (test_sweep.py).
"""

import contextlib
import os
import random
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from tests.cli_helpers import suite
from tests.fault_helpers import (
    TRACE,
    Cli,
    attempts,
    check_store,
    cli_environment,
    command_line,
    finished_lines,
    marked_processes,
    python_path,
    reported_finished,
    wait_until_gone,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads processes from /proc (Linux)")

EPOCHS, PAIRS = 30, 100
# A round of 30 epochs × 10 steps takes about half a second on a CPU: long enough to be killed in, short enough
# for several kills and a resume within seconds after Python and torch have started.
SHAPE = ["--pairs", str(PAIRS), "--epochs", str(EPOCHS), "--batch-size", "10", "--quiet", "--device", "cpu"]


def crash_and_resume(tmp_path: Path, args: list[str], expected: set[tuple[int, int, int]], kills: int,
                     seed: int) -> tuple:
    """Run `suite ARGS` `kills` times, each killed (SIGKILL) at a seeded random point, checking the store and
    that no process it started outlived it after each kill; then once more to the end. Returns (the completing
    run, the rounds stored before it, how many processes each kill hit: the driver and what it had started)."""
    rng = random.Random(seed)
    mark = uuid.uuid4().hex
    env = cli_environment(tmp_path, mark)
    store = tmp_path / "r.db"
    kept: dict = {}  # every round stored so far: later kills and reruns must leave each exactly as it is
    hit = []
    for attempt in range(kills):
        cli = Cli(args, tmp_path, env)
        if attempt == 0:
            # From launch: in start-up (imports, creating or opening the store, planning) or in the first group,
            # which trains slowest (torch warms up); at the latest as that group is reported finished.
            delay = rng.uniform(0.5, 8.0)
            cli.wait_until(lambda lines: finished_lines(lines) >= 1, delay)
            where = f"up to {delay:.1f}s after launch"
        else:
            # In training: after the first group or two are reported finished, plus up to about a group's time
            # (so between groups as well as in the middle of one, rarely in its commit).
            after, delay = rng.randint(1, 2), rng.uniform(0.0, 0.6)
            reached = cli.wait_until(lambda lines, after=after: finished_lines(lines) >= after, timeout=180)
            assert reached, f"kill {attempt}: the run never reached its kill point\n{cli.stderr}"
            time.sleep(delay)
            where = f"{delay:.2f}s after {after} round(s) reported finished"
        elapsed = time.monotonic() - cli.started
        hit.append(len(marked_processes(mark)))
        ended = cli.kill()
        assert ended is None, f"kill {attempt} ({where}) came after the run ended ({ended}): nothing was injected"
        left = wait_until_gone(mark, timeout=30)  # a worker notices its driver is gone within a second or so
        assert not left, f"kill {attempt}: processes outlived their driver: {[command_line(p) for p in left]}"
        stored = check_store(store, EPOCHS, PAIRS)
        assert set(stored) <= expected
        assert {k: stored.get(k) for k in kept} == kept, f"kill {attempt}: a stored round was lost or replaced"
        assert reported_finished(cli.lines) <= {(e, i) for e, i, _ in stored}, \
            f"kill {attempt}: a round reported finished is not in the store\n{cli.stderr}"
        print(f"kill {attempt}: {where} ({elapsed:.1f}s in, {hit[-1]} process(es)), "
              f"{len(stored)}/{len(expected)} rounds stored")
        kept = stored
    done = suite(*args, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    stored = check_store(store, EPOCHS, PAIRS)
    assert set(stored) == expected
    assert {k: stored[k] for k in kept} == kept, "the rerun trained again a round that was stored"
    assert finished_lines(done.stderr.splitlines()) == len(expected) - len(kept), done.stderr
    assert not wait_until_gone(mark, timeout=30)
    return done, kept, hit


@pytest.mark.slow  # four `suite` processes
def test_a_run_killed_at_random_points_keeps_whole_groups_and_resumes(tmp_path):
    # Stacked pairs of rounds: a group is stored in one transaction, so a kill must never leave half of one.
    args = ["run", "toy", "--rounds", "10", "--parallel-rounds", "2", *SHAPE, "--store", str(tmp_path / "r.db")]
    done, kept, _ = crash_and_resume(tmp_path, args, {(1, i, 0) for i in range(10)}, kills=3, seed=2301)
    assert (f", {len(kept)} reused from the store" in done.stderr) == bool(kept), done.stderr


@pytest.mark.slow  # three `suite` processes
def test_a_sweep_killed_at_random_points_resumes_every_cell(tmp_path):
    args = ["sweep", "toy", "--grid", "lr=0.01,0.02", "--rounds", "5", "--parallel-rounds", "1", *SHAPE,
            "--store", str(tmp_path / "r.db")]
    expected = {(e, i, 0) for e in (1, 2) for i in range(5)}
    done, kept, _ = crash_and_resume(tmp_path, args, expected, kills=2, seed=2302)
    assert f"({len(expected) - len(kept)} rounds trained, {len(kept)} reused)" in done.stdout, done.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "r.db")) as db:  # one sweep of the two cells, once
        assert db.execute("SELECT sweep_id, experiment_id FROM sweep_cells ORDER BY position").fetchall() == [
            (1, 1), (1, 2)]


@pytest.mark.slow  # three `suite` processes, each with two spawned workers
def test_worker_processes_killed_with_their_driver_leave_nothing_behind_and_resume(tmp_path):
    # crash_and_resume checks after every kill that no process the driver started (workers, their resource
    # tracker) is left: here there are some, at whatever point the driver died (even while they start).
    args = ["run", "toy", "--executor", "process", "--workers", "2", "--rounds", "10", "--parallel-rounds", "1",
            *SHAPE, "--store", str(tmp_path / "r.db")]
    _, _, hit = crash_and_resume(tmp_path, args, {(1, i, 0) for i in range(10)}, kills=2, seed=2303)
    assert hit[-1] >= 3, hit  # the kill in training found the driver and both workers (the check is not empty)


@pytest.mark.slow  # two `suite` processes, each with two spawned workers
def test_a_worker_killed_mid_run_stops_the_run_cleanly_and_the_rerun_completes(tmp_path):
    rng = random.Random(2304)
    mark = uuid.uuid4().hex
    env = cli_environment(tmp_path, mark)
    store = tmp_path / "r.db"
    args = ["run", "toy", "--executor", "process", "--workers", "2", "--rounds", "10", "--parallel-rounds", "1",
            *SHAPE, "--store", str(store)]
    expected = {(1, i, 0) for i in range(10)}
    cli = Cli(args, tmp_path, env)
    assert cli.wait_until(lambda lines: finished_lines(lines) >= 2, timeout=180), cli.stderr
    time.sleep(rng.uniform(0.0, 0.6))
    workers = sorted(p for p in marked_processes(mark) if "spawn_main" in command_line(p))
    assert len(workers) == 2, [command_line(p) for p in marked_processes(mark)]
    os.kill(rng.choice(workers), signal.SIGKILL)
    code = cli.finish(timeout=60)  # the pool notices at once: the run must end, not wait for the lost round
    assert code == 2, cli.stderr
    last = cli.lines[-1] if cli.lines else ""
    assert "Traceback" not in cli.stderr and last.startswith("suite: error: a worker process died"), cli.stderr
    assert "rerun to resume" in last
    assert not wait_until_gone(mark, timeout=30)  # the other worker stopped with the run
    stored = check_store(store, EPOCHS, PAIRS)
    assert 2 <= len(stored) < len(expected) and set(stored) <= expected
    assert reported_finished(cli.lines) <= {(e, i) for e, i, _ in stored}
    done = suite(*args, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    final = check_store(store, EPOCHS, PAIRS)
    assert set(final) == expected and {k: final[k] for k in stored} == stored
    assert finished_lines(done.stderr.splitlines()) == len(expected) - len(stored)


# ----------------------------------------------------------------------------------- Ray: a node lost mid-sweep


@pytest.mark.slow  # a two-node Ray cluster and a `suite` process: tens of seconds
def test_a_sweep_on_a_ray_cluster_survives_losing_a_node(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]')")
    from ray.cluster_utils import Cluster

    trace = tmp_path / "trace"
    trace.mkdir()
    # The nodes' workers inherit this environment (as in test_sweep.py's local Ray): they import the task from
    # the code copy, and say where each round attempt ran.
    monkeypatch.setenv("PYTHONPATH", python_path(tmp_path))
    monkeypatch.setenv(TRACE, str(trace))
    store = tmp_path / "r.db"
    args = ["sweep", "traced-toy", "--grid", "lr=0.01,0.02", "--rounds", "3", "--parallel-rounds", "1", *SHAPE,
            "--store", str(store), "--executor", "ray", "--max-retries", "2"]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cli = None
    try:
        _forget_cluster_address()
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        cli = Cli([*args, "--ray-address", cluster.address], tmp_path, cli_environment(tmp_path, uuid.uuid4().hex))
        deadline = time.monotonic() + 120
        while not any(node == worker.node_id for _, _, node, _ in attempts(trace)):  # a cell started there
            assert cli.process.poll() is None and time.monotonic() < deadline, \
                f"no round started on the worker node\n{cli.stderr}"
            time.sleep(0.05)
        cluster.remove_node(worker)
        print(f"worker node removed {time.monotonic() - cli.started:.1f}s after launch")
        code = cli.finish(timeout=180)
    finally:
        if cli is not None and cli.process.poll() is None:
            cli.kill()
        cluster.shutdown()
    assert code == 0, cli.stderr
    assert "Traceback" not in cli.stderr
    assert "ray: 6 task(s) for 6 round(s) submitted to 2 CPU(s)" in cli.stderr  # both nodes were there
    assert set(check_store(store, EPOCHS, PAIRS)) == {(e, i, 0) for e in (1, 2) for i in range(3)}
    assert "(6 rounds trained, 0 reused)" in cli.stdout, cli.stdout
    tried: dict[tuple[float, int], list[str]] = {}
    for lr, index, node, _ in attempts(trace):
        tried.setdefault((lr, index), []).append(node)
    print("attempts (cell lr, round): nodes", {k: [n[:8] for n in v] for k, v in tried.items()})
    assert len(tried) == 6 and all(len(nodes) <= 3 for nodes in tried.values()), tried  # 1 + --max-retries
    # What proves the node was lost under a running round: a round started there was trained again elsewhere.
    assert any(worker.node_id in nodes and nodes[-1] != worker.node_id for nodes in tried.values()), tried


def _forget_cluster_address() -> None:
    """Cluster() records its address as this machine's current Ray cluster, where any ray.init() without an
    address (another test's local Ray) would join it; this test passes the address explicitly."""
    try:
        from ray._common.utils import reset_ray_address
    except ImportError:  # a private helper: without it, only the isolation from other Ray users is lost
        return
    reset_ray_address()
