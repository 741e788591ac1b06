"""Shared fixtures: where the real data is, and small synthetic MNIST files in the real IDX format."""

import os
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent

def real_data_dir() -> Path | None:
    """$SUITE_DATA_DIR, else ../shared/data beside the checkout (as in CI)."""
    for candidate in (os.environ.get("SUITE_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist_data_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real MNIST not found: set SUITE_DATA_DIR or place it at ../shared/data/MNIST/raw")
    return path


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an unsigned-byte IDX file (magic 0x08, then the number of dimensions)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_fake_mnist(root: Path, n_train: int = 400, n_test: int = 200) -> Path:
    """Images whose pixels encode their own index (so every image is distinct), labels cycling 0–9."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        index = np.arange(n)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[:, :, :14] = (index // 256)[:, None, None]  # left half: high byte, right half: low byte
        images[:, :, 14:] = (index % 256)[:, None, None]
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", index % 10)
    return root


@pytest.fixture
def fake_mnist(tmp_path: Path) -> Path:
    return make_fake_mnist(tmp_path / "data")
