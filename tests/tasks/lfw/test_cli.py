"""`suite data stats|prepare lfw` and `suite run lfw` as a user runs them."""

import pytest
import torch
from torchvision.io import write_jpeg

from suite.results.store import Store
from tests.cli_helpers import suite


@pytest.mark.slow
def test_data_stats_on_real_lfw_a(tmp_path, lfw_data_dir):
    result = suite("data", "stats", "lfw", cwd=tmp_path, data_dir=lfw_data_dir, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    images = next(line for line in result.stdout.splitlines() if "lfw-a" in line and "13233" in line)
    assert [cell.strip() for cell in images.split("│")[3:8]] == ["5749", "13233", "2.302", "9.016", "1680"]
    dev_train = next(line for line in result.stdout.splitlines() if "pairsDevTrain.txt" in line)
    assert [cell.strip() for cell in dev_train.split("│")[3:6]] == ["2200", "1100", "1100"]
    dev_test = next(line for line in result.stdout.splitlines() if "pairsDevTest.txt" in line)
    assert [cell.strip() for cell in dev_test.split("│")[3:6]] == ["1000", "500", "500"]


@pytest.mark.parametrize("damage,message", [
    (lambda tree: (tree / "lfw-a" / "lfw2" / "Bob_Ray" / "Bob_Ray_0002.jpg").unlink(),
     "pairsDevTrain.txt line 3"),
    (lambda tree: (tree / "lfw-a" / "pairsDevTest.txt").write_text("7\nEve_Fox\t1\t2\n"), "pairsDevTest.txt"),
    (lambda tree: (tree / "lfw-a" / "lfw2" / "Ann_Lee" / "Ann_Lee_0001.jpg").write_bytes(b"\xff\xd8\xff\xe0"),
     "Ann_Lee_0001.jpg"),
    (lambda tree: [write_jpeg(torch.full((1, 250, 250), 128, dtype=torch.uint8), str(path))
                   for path in (tree / "lfw-a" / "lfw2").glob("*/*.jpg")],
     "are constant (std 0"),  # every image one grey: constant, refused when the data is prepared
])
@pytest.mark.slow
def test_bad_data_is_one_line_and_exit_2(tmp_path, lfw_a_tree, damage, message):
    damage(lfw_a_tree)
    store = tmp_path / "r.db"
    result = suite("run", "lfw", "--model", "small", "--size", "72", "--epochs", "1", "--rounds", "1",
                   "--store", str(store), cwd=tmp_path, data_dir=lfw_a_tree,
                   env={"SUITE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("suite: error:") and message in lines[0], result.stderr


@pytest.mark.slow
def test_too_small_input_is_refused(tmp_path, lfw_a_tree):
    result = suite("run", "lfw", "--size", "40", "--rounds", "1", "--store", str(tmp_path / "r.db"),
                   cwd=tmp_path, data_dir=lfw_a_tree, env={"SUITE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2 and "too small" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.db").exists()  # the model is built before the store is created


@pytest.mark.slow
def test_a_diverging_run_is_stored_as_diverged(tmp_path, lfw_a_tree):
    result = suite("run", "lfw", "--model", "small", "--size", "72", "--epochs", "2", "--rounds", "2",
                   "--optimizer", "sgd", "--lr", "1e38", "--quiet", "--store", str(tmp_path / "r.db"),
                   cwd=tmp_path, data_dir=lfw_a_tree, env={"SUITE_CACHE_DIR": str(tmp_path / "cache"),
                                                           "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "2 rounds: 0 finished, 2 diverged" in result.stdout and "Traceback" not in result.stderr
    assert Store(tmp_path / "r.db", readonly=True).experiments()["diverged"].tolist() == [2]


@pytest.mark.slow
def test_report_draws_face_pair_galleries_and_images_per_person(tmp_path, lfw_a_tree):
    env = {"SUITE_CACHE_DIR": str(tmp_path / "cache")}
    for model in ("small", "koch"):
        run = suite("run", "lfw", "--model", model, "--size", "72", "--width", "0.25", "--epochs", "1",
                    "--rounds", "2", "--val-fraction", "0", "--quiet", "--store", str(tmp_path / "r.db"),
                    cwd=tmp_path, data_dir=lfw_a_tree, env=env)
        assert run.returncode == 0, run.stderr
    result = suite("report", "--task", "lfw", "--store", str(tmp_path / "r.db"), "--out", str(tmp_path / "rep"),
                   cwd=tmp_path, data_dir=lfw_a_tree, env=env)
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "rep" / "report.md").read_text()
    for stem in ("gallery_1", "gallery_2", "distribution_0", "label_balance", "roc"):
        assert (tmp_path / "rep" / "figures" / f"{stem}.png").stat().st_size > 1000, stem
    assert "Images per person in LFW (10 people)" in markdown
    assert "LFW setting: image-restricted" in markdown
