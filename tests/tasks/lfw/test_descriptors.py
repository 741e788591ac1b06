"""Descriptors cached on disk: computed once per data set, the same tensor back, rebuilt when the file is bad."""

import torch

from suite_tasks.lfw import data, descriptors, lbp

LBP = descriptors.Descriptor("lbp", "inner", 10, 1)


def loaded_tree(tree, cache):
    _, root = data.find_layout(tree, "lfw-a")
    keys = [(name, 1) for name in ("Ann_Lee", "Bob_Ray", "Cat_Poe", "Eve_Fox")]
    return data.load_images(root, "lfw-a", keys, "none", data.IMAGE_SIDE, 1, cache)


def test_described_once_then_read_back(tmp_path, lfw_a_tree) -> None:
    loaded = loaded_tree(lfw_a_tree, tmp_path / "cache")
    first, cached = descriptors.describe(loaded, LBP)
    assert not cached and torch.equal(first, lbp.describe(loaded.images, "inner", 10, 1))
    again, cached = descriptors.describe(loaded, LBP)
    assert cached and torch.equal(again, first)
    other, cached = descriptors.describe(loaded, descriptors.Descriptor("lbp", "inner", 12, 1))  # another file
    assert not cached and other.shape != first.shape
    assert len(list((tmp_path / "cache").glob("lfw-lbp-*.pt"))) == 2


def test_a_corrupt_cache_is_rebuilt_with_one_line(tmp_path, lfw_a_tree, capsys) -> None:
    loaded = loaded_tree(lfw_a_tree, tmp_path / "cache")
    first, _ = descriptors.describe(loaded, LBP)
    path, _ = descriptors.cache_path(loaded.cache_path, LBP)
    saved = torch.load(path, weights_only=True)
    saved["descriptors"][0, 0, 0] += 1  # a flipped value the digest no longer matches
    torch.save(saved, path)
    again, cached = descriptors.describe(loaded, LBP)
    assert not cached and torch.equal(again, first)
    assert "is corrupt (its descriptors do not match the digest" in capsys.readouterr().err
    path.write_bytes(b"truncated")
    assert torch.equal(descriptors.describe(loaded, LBP)[0], first)
    assert "cannot be read" in capsys.readouterr().err
