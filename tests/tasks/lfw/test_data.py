import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import LFWPairs
from torchvision.io import write_jpeg

from suite.core.errors import SuiteError
from suite_tasks.lfw.data import (
    DIGEST,
    Pair,
    check_images,
    dataset_stats,
    default_cache_dir,
    find_layout,
    image_keys,
    image_path,
    load_images,
    pair_people,
    pairs_path,
    people,
    read_pairs,
    split_validation,
    tensor_digest,
    view2_folds,
)
from tests.tasks.lfw.conftest import PEOPLE, colours, make_image, make_lfw, value

# torchvision 0.29 deprecates its JPEG codecs in favour of TorchCodec, which the project does not use
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")


class UncheckedLFWPairs(LFWPairs):
    """torchvision's reader without the archive checksums (the synthetic files have other contents)."""

    def _check_integrity(self) -> bool:
        return True


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- layouts -----------------------------------------------------------------------------------------------------

def test_find_layout_explicit_and_auto(tmp_path):
    data = make_lfw(tmp_path / "data", "lfw_funneled")
    assert find_layout(data, "auto") == ("lfw_funneled", data / "lfw-py" / "lfw_funneled")
    assert find_layout(data, "lfw_funneled") == ("lfw_funneled", data / "lfw-py" / "lfw_funneled")
    make_lfw(data, "lfw-a")
    assert find_layout(data, "auto") == ("lfw-a", data / "lfw-a" / "lfw2")  # lfw-a first
    with pytest.raises(SuiteError, match="layout lfw-deepfunneled not found: .*lfw-py/lfw-deepfunneled"):
        find_layout(data, "lfw-deepfunneled")


def test_find_layout_says_where_it_looked(tmp_path):
    with pytest.raises(SuiteError) as excinfo:
        find_layout(tmp_path, "auto")
    message = one_line_error(excinfo)
    for relative in ("lfw-a/lfw2", "lfw-py/lfw-deepfunneled", "lfw-py/lfw_funneled", "lfw-py/lfw"):
        assert str(tmp_path / relative) in message


def test_people_counts_from_listing(lfw_a_tree):
    assert people(find_layout(lfw_a_tree, "lfw-a")[1]) == dict(sorted(PEOPLE.items()))


# --- pairs files -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("split", "file"), [("train", "DevTrain"), ("test", "DevTest"), ("10fold", "View 2")])
def test_parser_agrees_with_torchvision(lfw_py_tree, split, file):
    _, root = find_layout(lfw_py_tree, "auto")
    reference = UncheckedLFWPairs(root=str(lfw_py_tree), split=split, image_set="funneled", download=False)
    pairs = read_pairs(pairs_path(root, file))
    assert len(pairs) == len(reference) > 0
    assert [(p.name_a, p.name_b) for p in pairs] == reference.pair_names
    assert [int(p.same) for p in pairs] == reference.targets
    assert [(str(image_path(root, *p.key_a)), str(image_path(root, *p.key_b))) for p in pairs] == reference.data


def test_pairs_fields_folds_and_lines(lfw_a_tree):
    _, root = find_layout(lfw_a_tree, "lfw-a")
    train = read_pairs(pairs_path(root, "DevTrain"))
    assert train[0] == Pair("Ann_Lee", 1, "Ann_Lee", 2, True, 0, 2)
    assert train[3] == Pair("Bob_Ray", 2, "Cat_Poe", 1, False, 0, 5)
    folds = view2_folds(read_pairs(pairs_path(root, "View 2")))
    assert [[p.line for p in fold] for fold in folds] == [[2, 3], [4, 5], [6, 7]]
    assert [p.same for fold in folds for p in fold] == [True, False] * 3
    assert pair_people(folds[1]) == {"Eve_Fox", "Ivy_Lin", "Jon_Day"}
    assert not pair_people(train) & pair_people(read_pairs(pairs_path(root, "DevTest")))


def test_any_whitespace_and_trailing_blank_lines(tmp_path):
    path = tmp_path / "pairsDevTest.txt"
    path.write_text("1\r\n  Ann_Lee 1   2 \r\nBob_Ray\t1 Cat_Poe\t2\r\n\n\n")
    expected = [("Ann_Lee", 1, "Ann_Lee", 2, True), ("Bob_Ray", 1, "Cat_Poe", 2, False)]
    assert [p[:5] for p in read_pairs(path)] == expected


BAD_FILES = [
    ("2\nAnn_Lee\t1\t2\nBob_Ray\t1\nAnn_Lee\t3\tDan_Orr\t1\nBob_Ray\t2\tCat_Poe\t1\n", 3, "expected 'name i j'"),
    ("2\nAnn_Lee\t1\t2\nAnn_Lee\t3\tDan_Orr\t1\nBob_Ray\t2\tCat_Poe\t1\n", 3, "a mismatched pair where"),
    ("1\nAnn_Lee\t1\t2\nBob_Ray\t1\t2\n", 3, "a matched pair where"),
    ("1\nAnn_Lee\t1\tx\nBob_Ray\t1\tCat_Poe\t1\n", 2, "positive integers"),
    ("1\nAnn_Lee\t1\t2\nBob_Ray\t0\tCat_Poe\t1\n", 3, "positive integers"),
    ("1\nAnn_Lee\t1\t1\nBob_Ray\t1\tCat_Poe\t1\n", 2, "paired with itself"),
    ("1\nAnn_Lee\t1\t2\nBob_Ray\t1\tBob_Ray\t2\n", 3, "same person on both sides"),
    ("1\nAnn_Lee\t1\t2\nBob_Ray\t1\t../x\t1\n", 3, "not a person's directory name"),
    ("2\nAnn_Lee\t1\t2\nBob_Ray\t1\t2\nAnn_Lee\t3\tDan_Orr\t1\n", 1, "4 pair lines, but the file has 3"),
    ("1\nAnn_Lee\t1\t2\nBob_Ray\t1\tCat_Poe\t1\nEve_Fox\t1\t2\n", 4, "more pair lines than the header"),
    ("2\t1\nAnn_Lee\t1\t2\nBob_Ray\t1\tCat_Poe\t1\n", 1, "2 fold(s) of 1 matched + 1 mismatched = 4"),
    ("Ann_Lee\t1\t2\nBob_Ray\t1\tCat_Poe\t1\n", 1, "the header is missing"),
    ("10\t300\t1\n", 1, "expected a header"),
    ("", 1, "the file is empty"),
    ("1\n\nBob_Ray\t1\tCat_Poe\t1\n", 2, "got ''"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), BAD_FILES)
def test_malformed_pairs_file_names_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "pairsDevTrain.txt"
    path.write_text(text)
    with pytest.raises(SuiteError) as excinfo:
        read_pairs(path)
    message = one_line_error(excinfo)
    assert message.startswith(f"{path} line {line}: ")
    assert fragment in message


def test_missing_pairs_file(tmp_path):
    with pytest.raises(SuiteError, match="pairs file missing: .*pairs.txt"):
        read_pairs(tmp_path / "pairs.txt")


def test_missing_image_names_pairs_file_line_and_image(lfw_a_tree):
    _, root = find_layout(lfw_a_tree, "lfw-a")
    path = pairs_path(root, "DevTrain")
    pairs = read_pairs(path)
    check_images(pairs, root, path)
    image_path(root, "Bob_Ray", 2).unlink()  # Bob_Ray 2 first appears on line 3
    with pytest.raises(SuiteError) as excinfo:
        check_images(pairs, root, path)
    assert one_line_error(excinfo) == f"{path} line 3: image {root}/Bob_Ray/Bob_Ray_0002.jpg not found"


# --- images and the cache ------------------------------------------------------------------------------------------

def load(data_dir: Path, cache: Path, layout: str = "lfw-a", crop: str = "face", size: int = 25, channels: int = 1,
         keys: list | None = None):
    name, root = find_layout(data_dir, layout)
    if keys is None:
        keys = image_keys(read_pairs(pairs_path(root, "DevTrain")))
    return load_images(root, name, keys, crop, size, channels, cache)


def test_images_crop_resize_and_rows(lfw_a_tree, tmp_path):
    loaded = load(lfw_a_tree, tmp_path / "cache")
    images, rows, hit = loaded.images, loaded.rows, loaded.cache_hit
    assert images.dtype == torch.uint8 and images.shape == (7, 1, 25, 25) and not hit
    assert list(rows) == [("Ann_Lee", 1), ("Ann_Lee", 2), ("Ann_Lee", 3), ("Bob_Ray", 1), ("Bob_Ray", 2),
                          ("Cat_Poe", 1), ("Dan_Orr", 1)]
    expected = torch.tensor([value(*key) for key in rows], dtype=torch.float)
    assert (images.float().flatten(1) - expected[:, None]).abs().max() <= 3  # the box only: uniform
    whole = load(lfw_a_tree, tmp_path / "cache", crop="none", size=50).images
    assert (whole[:, 0, 25, 25].float() - expected).abs().max() <= 3
    assert (whole[:, 0, 0, 0].float() - (255 - expected)).abs().max() <= 3


def test_colour_to_luma_and_grey_to_three_channels(lfw_py_tree, lfw_a_tree, tmp_path):
    loaded = load(lfw_py_tree, tmp_path / "cache", layout="lfw_funneled", channels=1)
    grey, rows = loaded.images, loaded.rows
    luma = torch.tensor([colours(*key)[0] for key in rows], dtype=torch.float) @ torch.tensor([0.299, 0.587, 0.114])
    assert (grey[:, 0, 12, 12].float() - luma).abs().max() <= 3
    loaded = load(lfw_py_tree, tmp_path / "cache", layout="lfw_funneled", channels=3)
    colour, rows = loaded.images, loaded.rows
    rgb = torch.tensor([colours(*key)[0] for key in rows], dtype=torch.float)
    assert (colour[:, :, 12, 12].float() - rgb).abs().max() <= 3
    repeated = load(lfw_a_tree, tmp_path / "cache", channels=3).images
    assert torch.equal(repeated[:, 0], repeated[:, 1]) and torch.equal(repeated[:, 0], repeated[:, 2])


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_bad_jpeg_names_the_file(lfw_a_tree, tmp_path, damage):
    path = image_path(find_layout(lfw_a_tree, "lfw-a")[1], "Ann_Lee", 2)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncate" else b"not a jpeg at all")
    with pytest.raises(SuiteError) as excinfo:
        load(lfw_a_tree, tmp_path / "cache")
    assert f"cannot decode image {path}" in one_line_error(excinfo)
    assert not list((tmp_path / "cache").glob("*"))  # nothing cached from a failed build


def test_cache_hit_is_identical_and_key_order_free(lfw_a_tree, tmp_path):
    first = load(lfw_a_tree, tmp_path / "cache")
    keys = list(first.rows)
    second = load(lfw_a_tree, tmp_path / "cache", keys=keys[::-1] + keys[:2])
    assert not first.cache_hit and second.cache_hit and second.cache_path == first.cache_path
    assert torch.equal(first.images, second.images) and first.rows == second.rows
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.cache_path.name]  # no temporary left


@pytest.mark.parametrize("change", [{"size": 24}, {"crop": "none"}, {"channels": 3}])
def test_cache_rebuilt_when_a_parameter_changes(lfw_a_tree, tmp_path, change):
    first = load(lfw_a_tree, tmp_path / "cache")
    changed = load(lfw_a_tree, tmp_path / "cache", **change)
    assert not changed.cache_hit and changed.cache_path != first.cache_path
    assert load(lfw_a_tree, tmp_path / "cache").cache_hit  # the first is still there and valid


def test_cache_rebuilt_when_a_source_changes(lfw_a_tree, tmp_path):
    first = load(lfw_a_tree, tmp_path / "cache")
    path = image_path(find_layout(lfw_a_tree, "lfw-a")[1], "Bob_Ray", 1)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched, same contents
    touched = load(lfw_a_tree, tmp_path / "cache")
    assert not touched.cache_hit and touched.cache_path != first.cache_path
    assert torch.equal(touched.images, first.images)
    write_jpeg(make_image("Jon_Day", 1, colour=False), str(path), quality=95)  # new contents
    modified = load(lfw_a_tree, tmp_path / "cache")
    assert not modified.cache_hit
    row = modified.rows[("Bob_Ray", 1)]
    assert abs(int(modified.images[row, 0, 12, 12]) - value("Jon_Day", 1)) <= 3
    assert torch.equal(modified.images[:row], first.images[:row])


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_corrupt_cache_file_is_rebuilt(lfw_a_tree, tmp_path, damage):
    first = load(lfw_a_tree, tmp_path / "cache")
    data = first.cache_path.read_bytes()
    first.cache_path.write_bytes(b"\0" * 100 if damage == "garbage" else data[:len(data) // 2])
    rebuilt = load(lfw_a_tree, tmp_path / "cache")
    assert not rebuilt.cache_hit and torch.equal(rebuilt.images, first.images)
    assert load(lfw_a_tree, tmp_path / "cache").cache_hit


def flip_tensor_bytes(path: Path, count: int = 16) -> None:
    """Invert `count` bytes in the middle of the largest tensor record of a torch.save file, in place; its pickled
    metadata (format, key, keys, digest) and the zip directory stay as written (torch.load checks no CRC)."""
    with zipfile.ZipFile(path) as archive:
        record = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    assert record.compress_type == zipfile.ZIP_STORED  # torch stores tensors uncompressed: offsets are bytes
    data = bytearray(path.read_bytes())
    header = record.header_offset
    start = header + 30 + int.from_bytes(data[header + 26:header + 28], "little") \
        + int.from_bytes(data[header + 28:header + 30], "little")  # local header: 30 bytes, name, extra field
    middle = start + record.file_size // 2
    data[middle:middle + count] = bytes(b ^ 0xFF for b in data[middle:middle + count])
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_the_cached_images_are_detected_and_rebuilt(lfw_a_tree, tmp_path, capsys):
    first = load(lfw_a_tree, tmp_path / "cache")
    assert torch.load(first.cache_path, weights_only=True)[DIGEST] == tensor_digest(first.images)
    flip_tensor_bytes(first.cache_path)
    damaged = torch.load(first.cache_path, weights_only=True)  # still loads: only the digest tells
    assert not torch.equal(damaged["images"], first.images) and damaged[DIGEST] == tensor_digest(first.images)
    capsys.readouterr()
    rebuilt = load(lfw_a_tree, tmp_path / "cache")
    assert not rebuilt.cache_hit and torch.equal(rebuilt.images, first.images)
    assert capsys.readouterr().err.splitlines() == [
        f"suite: image cache {first.cache_path} is corrupt (its images do not match the digest stored with them): "
        "rebuilding it from the images"]
    again = load(lfw_a_tree, tmp_path / "cache")  # the rebuilt file replaced the damaged one, under its name
    assert again.cache_hit and torch.equal(again.images, first.images) and not capsys.readouterr().err
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.cache_path.name]


def test_cache_without_a_digest_is_rebuilt_not_trusted(lfw_a_tree, tmp_path, capsys):
    first = load(lfw_a_tree, tmp_path / "cache")
    saved = torch.load(first.cache_path, weights_only=True)
    old = {key: saved[key] for key in ("format", "key", "keys", "images")}  # the file as written before digests
    old["images"] = torch.full_like(old["images"], 7)  # and wrong: nothing could have told before
    torch.save(old, first.cache_path)
    capsys.readouterr()
    rebuilt = load(lfw_a_tree, tmp_path / "cache")
    assert not rebuilt.cache_hit and torch.equal(rebuilt.images, first.images)
    assert capsys.readouterr().err.splitlines() == [
        f"suite: image cache {first.cache_path} has no digest of its contents (written by an older version): "
        "rebuilding it from the images"]
    assert DIGEST in torch.load(first.cache_path, weights_only=True)
    assert load(lfw_a_tree, tmp_path / "cache").cache_hit


def test_constant_images_are_refused_and_not_cached(lfw_a_tree, tmp_path):
    _, root = find_layout(lfw_a_tree, "lfw-a")
    for path in root.glob("*/*.jpg"):  # every image blanked to one grey: decodes and resizes to exactly 0
        write_jpeg(torch.zeros((1, 250, 250), dtype=torch.uint8), str(path), quality=95)
    with pytest.raises(SuiteError) as excinfo:
        load(lfw_a_tree, tmp_path / "cache")
    assert one_line_error(excinfo) == (f"the 7 LFW images under {root} are constant (std 0, every pixel 0): "
                                       "cannot normalise; the files are probably corrupt")
    assert not list((tmp_path / "cache").glob("*"))


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("SUITE_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "suite"


# --- validation split ------------------------------------------------------------------------------------------------

def synthetic_pairs(n: int = 400, people: int = 500, seed: int = 0) -> list[Pair]:
    """n/2 matched and n/2 mismatched pairs among random people, like View 1's sparse mismatched links."""
    rng = np.random.default_rng(seed)
    pairs = [Pair(f"p{a}", 1, f"p{a}", 2, True, 0, k + 2) for k, a in enumerate(rng.integers(people, size=n // 2))]
    for k in range(n // 2):
        a, b = rng.choice(people, size=2, replace=False)
        pairs.append(Pair(f"p{a}", 1, f"p{b}", 1, False, 0, n // 2 + k + 2))
    return pairs


def test_split_validation_disjoint_balanced_about_the_fraction():
    pairs = synthetic_pairs()
    train, val = split_validation(pairs, 0.2, torch.Generator().manual_seed(0))
    assert not pair_people(train) & pair_people(val)
    assert sum(p.same for p in val) == sum(not p.same for p in val)
    assert 70 <= len(val) <= 80
    assert not set(train) & set(val) and set(train) | set(val) <= set(pairs)
    dropped = set(pairs) - set(train) - set(val)  # only to balance validation, never a straddling pair
    assert pair_people(dropped) <= pair_people(val) and len(pairs) - len(train) - len(val) == len(dropped)


def test_split_validation_deterministic_per_generator():
    pairs = synthetic_pairs()
    first = split_validation(pairs, 0.2, torch.Generator().manual_seed(1))
    assert split_validation(pairs, 0.2, torch.Generator().manual_seed(1)) == first
    assert split_validation(pairs, 0.2, torch.Generator().manual_seed(2))[1] != first[1]


def test_split_validation_none():
    pairs = synthetic_pairs()
    assert split_validation(pairs, 0.0, torch.Generator()) == (pairs, [])
    with pytest.raises(SuiteError, match="fraction"):
        split_validation(pairs, 1.0, torch.Generator())


# --- statistics ----------------------------------------------------------------------------------------------------

def test_dataset_stats_synthetic(lfw_py_tree):
    stats = dataset_stats(lfw_py_tree, "auto")
    assert list(stats) == ["images", "pairs", "people shared between splits"]
    images = stats["images"].iloc[0]
    assert (images["layout"], images["people"], images["images"], images["people with ≥ 2 images"]) == \
        ("lfw_funneled", 10, 17, 6)
    assert images["images per person (mean)"] == 1.7
    assert images["images per person (std)"] == round(np.std(list(PEOPLE.values()), ddof=1), 3)
    pairs = stats["pairs"].set_index("split")
    assert list(pairs.index) == ["DevTrain", "DevTest", "View 2", "fold 1", "fold 2", "fold 3"]
    assert pairs.loc["DevTrain"].to_dict() == {"file": "pairsDevTrain.txt", "pairs": 4, "matched": 2,
                                               "mismatched": 2, "people": 4}
    shared = stats["people shared between splits"].set_index("split")
    assert shared.loc["DevTrain", "DevTest"] == 0 and shared.loc["DevTrain", "DevTrain"] == 4
    assert shared.loc["DevTrain", "f1"] == 1  # Ann_Lee


def test_dataset_stats_lists_missing_pairs_files(lfw_a_tree):
    (lfw_a_tree / "lfw-a" / "pairs.txt").unlink()
    stats = dataset_stats(lfw_a_tree, "lfw-a")
    assert stats["missing pairs files"]["file"].tolist() == [str(lfw_a_tree / "lfw-a" / "pairs.txt")]
    assert stats["pairs"]["split"].tolist() == ["DevTrain", "DevTest"]


# --- real LFW-a ----------------------------------------------------------------------------------------------------

def test_real_lfw_a_statistics(lfw_data_dir):
    stats = dataset_stats(lfw_data_dir, "lfw-a")
    images = stats["images"].iloc[0]
    assert (images["people"], images["images"], images["people with ≥ 2 images"]) == (5749, 13233, 1680)
    assert (images["images per person (mean)"], images["images per person (std)"]) == (2.302, 9.016)
    pairs = stats["pairs"].set_index("split")[["pairs", "matched", "mismatched", "people"]]
    assert pairs.loc["DevTrain"].tolist() == [2200, 1100, 1100, 2132]
    assert pairs.loc["DevTest"].tolist() == [1000, 500, 500, 963]
    assert pairs.loc["View 2"].tolist()[:3] == [6000, 3000, 3000]
    shared = stats["people shared between splits"].set_index("split")
    assert shared.loc["DevTrain", "DevTest"] == 0
    folds = [f"fold {f}" for f in range(1, 11)]
    columns = [f"f{f}" for f in range(1, 11)]
    assert (shared.loc[folds, columns].to_numpy() == np.diag(pairs.loc[folds, "people"])).all()  # folds disjoint
    assert "missing pairs files" not in stats


def test_real_view2_folds_and_validation_split(lfw_data_dir):
    _, root = find_layout(lfw_data_dir, "lfw-a")
    folds = view2_folds(read_pairs(pairs_path(root, "View 2")))
    assert [len(f) for f in folds] == [600] * 10
    assert all(sum(p.same for p in f) == 300 for f in folds)
    train_pairs = read_pairs(pairs_path(root, "DevTrain"))
    train, val = split_validation(train_pairs, 0.2, torch.Generator().manual_seed(0))
    assert (sum(p.same for p in val), sum(not p.same for p in val), len(train)) == (220, 220, 1760)  # none dropped
    assert not pair_people(train) & pair_people(val)


def test_real_images_cache(lfw_data_dir, tmp_path):
    keys = image_keys(read_pairs(pairs_path(find_layout(lfw_data_dir, "lfw-a")[1], "DevTest"))[:20])
    first = load(lfw_data_dir, tmp_path / "cache", crop="none", size=105, keys=keys)
    second = load(lfw_data_dir, tmp_path / "cache", crop="none", size=105, keys=keys)
    assert first.images.shape == (len(keys), 1, 105, 105) and not first.cache_hit and second.cache_hit
    assert torch.equal(first.images, second.images) and first.images.float().std() > 20  # real faces, not blank
    flip_tensor_bytes(first.cache_path, count=1)  # one byte of real faces: still a plausible image
    rebuilt = load(lfw_data_dir, tmp_path / "cache", crop="none", size=105, keys=keys)
    assert not rebuilt.cache_hit and torch.equal(rebuilt.images, first.images)
