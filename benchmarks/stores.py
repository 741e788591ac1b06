"""`python -m benchmarks.stores`: how the reading commands scale with the store, on a synthetic large one.

Writes a store of E mnist experiments × R rounds × S test scores through the real Store API (`ensure_experiment`,
then `add_group`: one group of R stacked rounds per experiment, as `suite run mnist` stores them; one round in every
`--diverged-every` experiments diverged), then times `suite results`, `suite compare --task mnist` and
`suite report --task mnist` on it, each as a subprocess of this interpreter, one untimed warm-up run then N timed
runs, and prints the median wall-clock seconds with `suite --help` (start-up) for scale. A store already at the
path with the same E, R and S is reused (writing 2,000 × 10 × 1,000 scores takes minutes); --fresh writes it anew.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.startup import startup_seconds

# The five settings of the reports, each experiment a different learning rate so that every config is distinct.
SETTINGS = ({"model": "baseline"}, {}, {"w_sharing": True}, {"aux_loss": True}, {"w_sharing": True, "aux_loss": True})


def write_store(path: Path, experiments: int, rounds: int, scores: int, epochs: int = 5,
                diverged_every: int = 50, log=print) -> None:
    """A synthetic store at `path` (which must not exist), through Store.ensure_experiment and Store.add_group."""
    import torch

    from suite.core.config import config_dict, config_hash
    from suite.core.records import RoundResult
    from suite.results.store import Store
    from suite_tasks.mnist_pairs.task import MnistConfig

    env = {"code_version": "synthetic", "torch_version": torch.__version__, "python_version": sys.version.split()[0],
           "device": "cpu"}
    rng = random.Random(0)
    store = Store(path)
    targets = torch.tensor([i % 2 for i in range(scores)], dtype=torch.float32)
    start = time.perf_counter()
    for e in range(experiments):
        config = MnistConfig(**SETTINGS[e % len(SETTINGS)], lr=round(1e-3 * (1 + e / experiments), 9))
        experiment = store.ensure_experiment("mnist", config_hash("mnist", config), config_dict(config), env)
        level = 0.80 + 0.15 * rng.random()
        epoch_seconds = [0.05 + 0.01 * rng.random() for _ in range(epochs)]
        results = []
        for r in range(rounds):
            accuracy = min(1.0, max(0.0, rng.gauss(level, 0.015)))
            diverged = diverged_every > 0 and e % diverged_every == diverged_every - 1 and r == rounds - 1
            curves = [{"lr": config.lr, "train_loss": 1 / (k + 1), "train_accuracy": accuracy * (k + 1) / epochs}
                      for k in range(epochs)]
            result = RoundResult(
                metrics={"epochs": float(epochs)} | ({"diverged_epoch": float(epochs)} if diverged else
                                                     {"test_accuracy": accuracy, "test_loss": 1 - accuracy,
                                                      "train_accuracy": accuracy, "train_loss": 0.1}),
                curves=curves, epoch_seconds=epoch_seconds, seconds=sum(epoch_seconds), peak_memory_bytes=2**27,
                device="cpu", diverged_epoch=epochs if diverged else None)
            if not diverged and scores:
                # scores that agree with their target about `accuracy` of the time
                right = torch.rand(scores, generator=torch.Generator().manual_seed(e * rounds + r)) < accuracy
                result.scores = {"test": torch.where(right == (targets > 0.5), 0.75, 0.25)}
                result.targets = {"test": targets}
            results.append(result)
        store.add_group(experiment, 0, list(range(rounds)), results)
        if (e + 1) % max(1, experiments // 10) == 0:
            log(f"  {e + 1}/{experiments} experiments written ({time.perf_counter() - start:.0f} s)")
    store.close()


def _matches(path: Path, experiments: int, rounds: int, scores: int) -> bool:
    """Whether the store at `path` has this many experiments, rounds and scores (a previous run's, reusable)."""
    import sqlite3

    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        counts = db.execute("SELECT (SELECT COUNT(*) FROM experiments), (SELECT COUNT(*) FROM rounds),"
                            " (SELECT MAX(example) + 1 FROM scores WHERE round_id = 1)").fetchone()
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()
    return counts == (experiments, experiments * rounds, scores)


def timed(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall-clock seconds of each of `runs` runs of `python -m suite *args`, after one untimed warm-up; a failing
    run stops the benchmark with its output."""
    command = [sys.executable, "-m", "suite", *args]
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode:
            sys.exit(f"{' '.join(args)}: exit {done.returncode}\n{done.stderr}")
        if i:
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stores", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=2000, help="experiments (default 2000)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per experiment (default 10)")
    parser.add_argument("--scores", type=int, default=1000, help="test scores per round (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (default 3)")
    parser.add_argument("--store", type=Path, default=None,
                        help="where the store is written (default benchmarks/out/store-E-R-S.db)")
    parser.add_argument("--fresh", action="store_true", help="write the store anew even if one matches")
    parser.add_argument("--no-report", action="store_true", help="time only `results` and `compare`")
    args = parser.parse_args(argv)
    if min(args.experiments, args.rounds, args.scores, args.runs) < 1:
        parser.error("--experiments, --rounds, --scores and --runs: must be >= 1")
    path = args.store or Path("benchmarks/out") / f"store-{args.experiments}-{args.rounds}-{args.scores}.db"
    if args.fresh or not path.exists() or not _matches(path, args.experiments, args.rounds, args.scores):
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {path}: {args.experiments} experiments × {args.rounds} rounds × {args.scores} scores")
        start = time.perf_counter()
        write_store(path, args.experiments, args.rounds, args.scores)
        print(f"wrote {path} in {time.perf_counter() - start:.0f} s ({path.stat().st_size / 2**20:.0f} MiB)")
    else:
        print(f"reusing {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    # no data directory: the report's data figures are skipped, as on a machine without the data set
    env = {k: v for k, v in os.environ.items() if k != "SUITE_DATA_DIR"} | {"SUITE_DATA_DIR": "/nonexistent"}
    store = str(path)
    commands = {"suite --help (start-up)": None, "suite results": ["results", "--store", store],
                "suite compare --task mnist": ["compare", "--task", "mnist", "--store", store]}
    with tempfile.TemporaryDirectory() as out:
        if not args.no_report:
            commands["suite report --task mnist"] = ["report", "--task", "mnist", "--store", store, "--out",
                                                     str(Path(out) / "report")]
        for name, command in commands.items():
            times = startup_seconds(args.runs) if command is None else timed(command, args.runs, env)
            print(f"{name}: median {statistics.median(times):.2f} s over {len(times)} runs "
                  f"(min {min(times):.2f} s, max {max(times):.2f} s)", flush=True)


if __name__ == "__main__":
    main()
