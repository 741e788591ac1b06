"""`suite run mnist` on bad data, as a user runs it: the real entry point in a process of its own."""

from pathlib import Path

import numpy as np
import pytest

from suite.results.store import Store
from tests.cli_helpers import suite
from tests.conftest import write_idx

TINY = ["--pairs", "60", "--val-pairs", "0", "--epochs", "1", "--batch-size", "20", "--quiet", "--device", "cpu"]


def truncated_copy(real: Path, root: Path, n_train: int = 1000, n_test: int = 500) -> Path:
    """A data directory holding the first images and labels of the real MNIST files, as valid IDX files."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.fromfile(real / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", np.uint8, offset=16)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images.reshape(-1, 28, 28)[:n])
        labels = np.fromfile(real / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", np.uint8, offset=8)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[:n])
    return root


@pytest.mark.slow  # the real entry point, in a process of its own
def test_all_zero_images_file_is_one_line_and_exit_2(tmp_path, mnist_data_dir):
    data = truncated_copy(mnist_data_dir, tmp_path / "data")
    images = data / "MNIST" / "raw" / "train-images-idx3-ubyte"
    write_idx(images, np.zeros((1000, 28, 28)))  # the real labels beside all-zero images
    store = tmp_path / "r.db"
    result = suite("run", "mnist", "--rounds", "1", "--store", str(store), *TINY, cwd=tmp_path, data_dir=data)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"suite: error: {images}: images are constant (std 0): cannot normalise; the file is probably corrupt"]
    assert not store.exists() or Store(store).experiments().empty  # refused before anything was recorded
