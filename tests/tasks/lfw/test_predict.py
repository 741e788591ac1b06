"""`suite predict lfw`: a round's saved model scores its own test pairs again as it scored them when measured
(CNN on pixels and LBP metric learning with the round's whitening), and new images of any size."""

import io

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.io import decode_jpeg, read_file, write_png

import suite
from tests.cli_helpers import suite_here

CNN = ["--model", "small", "--size", "72", "--epochs", "1", "--val-fraction", "0"]
LBP = ["--features", "lbp", "--model", "metric", "--distance", "cosine", "--pca-dims", "4", "--epochs", "3",
       "--val-fraction", "0", "--tta", "flip"]


def run_and_predict(tmp_path, data, options, pairs="pairsDevTest.txt"):
    env = {"SUITE_CACHE_DIR": str(tmp_path / "cache")}
    store = tmp_path / "l.db"
    ran = suite_here("run", "lfw", *options, "--rounds", "1", "--store", str(store), "--data-dir", str(data),
                     "--quiet", "--device", "cpu", "--save-models", "best", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    done = suite_here("predict", "lfw", "--experiment", "1", "--pairs", str(data / "lfw-a" / pairs), "--store",
                      str(store), "--data-dir", str(data), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return store, pd.read_csv(io.StringIO(done.stdout)), done.stderr


@pytest.mark.parametrize("options", [CNN, LBP], ids=["cnn", "lbp"])
def test_the_test_pairs_score_as_stored(tmp_path, lfw_a_tree, options) -> None:
    store, predicted, said = run_and_predict(tmp_path, lfw_a_tree, options)
    results = suite.open(store)
    round_ = results.rounds(1).iloc[0]
    stored = results.scores(int(round_["round_id"]))
    np.testing.assert_allclose(predicted["P(same person)"].to_numpy(), stored["score"].to_numpy(), atol=1e-6)
    assert list(predicted["target"]) == ["same person" if t else "different people" for t in stored["target"]]
    assert f"accuracy {100 * round_['test_accuracy']:.2f} % at threshold 0.5" in said
    assert f"its stored test_accuracy: {100 * round_['test_accuracy']:.2f} %" in said


@pytest.mark.parametrize("options", [CNN, LBP], ids=["cnn", "lbp"])
def test_two_images_of_any_size(tmp_path, lfw_a_tree, options) -> None:
    store, predicted, _ = run_and_predict(tmp_path, lfw_a_tree, options)
    root = lfw_a_tree / "lfw-a" / "lfw2"
    first, second = root / "Eve_Fox" / "Eve_Fox_0001.jpg", root / "Eve_Fox" / "Eve_Fox_0002.jpg"
    shown = suite_here("predict", "lfw", str(first), str(second), "--experiment", "1", "--store", str(store),
                       cwd=tmp_path, env={"COLUMNS": "250", "SUITE_CACHE_DIR": str(tmp_path / "cache")})
    assert shown.returncode == 0, shown.stderr
    same_files = float(predicted.loc[predicted["pair"] == "Eve_Fox 1 vs Eve_Fox 2", "P(same person)"].iloc[0])
    assert f"{same_files:.4f}" in shown.stdout  # the files themselves score as their pair in the pairs file
    image = decode_jpeg(read_file(str(first)))
    small = torch.nn.functional.interpolate(image[None].float(), size=(120, 100), mode="bilinear")[0]
    write_png(small.round().to(torch.uint8), str(tmp_path / "small.png"))
    resized = suite_here("predict", "lfw", str(tmp_path / "small.png"), str(second), "--experiment", "1",
                         "--store", str(store), cwd=tmp_path, env={"SUITE_CACHE_DIR": str(tmp_path / "cache")})
    assert resized.returncode == 0, resized.stderr
    one = suite_here("predict", "lfw", str(first), "--experiment", "1", "--store", str(store), cwd=tmp_path)
    assert one.returncode == 2 and "lfw: predict takes two image files (a pair), got 1" in one.stderr
    missing = suite_here("predict", "lfw", str(first), str(tmp_path / "none.jpg"), "--experiment", "1", "--store",
                         str(store), cwd=tmp_path)
    assert missing.returncode == 2 and "none.jpg: no such file" in missing.stderr


@pytest.mark.slow
def test_on_real_lfw_a_the_round_s_test_accuracy_is_reproduced(tmp_path, lfw_data_dir) -> None:
    store, predicted, said = run_and_predict(tmp_path, lfw_data_dir, ["--model", "small", "--size", "72",
                                                                      "--epochs", "1"])
    results = suite.open(store)
    round_ = results.rounds(1).iloc[0]
    stored = results.scores(int(round_["round_id"]))
    assert len(predicted) == 1000
    np.testing.assert_allclose(predicted["P(same person)"].to_numpy(), stored["score"].to_numpy(), atol=1e-5)
    accuracy = np.mean((predicted["P(same person)"].to_numpy() >= 0.5) == (predicted["target"] == "same person"))
    assert accuracy == round_["test_accuracy"]
    assert f"its stored test_tuned_accuracy: {100 * round_['test_tuned_accuracy']:.2f} %" in said
