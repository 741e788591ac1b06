"""`python -m benchmarks` (`make bench`): the suite's training against a plain reference loop, in the same run.

For each workload (MNIST baseline and the four Siamese settings; LFW `small` and `koch`) and each device (CPU, and
CUDA when present), the same rounds — same data, initialisation and hyper-parameters from the same seeds — are
trained by the reference loop (benchmarks/reference.py, a per-round DataLoader loop as in the reports), by the suite
one round after another, and as plain `suite run` trains them (rounds stacked for small models, bf16 on a GPU and on
a CPU with native bf16) where that differs; with --workers N also in N worker processes, with --compile (LFW on
CUDA) also compiled. Reported: time for the whole experiment, the median epoch, training pairs per second, achieved
TFLOP/s in the median epoch (training FLOPs counted by torch's FlopCounterMode) and its share of the GPU's bf16
peak, peak memory, mean ± std test accuracy, and the speed-up over the reference loop of the same workload and
device. Writes benchmarks/out/bench.json and bench.md; with --publish FILE also the table with the command, code
version and machine that produced it (`make bench`: docs/generated/bench.md, which docs/performance.md includes, so
the published numbers are only ever this program's output).
"""

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.reference import reference_round
from benchmarks.startup import startup_seconds
from suite.core.datadir import resolve_data_dir
from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.environment import code_version
from suite.execution.executors import Context, Job, Processes
from suite.execution.runner import stack_size
from suite.training.devices import PLAIN, PeakMemory, resolve_acceleration, resolve_device
from suite.training.rounds import train_rounds
from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.task import TASK as LFW
from suite_tasks.mnist_pairs.task import TASK as MNIST
from suite_tasks.mnist_pairs.task import MnistConfig

MNIST_SETTINGS = {
    "mnist baseline": {"model": "baseline"},
    "mnist siamese": {},
    "mnist siamese ws": {"w_sharing": True},
    "mnist siamese aux": {"aux_loss": True},
    "mnist siamese ws+aux": {"w_sharing": True, "aux_loss": True},
}
# LFW on a CPU is minutes per epoch: one round of one epoch, no validation split (so rounds stack).
LFW_SETTINGS = {"lfw small": {"model": "small"}, "lfw koch": {"model": "koch"}}


# Dense bf16 tensor-core peaks from NVIDIA's data sheets (TFLOP/s), matched against the device name; the fraction
# of peak is printed only for GPUs listed here.
GPU_PEAK_TFLOPS = {"H200": 989.4, "H100 PCIe": 756.0, "H100": 989.4, "A100": 312.0, "L4": 121.0}


def gpu_peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in GPU_PEAK_TFLOPS.items() if key in name), None)


def training_flops_per_pair(task, config, prepared) -> float:
    """FLOPs of one training step (forward, loss, backward) per pair, counted by torch's FlopCounterMode on a
    batch of 4 pairs: matmuls and convolutions, the work that bounds throughput."""
    splits = task.round_data(prepared, config, RoundSeeds(0, 0).generator("data"), 0)
    batch = {k: v[:4] for k, v in splits["train"].items()}
    model = task.build_model(config)
    with FlopCounterMode(display=False) as counter:
        task.loss(config, model(task.transform(config, batch["x"], None)), batch).backward()
    return counter.get_total_flops() / 4


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(task, config, prepared, rounds: int, device: torch.device, train_pairs: int, data_dir: Path,
            workers: int = 1, repeat: int = 1, compile: bool = False) -> list[dict]:
    """The same `rounds` rounds trained by the reference loop, by the suite one round at a time, and by the suite
    as `suite run` trains them by default (stacked rounds for small models, bf16 where native); one row each;
    with `compile`, also as `suite run --compile` does (one round at a time).
    With `repeat` > 1 the ways take turns (A B C A B C …) and each row gives its median time, so a machine whose
    speed drifts over minutes slows every way alike."""
    seeds = [RoundSeeds(0, r) for r in range(rounds)]
    accel = resolve_acceleration("auto", False, device)
    stacked = stack_size(task, None, rounds, 1, accel)
    # FLOPs of one epoch of one round: over the median epoch's seconds, the steady training rate
    epoch_flops = training_flops_per_pair(task, config, prepared) * train_pairs
    peak_tflops = gpu_peak_tflops(device)

    def reference() -> tuple[list[float], list[float]]:
        results = [reference_round(task, config, prepared, s, device) for s in seeds]
        return [r["test_accuracy"] for r in results], [e for r in results for e in r["epoch_seconds"]]

    def suite(train):
        def run_it() -> tuple[list[float], list[float]]:
            results = train()
            # Stacked rounds carry their group's one measurement (the same list): a round's share of each epoch
            # is the group's epoch time over the group's size.
            groups = Counter(id(r.epoch_seconds) for r in results)
            timed = {id(r.epoch_seconds): r.epoch_seconds for r in results}
            return ([r.metrics["test_accuracy"] for r in results],
                    [e / groups[key] for key, epochs in timed.items() for e in epochs])
        return run_it

    ways = {"reference loop": reference,
            "suite, one round at a time": suite(lambda: [train_rounds(task, config, prepared, [s], device)[0]
                                                         for s in seeds])}
    if stacked > 1 or accel != PLAIN:
        label = f"suite run (default: {accel.precision}" + (f", {stacked} rounds stacked)" if stacked > 1 else ")")
        ways[label] = suite(lambda: [r for i in range(0, rounds, stacked)
                                     for r in train_rounds(task, config, prepared, seeds[i:i + stacked], device,
                                                           accel=accel)])
    if compile:
        compiled = resolve_acceleration("auto", True, device)
        ways[f"suite run --compile ({compiled.precision})"] = suite(
            lambda: [train_rounds(task, config, prepared, [s], device, accel=compiled)[0] for s in seeds])
    if workers > 1 and device.type == "cpu":
        size = stack_size(task, None, rounds, workers, accel)
        ways[f"suite run --workers {workers}"] = suite(lambda: _in_workers(task, config, prepared, rounds, data_dir,
                                                                           workers, size, accel))
    runs: dict[str, list] = {way: [] for way in ways}
    for _ in range(repeat):
        for way, train in ways.items():
            with PeakMemory(device) as peak:
                (accuracies, epoch_seconds), seconds = _timed(train)
            runs[way].append((seconds, accuracies, epoch_seconds, peak.bytes))

    def row(way: str) -> dict:
        seconds = statistics.median(r[0] for r in runs[way])
        accuracies = runs[way][0][1]  # the same rounds each time: the first run's results
        # the median epoch: steady state, without the first epoch's warm-up (allocator, cuDNN autotuning)
        epoch_seconds = statistics.median(e for r in runs[way] for e in r[2])
        tflops = epoch_flops / epoch_seconds / 1e12
        return {"way": way, "device": str(device), "rounds": rounds, "epochs": config.epochs, "seconds": seconds,
                "runs_seconds": [r[0] for r in runs[way]], "epoch_seconds": epoch_seconds,
                "pairs_per_second": train_pairs * config.epochs * rounds / seconds,
                "peak_memory_mb": max(r[3] for r in runs[way]) / 2**20,
                "tflops": tflops, "peak_fraction": tflops / peak_tflops if peak_tflops else None,
                "test_accuracy_mean": statistics.fmean(accuracies),
                "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else float("nan")}

    return [row(way) for way in ways]


def _in_workers(task, config, prepared, rounds: int, data_dir: Path, workers: int, size: int, accel) -> list:
    """The runner's worker processes (each loads the data itself, as `suite run --workers` does)."""
    jobs = [Job(task, config, 0, 0, tuple(range(i, min(i + size, rounds)))) for i in range(0, rounds, size)]
    context = Context(torch.device("cpu"), accel, data_dir, {}, lambda job: None, lambda *event: None)
    out = {}
    for job, results in Processes(workers).run(jobs, context):
        out.update(zip(job.rounds, results, strict=True))
    return [out[i] for i in range(rounds)]


def run(data_dir: Path, devices: list[torch.device], rounds: int, epochs: int | None, pairs: int | None,
        lfw: bool, only: str | None = None, workers: int = 1, repeat: int = 1, compile: bool = False) -> list[dict]:
    out = []
    mnist_settings = {k: v for k, v in MNIST_SETTINGS.items() if only is None or only in k}
    lfw_settings = {k: v for k, v in LFW_SETTINGS.items() if lfw and (only is None or only in k)}
    if not mnist_settings and not lfw_settings:
        raise SuiteError(f"--only {only!r} matches no workload; known: {', '.join([*MNIST_SETTINGS, *LFW_SETTINGS])}")
    digits = MNIST.prepare(MnistConfig(), data_dir, False) if mnist_settings else None
    for device in devices:
        for name, options in mnist_settings.items():
            config = MnistConfig(**options, **({"epochs": epochs} if epochs else {}),
                                 **({"pairs": pairs} if pairs else {}))
            for r in measure(MNIST, config, digits, rounds, device, config.pairs, data_dir, workers, repeat):
                out.append({"workload": name, **r})
                print(_line(out[-1]), file=sys.stderr, flush=True)
        for name, options in lfw_settings.items():
            # CPU: minutes per epoch, so one; GPU: five, the median one is the steady state
            config = LfwConfig(**options, epochs=1 if device.type == "cpu" else 5, val_fraction=0.0)
            prepared = LFW.prepare(config, data_dir, False)
            for r in measure(LFW, config, prepared, 1, device, len(prepared.pairs["DevTrain"]), data_dir,
                             repeat=repeat, compile=compile and device.type == "cuda"):
                out.append({"workload": name, **r})
                print(_line(out[-1]), file=sys.stderr, flush=True)
    for row in out:  # speed-up against the reference loop of the same workload and device, measured in this run
        reference = next((r for r in out if r["workload"] == row["workload"] and r["way"] == "reference loop"
                          and r["device"] == row["device"]), None)
        row["speedup"] = reference["seconds"] / row["seconds"] if reference else None
    return out


def _line(row: dict) -> str:
    return (f"{row['workload']:22} {row['way']:40} {row['device']:6} {row['seconds']:8.1f} s "
            f"acc {100 * row['test_accuracy_mean']:.2f}")


def markdown(rows: list[dict]) -> str:
    lines = ["| workload | training | device | rounds × epochs | experiment (s) | s/epoch | pairs/s | TFLOP/s | "
             "% of peak | peak MB | test acc. (%) | speed-up |", "|---|---|---|" + "---:|" * 9]
    for r in rows:
        std = "" if r["test_accuracy_std"] != r["test_accuracy_std"] else f" ± {100 * r['test_accuracy_std']:.2f}"
        speedup = "–" if r["speedup"] is None else f"{r['speedup']:.2f}×"
        fraction = "–" if r["peak_fraction"] is None else f"{100 * r['peak_fraction']:.1f}"
        runs = r["runs_seconds"]
        seconds = f"{r['seconds']:.1f}" + (f" ({min(runs):.1f}–{max(runs):.1f})" if len(runs) > 1 else "")
        lines.append(f"| {r['workload']} | {r['way']} | {r['device']} | {r['rounds']} × {r['epochs']} | "
                     f"{seconds} | {r['epoch_seconds']:.3f} | {r['pairs_per_second']:.0f} | "
                     f"{r['tflops']:.3f} | {fraction} | {r['peak_memory_mb']:.0f} | "
                     f"{100 * r['test_accuracy_mean']:.2f}{std} | {speedup} |")
    repeats = max((len(r["runs_seconds"]) for r in rows), default=0)
    if repeats > 1:
        lines.append(f"\nexperiment (s): the median of {repeats} runs taken in turns with the other ways "
                     "(--repeat), min–max in brackets.")
    return "\n".join(lines) + "\n"


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return name or platform.processor() or platform.machine()


def published(table: str, meta: dict, argv: list[str]) -> str:
    """`table` as --publish writes it: the exact command, the code version and the machine first, so that a page
    including the file says what produced it. The file is this program's alone: rerun it rather than edit."""
    command = shlex.join(["python", "-m", "benchmarks", *argv])
    machine = [cpu_name(), f"{meta['threads']} threads", f"torch {meta['torch']}"]
    if meta["cuda"]:
        machine.append(meta["cuda"])
    return ("<!-- Written by python -m benchmarks (its publish option); do not edit: rerun the command below. -->\n"
            f"`{command}` on {time.strftime('%Y-%m-%d')}, code {code_version()}; {', '.join(machine)}:\n\n{table}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="data directory (default $SUITE_DATA_DIR, else ./data)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per MNIST experiment (default 10)")
    parser.add_argument("--epochs", type=int, default=None, help="MNIST epochs (default: the task's, 25)")
    parser.add_argument("--pairs", type=int, default=None, help="MNIST pairs per round (default: the task's, 1000)")
    parser.add_argument("--no-lfw", action="store_true", help="skip the LFW workloads (minutes per epoch on CPU)")
    parser.add_argument("--workers", type=int, default=1, help="also time `suite run --workers N` (CPU)")
    parser.add_argument("--repeat", type=int, default=1, help="time each way N times, taking turns; report the "
                        "median (for machines whose speed drifts)")
    parser.add_argument("--only", default=None, help="only the workloads whose name contains this text")
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even when present")
    parser.add_argument("--cuda-only", action="store_true", help="skip the CPU (needs CUDA)")
    parser.add_argument("--compile", action="store_true", help="also time LFW's `suite run --compile` on CUDA")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    parser.add_argument("--publish", type=Path, default=None, metavar="FILE",
                        help="also write the table, with the command, code version and machine, to FILE "
                        "(make bench: docs/generated/bench.md, which the docs include)")
    args = parser.parse_args()
    if min(args.rounds, args.epochs or 1, args.pairs or 1, args.workers, args.repeat) < 1:
        raise SuiteError("--rounds, --epochs, --pairs, --workers and --repeat must be >= 1")
    if args.cpu_only and args.cuda_only:
        raise SuiteError("--cpu-only and --cuda-only exclude each other")
    if args.cuda_only and not torch.cuda.is_available():
        raise SuiteError("--cuda-only: CUDA is not available on this machine")
    if args.compile and (args.no_lfw or args.cpu_only or not torch.cuda.is_available()):
        raise SuiteError("--compile times LFW on CUDA: it needs a CUDA device, without --cpu-only or --no-lfw")
    data_dir = resolve_data_dir(args.data_dir)
    cuda = torch.cuda.is_available() and not args.cpu_only
    devices = ([] if args.cuda_only else [resolve_device("cpu")]) + ([resolve_device("cuda")] if cuda else [])
    rows = run(data_dir, devices, args.rounds, args.epochs, args.pairs, not args.no_lfw, args.only, args.workers,
               args.repeat, args.compile)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "processor": platform.processor(), "cuda": torch.cuda.get_device_name() if cuda else None}
    help_seconds = startup_seconds(5)
    meta["suite_help_seconds_median"] = statistics.median(help_seconds)
    (args.out / "bench.json").write_text(json.dumps({"environment": meta, "results": rows}, indent=2))
    table = markdown(rows) + (f"\n`suite --help` (start-up, no torch imported): median "
                              f"{statistics.median(help_seconds):.3f} s over {len(help_seconds)} runs\n")
    (args.out / "bench.md").write_text(table)
    if args.publish:
        args.publish.parent.mkdir(parents=True, exist_ok=True)
        args.publish.write_text(published(table, meta, sys.argv[1:]))
    print(table)


if __name__ == "__main__":
    try:
        main()
    except SuiteError as error:
        print(f"benchmarks: error: {error}", file=sys.stderr)
        sys.exit(2)
