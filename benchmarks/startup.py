"""`python -m benchmarks.startup`: how long `suite --help` takes, from starting the interpreter to its exit.

Runs `python -m suite --help` (this interpreter, so the same environment) N times after one warm-up run, which
brings the files into the page cache, and prints the median wall-clock seconds.
"""

import argparse
import statistics
import subprocess
import sys
import time


def startup_seconds(runs: int, args: tuple[str, ...] = ("--help",)) -> list[float]:
    """Wall-clock seconds of each of `runs` runs of `python -m suite *args`, after one untimed warm-up."""
    command = [sys.executable, "-m", "suite", *args]
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs (default 9)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs: must be >= 1")
    times = startup_seconds(args.runs)
    print(f"suite --help: median {statistics.median(times):.3f} s over {len(times)} runs "
          f"(min {min(times):.3f} s, max {max(times):.3f} s)")


if __name__ == "__main__":
    main()
