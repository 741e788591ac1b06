"""`python -m benchmarks`: the three ways of training, a speed-up against the reference loop, and clear errors."""

import json
import subprocess
import sys

import pytest
import torch

from suite.training.devices import resolve_acceleration
from tests.conftest import REPO, make_fake_mnist

# what `suite run` uses here: bf16 on a CPU that computes in it natively, float32 elsewhere
PRECISION = resolve_acceleration("auto", False, torch.device("cpu")).precision

pytestmark = pytest.mark.slow  # every test runs `python -m benchmarks`, which trains and times, in a process


def bench(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_tiny_benchmark_writes_json_and_markdown_with_speedups(tmp_path):
    data = make_fake_mnist(tmp_path / "data")
    result = bench("--data-dir", str(data), "--rounds", "2", "--epochs", "1", "--pairs", "100", "--no-lfw",
                   "--cpu-only", "--workers", "2", "--only", "ws+aux", "--repeat", "2", "--out", str(tmp_path / "out"),
                   "--publish", str(tmp_path / "published.md"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "out" / "bench.json").read_text())["results"]
    # reference, one at a time, as `suite run` does (both rounds stacked), and in 2 worker processes
    assert len(rows) == 4 and {r["workload"] for r in rows} == {"mnist siamese ws+aux"}
    stacked = f"suite run (default: {PRECISION}, 2 rounds stacked)"
    assert {r["way"] for r in rows} == {"reference loop", "suite, one round at a time", stacked,
                                        "suite run --workers 2"}
    assert all(r["speedup"] > 0 for r in rows) and all(r["speedup"] == 1 for r in rows if r["way"] == "reference loop")
    assert all(r["tflops"] > 0 and r["peak_fraction"] is None for r in rows)  # FLOPs counted; no GPU peak on a CPU
    # each way timed twice, in turns; the row gives the median (of two: their mean)
    assert all(len(r["runs_seconds"]) == 2 and r["seconds"] == pytest.approx(sum(r["runs_seconds"]) / 2)
               for r in rows)
    table = (tmp_path / "out" / "bench.md").read_text()
    assert f"| mnist siamese ws+aux | {stacked} | cpu | 2 × 1 |" in table
    assert "the median of 2 runs taken in turns" in table
    published = (tmp_path / "published.md").read_text()  # what docs/performance.md includes: the table, and whence
    assert table in published and "`python -m benchmarks --data-dir" in published and "code " in published


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    result = bench("--rounds", "0", "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("benchmarks: error: --rounds, --epochs, --pairs, --workers and --repeat "
                                     "must be >= 1")
    data = make_fake_mnist(tmp_path / "data")
    unknown = bench("--data-dir", str(data), "--only", "resnet", cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.startswith("benchmarks: error: --only 'resnet' matches no")
    both = bench("--data-dir", str(data), "--cpu-only", "--cuda-only", cwd=tmp_path)
    assert both.returncode == 2
    assert both.stderr.strip() == "benchmarks: error: --cpu-only and --cuda-only exclude each other"
    if not torch.cuda.is_available():
        gpu = bench("--data-dir", str(data), "--cuda-only", cwd=tmp_path)
        assert gpu.returncode == 2
        assert gpu.stderr.strip() == "benchmarks: error: --cuda-only: CUDA is not available on this machine"
    compiled = bench("--data-dir", str(data), "--compile", "--no-lfw", cwd=tmp_path)
    assert compiled.returncode == 2 and "--compile times LFW on CUDA" in compiled.stderr
    missing = bench("--data-dir", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
