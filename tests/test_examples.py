"""The scripts in examples/ run as a user runs them, on the real data, and print what they promise."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, real_data_dir

DATA = real_data_dir()


@pytest.mark.slow
@pytest.mark.skipif(DATA is None or not (DATA / "MNIST").is_dir(), reason="needs the real MNIST data (../shared/data)")
def test_quickstart_prints_experiments_with_config_columns_and_metric_means(tmp_path) -> None:
    env = {**os.environ, "SUITE_DATA_DIR": str(DATA)}
    done = subprocess.run([sys.executable, str(REPO / "examples" / "quickstart.py"), str(tmp_path / "ex.db")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "test_accuracy_mean" in line)
    header = lines[at].split()
    assert header[:4] == ["id", "model", "w_sharing", "aux_loss"] and "test_accuracy_std" in header
    rows = [line.split() for line in lines[at + 1:at + 3]]
    assert [row[0] for row in rows] == ["1", "2"] and [row[2] for row in rows] == ["False", "True"]
    assert all(0.5 < float(row[6]) <= 1.0 for row in rows)  # a mean accuracy, as a fraction
