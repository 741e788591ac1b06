"""`python -m benchmarks` (`make bench`): the suite's training against a plain reference loop, in the same run.

For each workload (MNIST baseline and the four Siamese settings; LFW `small` and `koch`) and each device (CPU, and
CUDA when present), the same rounds — same data, initialisation and hyper-parameters from the same seeds — are
trained three ways: the reference loop (benchmarks/reference.py, a per-round DataLoader loop as in the reports),
the suite one round after another, and the suite with all rounds stacked (--parallel-rounds) where the rounds
allow it. Reported: time for the whole experiment, per epoch, training pairs per second, peak memory, mean ± std
test accuracy of each, and the speed-up over the reference. Writes benchmarks/out/bench.json and bench.md.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.reference import reference_round
from suite.datadir import resolve_data_dir
from suite.devices import PeakMemory, resolve_device
from suite.errors import SuiteError
from suite.runner import train_group, train_round
from suite.seeding import RoundSeeds
from tasks.lfw.config import LfwConfig
from tasks.lfw.task import TASK as LFW
from tasks.mnist_pairs.task import TASK as MNIST
from tasks.mnist_pairs.task import MnistConfig

MNIST_SETTINGS = {
    "mnist baseline": {"model": "baseline"},
    "mnist siamese": {},
    "mnist siamese ws": {"w_sharing": True},
    "mnist siamese aux": {"aux_loss": True},
    "mnist siamese ws+aux": {"w_sharing": True, "aux_loss": True},
}
# LFW on a CPU is minutes per epoch: one round of one epoch, no validation split (so rounds stack).
LFW_SETTINGS = {"lfw small": {"model": "small"}, "lfw koch": {"model": "koch"}}


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(task, config, prepared, rounds: int, device: torch.device, train_pairs: int) -> list[dict]:
    """The three ways of training `rounds` rounds; one row each."""
    seeds = [RoundSeeds(0, r) for r in range(rounds)]
    rows = []

    def row(way: str, accuracies: list[float], seconds: float, peak: int) -> dict:
        return {"way": way, "device": str(device), "rounds": rounds, "epochs": config.epochs, "seconds": seconds,
                "epoch_seconds": seconds / rounds / config.epochs,
                "pairs_per_second": train_pairs * config.epochs * rounds / seconds, "peak_memory_mb": peak / 2**20,
                "test_accuracy_mean": statistics.fmean(accuracies),
                "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else float("nan")}

    if device.type == "cpu":  # the reference loop is the reports' CPU/Colab loop; on CUDA it is the same code
        with PeakMemory(device) as peak:
            results, seconds = _timed(lambda: [reference_round(task, config, prepared, s) for s in seeds])
        rows.append(row("reference loop", [r["test_accuracy"] for r in results], seconds, peak.bytes))
    with PeakMemory(device) as peak:
        results, seconds = _timed(lambda: [train_round(task, config, prepared, s, device) for s in seeds])
    rows.append(row("suite", [r.metrics["test_accuracy"] for r in results], seconds, peak.bytes))
    if rounds > 1:
        with PeakMemory(device) as peak:
            results, seconds = _timed(lambda: train_group(task, config, prepared, seeds, device))
        rows.append(row(f"suite --parallel-rounds {rounds}", [r.metrics["test_accuracy"] for r in results],
                        seconds, peak.bytes))
    return rows


def run(data_dir: Path, devices: list[torch.device], rounds: int, epochs: int | None, pairs: int | None,
        lfw: bool, only: str | None = None) -> list[dict]:
    out = []
    digits = MNIST.prepare(MnistConfig(), data_dir, False)
    mnist_settings = {k: v for k, v in MNIST_SETTINGS.items() if only is None or only in k}
    lfw_settings = {k: v for k, v in LFW_SETTINGS.items() if only is None or only in k}
    if not mnist_settings and not (lfw and lfw_settings):
        raise SuiteError(f"--only {only!r} matches no workload; known: {', '.join([*MNIST_SETTINGS, *LFW_SETTINGS])}")
    for device in devices:
        for name, options in mnist_settings.items():
            config = MnistConfig(**options, **({"epochs": epochs} if epochs else {}),
                                 **({"pairs": pairs} if pairs else {}))
            for r in measure(MNIST, config, digits, rounds, device, config.pairs):
                out.append({"workload": name, **r})
                print(_line(out[-1]), file=sys.stderr, flush=True)
        if lfw:
            for name, options in lfw_settings.items():
                config = LfwConfig(**options, epochs=1, val_fraction=0.0)
                prepared = LFW.prepare(config, data_dir, False)
                for r in measure(LFW, config, prepared, 1, device, len(prepared.pairs["DevTrain"])):
                    out.append({"workload": name, **r})
                    print(_line(out[-1]), file=sys.stderr, flush=True)
    for row in out:  # speed-up against the reference loop of the same workload and device, measured in this run
        reference = next((r for r in out if r["workload"] == row["workload"] and r["way"] == "reference loop"
                          and r["device"] == row["device"]), None)
        row["speedup"] = reference["seconds"] / row["seconds"] if reference else None
    return out


def _line(row: dict) -> str:
    return (f"{row['workload']:22} {row['way']:28} {row['device']:6} {row['seconds']:8.1f} s "
            f"acc {100 * row['test_accuracy_mean']:.2f}")


def markdown(rows: list[dict]) -> str:
    lines = ["| workload | training | device | rounds × epochs | experiment (s) | s/epoch | pairs/s | peak MB | "
             "test acc. (%) | speed-up |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        std = "" if r["test_accuracy_std"] != r["test_accuracy_std"] else f" ± {100 * r['test_accuracy_std']:.2f}"
        speedup = "–" if r["speedup"] is None else f"{r['speedup']:.2f}×"
        lines.append(f"| {r['workload']} | {r['way']} | {r['device']} | {r['rounds']} × {r['epochs']} | "
                     f"{r['seconds']:.1f} | {r['epoch_seconds']:.3f} | {r['pairs_per_second']:.0f} | "
                     f"{r['peak_memory_mb']:.0f} | {100 * r['test_accuracy_mean']:.2f}{std} | {speedup} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="data directory (default $SUITE_DATA_DIR, else ./data)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per MNIST experiment (default 10)")
    parser.add_argument("--epochs", type=int, default=None, help="MNIST epochs (default: the task's, 25)")
    parser.add_argument("--pairs", type=int, default=None, help="MNIST pairs per round (default: the task's, 1000)")
    parser.add_argument("--no-lfw", action="store_true", help="skip the LFW workloads (minutes per epoch on CPU)")
    parser.add_argument("--only", default=None, help="only the workloads whose name contains this text")
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even when present")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    if min(args.rounds, args.epochs or 1, args.pairs or 1) < 1:
        raise SuiteError("--rounds, --epochs and --pairs must be >= 1")
    data_dir = resolve_data_dir(args.data_dir)
    cuda = torch.cuda.is_available() and not args.cpu_only
    devices = [resolve_device("cpu")] + ([resolve_device("cuda")] if cuda else [])
    rows = run(data_dir, devices, args.rounds, args.epochs, args.pairs, not args.no_lfw, args.only)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "processor": platform.processor(), "cuda": torch.cuda.get_device_name() if cuda else None}
    (args.out / "bench.json").write_text(json.dumps({"environment": meta, "results": rows}, indent=2))
    table = markdown(rows)
    (args.out / "bench.md").write_text(table)
    print(table)


if __name__ == "__main__":
    try:
        main()
    except SuiteError as error:
        print(f"benchmarks: error: {error}", file=sys.stderr)
        sys.exit(2)
