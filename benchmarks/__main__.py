"""`python -m benchmarks`: time one round of each MNIST setting on every available device.

Writes benchmarks/out/mnist.json and mnist.md. Issue 5 adds the reference loops and speed-up ratios.
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from suite.datadir import resolve_data_dir
from suite.devices import resolve_device
from suite.errors import SuiteError
from suite.runner import train_round
from suite.seeding import RoundSeeds
from tasks.mnist_pairs.task import TASK, MnistConfig

SETTINGS = {
    "baseline": {"model": "baseline"},
    "siamese": {},
    "siamese-ws": {"w_sharing": True},
    "siamese-aux": {"aux_loss": True},
    "siamese-ws-aux": {"w_sharing": True, "aux_loss": True},
}


def measure(device: torch.device, data_dir: Path, epochs: int) -> list[dict]:
    digits = TASK.prepare(MnistConfig(), data_dir, False)
    rows = []
    for name, options in SETTINGS.items():
        config = MnistConfig(epochs=epochs, **options)
        result = train_round(TASK, config, digits, RoundSeeds(0, 0), device)
        per_epoch = sorted(result.epoch_seconds)[len(result.epoch_seconds) // 2]  # median: first epoch warms up
        rows.append({"task": "mnist", "setting": name, "device": str(device), "epochs": epochs,
                     "epoch_seconds_median": per_epoch, "pairs_per_second": config.pairs / per_epoch,
                     "round_seconds": result.seconds, "peak_memory_mb": result.peak_memory_bytes / 2**20,
                     "test_accuracy": result.metrics["test_accuracy"]})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| setting | device | s/epoch (median) | pairs/s | s/round | peak MB | test acc. (%) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['setting']} | {r['device']} | {r['epoch_seconds_median']:.3f} | {r['pairs_per_second']:.0f} | "
              f"{r['round_seconds']:.1f} | {r['peak_memory_mb']:.0f} | {100 * r['test_accuracy']:.1f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    devices = [resolve_device("cpu")] + ([resolve_device("cuda")] if torch.cuda.is_available() else [])
    rows = [row for device in devices for row in measure(device, data_dir, args.epochs)]
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.processor()}
    (args.out / "mnist.json").write_text(json.dumps({"environment": meta, "results": rows}, indent=2))
    (args.out / "mnist.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    try:
        main()
    except SuiteError as error:
        print(f"benchmarks: error: {error}", file=sys.stderr)
        sys.exit(2)
