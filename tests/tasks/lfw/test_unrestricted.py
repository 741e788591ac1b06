"""LFW's unrestricted training setting: pairs by identity from the training people only."""

import pytest
import torch

from suite.core.errors import SuiteError
from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite_tasks.lfw import unrestricted
from suite_tasks.lfw.config import LfwConfig
from suite_tasks.lfw.task import TASK

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_CACHE_DIR", str(tmp_path / "cache"))


def rows_of(prepared, x: torch.Tensor) -> list[tuple[str, int]]:
    """The (person, image) key of every image in x (N×2×C×S×S), found among the prepared images."""
    keys = {row: key for key, row in prepared.row.items()}
    flat = prepared.images.flatten(1)
    out = []
    for image in x.flatten(0, 1).flatten(1):
        match = torch.nonzero((flat == image).all(1)).flatten().tolist()
        assert len(match) == 1
        out.append(keys[match[0]])
    return out


def test_pairs_come_from_training_people_only_half_matched(lfw_a_tree):
    config = LfwConfig(training="unrestricted", train_pairs=40, size=32, val_fraction=0.0)
    prepared = TASK.prepare(config, lfw_a_tree, False)
    splits = TASK.round_data(prepared, config, RoundSeeds(0, 0).generator("data"), 0)
    train = splits["train"]
    assert len(train["x"]) == 40 and int(train["target"].sum()) == 20
    keys = rows_of(prepared, train["x"])
    people = {name for name, _ in keys}
    assert people <= {"Ann_Lee", "Bob_Ray", "Cat_Poe", "Dan_Orr"}  # the DevTrain people; DevTest's never
    assert ("Ann_Lee", 3) in keys  # an image no DevTrain pair uses: identities give more than the pairs
    for (a, b), same in zip(zip(keys[0::2], keys[1::2], strict=True), train["target"].tolist(), strict=True):
        assert (a[0] == b[0]) == bool(same) and a != b
    restricted = TASK.round_data(TASK.prepare(LfwConfig(size=32, val_fraction=0.0), lfw_a_tree, False),
                                 LfwConfig(size=32, val_fraction=0.0), RoundSeeds(0, 0).generator("data"), 0)
    assert torch.equal(splits["test"]["x"], restricted["test"]["x"])


def test_validation_people_are_not_drawn_from(lfw_a_tree):
    config = LfwConfig(training="unrestricted", train_pairs=30, size=32, val_fraction=0.5)
    prepared = TASK.prepare(config, lfw_a_tree, False)
    splits = TASK.round_data(prepared, config, RoundSeeds(0, 0).generator("data"), 0)
    held_out = {name for name, _ in rows_of(prepared, splits["val"]["x"])}
    assert held_out and not held_out & {name for name, _ in rows_of(prepared, splits["train"]["x"])}


def test_the_setting_is_recorded_with_the_result(tmp_path, lfw_a_tree):
    store = Store(tmp_path / "r.db")
    config = LfwConfig(training="unrestricted", train_pairs=8, model="small", size=72, epochs=1, batch_size=4,
                       val_fraction=0.0)
    outcome = run_experiment(TASK, config, RunPlan(rounds=1, seed=0, device=CPU, store=store, data_dir=lfw_a_tree))
    setting = store.experiment(outcome.experiment_id)["setting"]
    assert setting["LFW setting"].startswith("unrestricted, label-free outside data")
    assert "8 per round" in setting["training pairs"]
    restricted = run_experiment(TASK, LfwConfig(model="small", size=72, epochs=1, batch_size=4, val_fraction=0.0),
                                RunPlan(rounds=1, seed=0, device=CPU, store=store, data_dir=lfw_a_tree))
    assert restricted.experiment_id != outcome.experiment_id  # never pooled with restricted rounds
    assert store.experiment(restricted.experiment_id)["setting"]["LFW setting"].startswith("image-restricted")


def test_too_few_people_is_a_clear_error():
    with pytest.raises(SuiteError, match="at least two people"):
        unrestricted.draw_pairs({"Ann": [("Ann", 1)]}, 4, torch.Generator())
    pairs = unrestricted.draw_pairs({"Ann": [("Ann", 1), ("Ann", 2)], "Bob": [("Bob", 1)]}, 5, torch.Generator())
    assert [p.same for p in pairs] == [True, True, False, False, False]
