"""Each round records the code it ran with; a rerun reuses only rounds of the same code, trains the others again
(and says so), and reuses them all when asked. Stores from before code identities (schema 5) migrate with an
unknown identity, reused only when asked."""

import dataclasses
import importlib
import io
import shutil
import sqlite3
import sys

import pytest
import torch

from suite.core import identity
from suite.core.identity import UNKNOWN, code_identity
from suite.execution.runner import RunPlan, run_experiment
from suite.report.progress import PlainLog
from suite.results.store import SCHEMA_VERSION, Store
from tests.conftest import REPO
from tests.toy_task import TASK as TOY

CPU = torch.device("cpu")


@pytest.fixture
def task_package(tmp_path, monkeypatch):
    """The toy task as a package of its own in tmp_path, so a test can edit its source as a user edits theirs."""
    package = tmp_path / "edited_toy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(REPO / "tests" / "toy_task.py", package / "task.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited_toy.task")
    yield module.TASK, package / "task.py"
    for name in ("edited_toy.task", "edited_toy"):
        sys.modules.pop(name, None)
    identity._digest.cache_clear()


def _edit(source) -> None:
    """A code change that changes nothing the rounds compute: still another version of the code."""
    source.write_text(source.read_text() + "\n# an edit\n")
    identity._digest.cache_clear()  # the digest is computed once per process; a new command sees edits anyway


def test_the_identity_digests_the_framework_and_the_task_package(task_package):
    task, source = task_package
    before = code_identity(task)
    assert len(before.digest) == 16 and before.digest != UNKNOWN
    assert before == code_identity(task)
    _edit(source)
    assert code_identity(task).digest != before.digest  # an uncommitted edit counts
    assert code_identity(TOY).digest != code_identity(task).digest  # each task's own sources


def test_a_rerun_after_a_code_edit_trains_again_and_says_so(tmp_path, task_package):
    task, source = task_package
    config = task.config_cls(pairs=40, epochs=1)
    log = io.StringIO()
    plan = RunPlan(store=Store(tmp_path / "r.db"), data_dir=tmp_path, rounds=2, device=CPU,
                   reporter=lambda planned: PlainLog(log))
    first = run_experiment(task, config, plan)
    assert (first.ran, first.reused) == (2, 0)
    again = run_experiment(task, config, plan)
    assert (again.ran, again.reused) == (0, 2)  # same code: reused
    _edit(source)
    retrained = run_experiment(task, config, plan)
    assert (retrained.ran, retrained.reused) == (2, 0)
    assert "2 round(s) stored by another code version; training them again" in log.getvalue()
    versions = plan.store.code_versions(first.experiment_id)
    assert [v["rounds"] for v in versions] == [2] and versions[0]["code_digest"] == code_identity(task).digest
    assert len(plan.store.rounds(first.experiment_id)) == 2  # replaced, not added

    _edit(source)
    reused = run_experiment(task, config, dataclasses.replace(plan, reuse_any_code=True))
    assert (reused.ran, reused.reused) == (0, 2)


def test_rounds_stored_before_code_identities_are_reused_only_when_asked(tmp_path):
    path = tmp_path / "old.db"
    config = TOY.config_cls(pairs=40, epochs=1)
    plan = RunPlan(store=Store(path), data_dir=tmp_path, rounds=2, device=CPU)
    run_experiment(TOY, config, plan)
    plan.store.close()
    with sqlite3.connect(path) as db:  # the store as schema 5 left it
        db.execute("ALTER TABLE rounds DROP COLUMN code_digest")
        db.execute("ALTER TABLE rounds DROP COLUMN code_commit")
        db.execute("PRAGMA user_version = 5")
    upgraded = Store(path)
    assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [v["code_digest"] for v in upgraded.code_versions(1)] == [UNKNOWN]
    plan = RunPlan(store=upgraded, data_dir=tmp_path, rounds=2, device=CPU)
    assert run_experiment(TOY, config, dataclasses.replace(plan, reuse_any_code=True)).reused == 2
    assert run_experiment(TOY, config, plan).ran == 2  # the unknown code matches no code
    assert [v["code_digest"] for v in upgraded.code_versions(1)] == [code_identity(TOY).digest]


def test_a_replaced_round_goes_only_with_its_successor(tmp_path):
    from tests.stored_fixtures import round_result

    store = Store(tmp_path / "r.db")
    experiment = store.ensure_experiment("toy", "abc", {}, {"code_version": "x", "torch_version": "x",
                                                          "python_version": "x", "device": "cpu"})
    store.add_group(experiment, 0, [0], [round_result(0.5)])
    assert store.add_group(experiment, 0, [0], [round_result(0.7)]) == []  # not replacing: the stored one stays
    assert store.rounds(experiment)["test_accuracy"].tolist() == [0.5]
    broken = round_result(0.9)
    broken.epoch_seconds = []  # curves without timings: refused inside the transaction
    with pytest.raises(ValueError):
        store.add_group(experiment, 0, [0], [broken], replacing=[0])
    assert store.rounds(experiment)["test_accuracy"].tolist() == [0.5]  # the old round is still there
    store.add_group(experiment, 0, [0], [round_result(0.8)], replacing=[0])
    assert store.rounds(experiment)["test_accuracy"].tolist() == [0.8]


def test_show_lists_the_code_versions_and_run_can_reuse_any(tmp_path, fake_mnist):
    from tests.cli_helpers import suite_here

    args = ["run", "mnist", "--rounds", "2", "--pairs", "40", "--epochs", "1", "--quiet", "--device", "cpu",
            "--store", str(tmp_path / "r.db")]
    assert suite_here(*args, cwd=tmp_path, data_dir=fake_mnist).returncode == 0
    digest = Store(tmp_path / "r.db").code_versions(1)[0]["code_digest"]
    shown = suite_here("show", "1", "--store", str(tmp_path / "r.db"), cwd=tmp_path, env={"COLUMNS": "200"})
    assert shown.returncode == 0 and "code versions of the rounds" in shown.stdout and digest in shown.stdout
    again = suite_here(*args, "--reuse-any-code", cwd=tmp_path, data_dir=fake_mnist)
    assert again.returncode == 0 and "2 reused from the store" in again.stderr
