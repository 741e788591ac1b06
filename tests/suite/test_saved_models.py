"""Saved models (--save-models) and `suite predict`: files beside the store that reproduce the stored scores, kept
in step with the rounds, refused by name when changed or lost; and no pickle anywhere in the package."""

import ast
import hashlib
import json
import sqlite3

import numpy as np
import pytest
import torch
from safetensors import safe_open

import suite
from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution import prediction
from suite.results.store import Store
from suite_tasks.mnist_pairs.data import draw_pairs, load_digits
from suite_tasks.mnist_pairs.task import MnistConfig
from tests.cli_helpers import suite_here
from tests.conftest import REPO
from tests.toy_task import TASK as TOY

TINY = ["--pairs", "60", "--epochs", "2", "--batch-size", "20", "--quiet", "--device", "cpu"]


def saved(store) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT r.round_index, m.kind, m.path, m.sha256 FROM models m JOIN rounds r"
                          " ON r.id = m.round_id ORDER BY r.round_index").fetchall()


def test_weights_are_saved_beside_the_store_with_their_digest_and_header(tmp_path) -> None:
    store = tmp_path / "toy.db"
    experiment = suite.run(TOY, rounds=3, store=store, epochs=2, save_models="best", progress=False)
    rows = saved(store)
    assert [r[0] for r in rows] == [0, 1, 2] and {r[1] for r in rows} == {"best"}
    for index, _, path, digest in rows:
        file = tmp_path / path
        assert file.parent == tmp_path / "toy.models" / f"experiment-{experiment.id}"
        assert hashlib.sha256(file.read_bytes()).hexdigest() == digest
        with safe_open(str(file), framework="pt") as opened:
            header = opened.metadata()
            assert json.loads(header["config"]) == experiment.config and header["kind"] == "best"
            assert header["round_index"] == str(index) and header["task"] == "toy"
            assert all(name.startswith("model.") for name in opened.keys())  # noqa: SIM118
    # the weights are the round's: they reproduce its stored test accuracy (in-process: toy is not installed)
    record = Store(store, readonly=True).models(experiment.id)[0]
    model = prediction.load(TOY, Store(store).experiment(experiment.id), record, torch.device("cpu"))
    assert model.saved.metrics["test_accuracy"] == pytest.approx(experiment.rounds["test_accuracy"].iloc[0])
    with pytest.raises(SuiteError, match="task toy does not support predict"):
        prediction.run_predictions(TOY, Store(store, readonly=True), experiment.id, [record], [tmp_path], None, None,
                                   torch.device("cpu"))


def test_rounds_without_models_are_trained_again_and_fresh_removes_the_files(tmp_path) -> None:
    store = tmp_path / "toy.db"
    suite.run(TOY, rounds=2, store=store, epochs=2, progress=False)
    assert saved(store) == []
    suite.run(TOY, rounds=2, store=store, epochs=2, save_models="final", progress=False)
    first = saved(store)
    assert [(r[0], r[1]) for r in first] == [(0, "final"), (1, "final")]
    suite.run(TOY, rounds=2, store=store, epochs=2, save_models="final", progress=False)
    assert saved(store) == first  # reused: nothing trained or written again
    suite.run(TOY, rounds=2, store=store, epochs=2, fresh=True, progress=False)
    assert saved(store) == [] and not list((tmp_path / "toy.models").rglob("*.safetensors"))
    with pytest.raises(SuiteError, match="--save-models: 'all' is not one of: best, final"):
        suite.run(TOY, store=store, save_models="all", progress=False)


def test_test_pairs_predicted_again_score_exactly_as_stored(tmp_path, fake_mnist) -> None:
    store = tmp_path / "m.db"
    ran = suite_here("run", "mnist", "--rounds", "2", "--store", str(store), "--data-dir", str(fake_mnist), *TINY,
                     "--aux-loss", "--save-models", "best", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    # round 1's raw test pairs, drawn again from its data stream as round_data draws them
    config = MnistConfig(pairs=60)
    digits = load_digits(fake_mnist)
    generator = RoundSeeds(0, 1).generator("data")
    draw_pairs(digits.train_images, digits.train_labels, [config.pairs, config.val_pairs], generator)
    (test,) = draw_pairs(digits.test_images, digits.test_labels, [config.pairs], generator)
    np.save(tmp_path / "test.npy", test["x"].numpy())
    done = prediction.run_predictions(suite_task("mnist"), Store(store, readonly=True), 1,
                                      prediction.chosen_models(Store(store, readonly=True), 1, 1, False, None),
                                      [tmp_path / "test.npy"], None, None, torch.device("cpu"))
    stored = suite.open(store).rounds(1).query("round_index == 1")["round_id"].iloc[0]
    np.testing.assert_array_equal(done.scores.iloc[:, 0].to_numpy(), suite.open(store).scores(int(stored))["score"])
    assert len(done.columns["first digit"]) == 60  # the auxiliary head's digits
    shown = suite_here("predict", "mnist", str(tmp_path / "test.npy"), "--experiment", "1", "--all-rounds",
                       "--store", str(store), cwd=tmp_path, env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "2 of 2" in shown.stdout or "1 of 2" in shown.stdout or "0 of 2" in shown.stdout
    assert "first digit" in shown.stdout


def suite_task(name):
    from suite.core.registry import get_task

    return get_task(name)


@pytest.fixture
def mnist_store(tmp_path, fake_mnist):
    store = tmp_path / "m.db"
    ran = suite_here("run", "mnist", "--rounds", "2", "--store", str(store), "--data-dir", str(fake_mnist), *TINY,
                     "--save-models", "best", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    ran = suite_here("run", "mnist", "--rounds", "1", "--store", str(store), "--data-dir", str(fake_mnist), *TINY,
                     "--lr", "0.01", cwd=tmp_path)  # experiment 2: no saved models
    assert ran.returncode == 0, ran.stderr
    digits = load_digits(fake_mnist)
    np.save(tmp_path / "pair.npy", digits.test_images[:2].numpy())
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    from torchvision.io import write_png

    write_png(digits.test_images[0].to(torch.uint8)[None], str(tmp_path / "small.png"))  # 14×14: pooled already
    write_png(torch.zeros(1, 20, 20, dtype=torch.uint8), str(tmp_path / "odd.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return store


@pytest.mark.parametrize("args, message", [
    (["pair.npy", "--experiment", "2"], "experiment 2 in STORE has no saved models; run it with --save-models"),
    (["pair.npy", "--experiment", "1"], "experiment 1 has saved models of rounds 0 (seed 0), 1 (seed 0): choose"),
    (["pair.npy", "--experiment", "1", "--round", "5"], "--round 5: experiment 1 has saved models of rounds 0"),
    (["pair.npy", "--experiment", "1", "--round", "0", "--all-rounds"], "--round and --all-rounds: choose one"),
    (["pair.npy", "--experiment", "9", "--round", "0"], "no experiment 9 in"),
    (["missing.npy", "--experiment", "1", "--round", "0"], "missing.npy: no such file"),
    (["objects.npy", "--experiment", "1", "--round", "0"], "objects.npy: not a readable .npy array"),
    (["small.png", "odd.png", "--experiment", "1", "--round", "0"], "odd.png is 20×20; MNIST digits are 28×28"),
    (["small.png", "broken.png", "--experiment", "1", "--round", "0"], "cannot decode image"),
    (["small.png", "--experiment", "1", "--round", "0"], "mnist: predict takes two digit images or one .npy"),
    (["--experiment", "1", "--round", "0"], "nothing to predict"),
    (["--pairs", "p.txt", "--experiment", "1", "--round", "0"], "mnist: --pairs FILE is not supported"),
])
def test_bad_predict_input_is_one_line(tmp_path, mnist_store, args, message) -> None:
    done = suite_here("predict", "mnist", *args, "--store", str(mnist_store), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert message.replace("STORE", str(mnist_store)) in done.stderr


def test_another_task_and_a_task_without_predict_are_refused(tmp_path, mnist_store) -> None:
    other = suite_here("predict", "lfw", "a.jpg", "b.jpg", "--experiment", "1", "--store", str(mnist_store),
                       cwd=tmp_path)
    assert other.returncode == 2 and "experiment 1 is a mnist experiment, not lfw" in other.stderr


def test_a_changed_or_lost_file_is_refused_by_name(tmp_path, mnist_store) -> None:
    rows = saved(mnist_store)
    first, second = tmp_path / rows[0][2], tmp_path / rows[1][2]
    args = ["predict", "mnist", "pair.npy", "--experiment", "1", "--store", str(mnist_store)]
    ok = suite_here(*args, "--round", "0", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    data = bytearray(first.read_bytes())
    data[-1] ^= 1
    first.write_bytes(bytes(data))
    changed = suite_here(*args, "--round", "0", cwd=tmp_path)
    assert changed.returncode == 2 and f"saved model {first}: changed since it was saved" in changed.stderr
    second.unlink()
    lost = suite_here(*args, "--round", "1", cwd=tmp_path)
    assert lost.returncode == 2 and f"saved model {second}: missing" in lost.stderr


def test_weights_of_another_configuration_are_refused(tmp_path, mnist_store, fake_mnist) -> None:
    ran = suite_here("run", "mnist", "--rounds", "1", "--store", str(mnist_store), "--data-dir", str(fake_mnist),
                     *TINY, "--hidden", "8", "--save-models", "best", cwd=tmp_path)  # experiment 3
    assert ran.returncode == 0, ran.stderr
    with sqlite3.connect(mnist_store) as db:  # experiment 1's round 0 pointing at experiment 3's file
        path, digest = db.execute("SELECT m.path, m.sha256 FROM models m JOIN rounds r ON r.id = m.round_id"
                                  " WHERE r.experiment_id = 3").fetchone()
        db.execute("UPDATE models SET path = ?, sha256 = ? WHERE round_id = (SELECT id FROM rounds WHERE"
                   " experiment_id = 1 AND round_index = 0)", (path, digest))
    done = suite_here("predict", "mnist", "pair.npy", "--experiment", "1", "--round", "0", "--store",
                      str(mnist_store), cwd=tmp_path)
    assert done.returncode == 2 and "weights of another configuration" in done.stderr


def test_a_digit_pair_from_images(tmp_path, mnist_store) -> None:
    done = suite_here("predict", "mnist", "small.png", "small.png", "--experiment", "1", "--round", "1", "--store",
                      str(mnist_store), cwd=tmp_path, env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "small.png vs small.png" in done.stdout and "P(first <= second)" in done.stdout


def package_files(root=REPO):
    return sorted(p for folder in ("suite", "suite_tasks") for p in (root / folder).rglob("*.py"))


def pickle_problems(root=REPO) -> list[str]:
    """Where the package could run code from what it reads: a pickle module imported, torch.load without
    weights_only=True, np.load without allow_pickle=False."""
    problems = []
    for path in package_files(root):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any((n or "").split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "joblib")
                       for n in names):
                    problems.append(f"{where}: imports a pickle module")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                keywords = {k.arg: k.value for k in node.keywords}
                target = ast.unparse(node.func)
                if target == "torch.load" and not _is_constant(keywords.get("weights_only"), True):
                    problems.append(f"{where}: torch.load without weights_only=True")
                if target in ("np.load", "numpy.load") and not _is_constant(keywords.get("allow_pickle"), False):
                    problems.append(f"{where}: np.load without allow_pickle=False")
    return problems


def _is_constant(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def test_no_pickle_anywhere_in_the_package() -> None:
    assert len(package_files()) > 40  # the scan sees the package
    assert pickle_problems() == []


def test_the_scan_finds_what_it_forbids(tmp_path) -> None:
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite_tasks").mkdir()
    (tmp_path / "suite" / "bad.py").write_text("import pickle\nimport torch\ntorch.load('x')\n"
                                               "torch.load('y', weights_only=False)\n")
    (tmp_path / "suite_tasks" / "worse.py").write_text("import numpy as np\nfrom dill import loads\nnp.load('z')\n"
                                                 "torch.load('w', weights_only=True)\n")
    assert sorted(pickle_problems(tmp_path)) == [
        "suite/bad.py:1: imports a pickle module", "suite/bad.py:3: torch.load without weights_only=True",
        "suite/bad.py:4: torch.load without weights_only=True", "suite_tasks/worse.py:2: imports a pickle module",
        "suite_tasks/worse.py:3: np.load without allow_pickle=False"]
