"""LFW fixtures: where the real LFW-a is, and small synthetic trees in the LFW-a and torchvision layouts."""

import os
from pathlib import Path

import pytest
import torch
from torchvision.io import write_jpeg

REPO = Path(__file__).resolve().parents[3]

# person → number of images; ten people, as in LFW some with one image only
PEOPLE = {"Ann_Lee": 3, "Bob_Ray": 2, "Cat_Poe": 2, "Dan_Orr": 1, "Eve_Fox": 2,
          "Fay_Wu": 1, "Gus_Kim": 2, "Hal_Ito": 1, "Ivy_Lin": 2, "Jon_Day": 1}
# View 1: DevTrain and DevTest share nobody; View 2: 3 folds of 1 matched + 1 mismatched
PAIRS = {
    "pairsDevTrain.txt": "2\nAnn_Lee\t1\t2\nBob_Ray\t1\t2\nAnn_Lee\t3\tDan_Orr\t1\nBob_Ray\t2\tCat_Poe\t1\n",
    "pairsDevTest.txt": "1\nEve_Fox\t1\t2\nFay_Wu\t1\tGus_Kim\t2\n",
    "pairs.txt": "3\t1\nAnn_Lee\t1\t3\nAnn_Lee\t2\tHal_Ito\t1\nEve_Fox\t1\t2\nIvy_Lin\t1\tJon_Day\t1\n"
                 "Gus_Kim\t1\t2\nCat_Poe\t2\tFay_Wu\t1\n",
}
SIDE, BOX = 250, slice(62, 187)  # LFW's image side and the centred 125×125 face box


def value(name: str, index: int) -> int:
    """The grey level inside image (name, index)'s face box; outside it is 255 - value (so crops differ)."""
    return 20 + 20 * list(PEOPLE).index(name) + 5 * index


def colours(name: str, index: int) -> tuple[list[int], list[int]]:
    """RGB inside and outside the face box of a colour image."""
    v = value(name, index)
    return [v, 255 - v, 128], [255 - v, v, 128]


def make_image(name: str, index: int, colour: bool) -> torch.Tensor:
    if colour:
        inside, outside = colours(name, index)
        image = torch.tensor(outside, dtype=torch.uint8).view(3, 1, 1).repeat(1, SIDE, SIDE)
        image[:, BOX, BOX] = torch.tensor(inside, dtype=torch.uint8).view(3, 1, 1)
    else:
        image = torch.full((1, SIDE, SIDE), 255 - value(name, index), dtype=torch.uint8)
        image[:, BOX, BOX] = value(name, index)
    return image


def make_lfw(data_dir: Path, layout: str) -> Path:
    """A synthetic LFW tree under data_dir: lfw-a (grayscale) or lfw-py/<layout> (colour); returns data_dir."""
    base = data_dir / "lfw-a" if layout == "lfw-a" else data_dir / "lfw-py"
    root = base / "lfw2" if layout == "lfw-a" else base / layout
    for name, count in PEOPLE.items():
        (root / name).mkdir(parents=True)
        for index in range(1, count + 1):
            write_jpeg(make_image(name, index, layout != "lfw-a"), str(root / name / f"{name}_{index:04d}.jpg"),
                       quality=95)
    for file, text in PAIRS.items():
        (base / file).write_text(text)
    return data_dir


@pytest.fixture
def lfw_a_tree(tmp_path: Path) -> Path:
    return make_lfw(tmp_path / "data", "lfw-a")


@pytest.fixture
def lfw_py_tree(tmp_path: Path) -> Path:
    return make_lfw(tmp_path / "data", "lfw_funneled")


@pytest.fixture(scope="session")
def lfw_data_dir() -> Path:
    """The real data directory holding lfw-a/: $SUITE_DATA_DIR, else ../shared/data beside the checkout."""
    for candidate in (os.environ.get("SUITE_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "lfw-a" / "lfw2").is_dir():
            return Path(candidate)
    pytest.skip("real LFW-a not found: set SUITE_DATA_DIR or place it at ../shared/data/lfw-a")


@pytest.fixture
def textured_tree(lfw_a_tree):
    """The synthetic LFW-a tree with noise images: flat faces all have the same LBP descriptor."""
    generator = torch.Generator().manual_seed(0)
    for path in sorted((lfw_a_tree / "lfw-a" / "lfw2").rglob("*.jpg")):
        write_jpeg(torch.randint(256, (1, 250, 250), dtype=torch.uint8, generator=generator), str(path), quality=95)
    return lfw_a_tree


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """Image and descriptor caches in the test's own folder, not the user's."""
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path / "cache"))
