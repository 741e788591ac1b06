"""The command line starts light: `suite --help`, `--version` and the commands that read the store (`results`,
`show`, `compare`) import neither torch nor matplotlib, and loading the tasks (`suite list`, `suite run --help`)
imports no torch either. Each command runs in a fresh interpreter, which then lists the modules it imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import suite
from tests.stored_fixtures import comparison_store

HEAVY = ("torch", "matplotlib")

# argv[1]: where to write the imported modules; the rest: the command line. main() exits, so `finally` writes them.
PROBE = """
import json, sys
from suite.cli import main
try:
    main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as listing:
        json.dump(sorted(sys.modules), listing)
"""


def run_probe(code: str, *args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`code` in a fresh interpreter with (listing path, *args); its result and the top-level packages imported."""
    listing = cwd / "modules.json"
    env = os.environ | {"COLUMNS": "200"}  # wide enough that table cells are not wrapped
    result = subprocess.run([sys.executable, "-c", code, str(listing), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    return result, {name.split(".")[0] for name in json.loads(listing.read_text())}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("startup") / "r.db"
    comparison_store(path)
    return path


@pytest.mark.parametrize(("args", "expected"), [
    (["--help"], "Run and compare experiments"),
    (["--version"], f"suite {suite.__version__}"),
    (["results"], "experiments in"),
    (["show", "2"], "experiment 2"),
    (["show", "2", "--json"], '"experiment_id": 2'),
    (["compare", "1", "2", "3"], "test_accuracy, each experiment against experiment 1"),
    (["compare", "--task", "mnist", "--format", "markdown"], "| experiment"),
])
def test_reading_commands_import_neither_torch_nor_matplotlib(tmp_path, store, args, expected):
    if args[0] != "--help" and args[0] != "--version":
        args = [*args, "--store", str(store)]
    result, imported = run_probe(PROBE, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_the_top_level_help_loads_no_task(tmp_path):
    result, imported = run_probe(PROBE, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "suite_tasks" not in imported


@pytest.mark.parametrize(("args", "expected"), [
    (["list"], "sweep preset"),
    (["run", "--help"], "mnist"),
    (["run", "mnist", "--help"], "--w-sharing"),
    (["sweep", "lfw", "--help"], "--grid"),
])
def test_loading_the_tasks_imports_no_torch(tmp_path, args, expected):
    result, imported = run_probe(PROBE, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert "suite_tasks" in imported and imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_a_lazy_model_is_imported_when_it_is_built(tmp_path):
    code = """
import json, sys
from suite.core.registry import tasks
task = tasks()["mnist"]
names = list(task.models)
before = "suite_tasks.mnist_pairs.models" in sys.modules or "torch" in sys.modules
builder = task.models.get("baseline").value
json.dump([names, before, builder.__module__, "torch" in sys.modules], open(sys.argv[1], "w"))
"""
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", code, str(listing)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(listing.read_text()) == [["baseline", "siamese"], False, "suite_tasks.mnist_pairs.models", True]


def test_a_lazy_target_names_module_and_attribute():
    from suite import Lazy

    assert Lazy("suite.core.config:BaseConfig.check").resolve().__qualname__ == "BaseConfig.check"
    with pytest.raises(ValueError, match="expected 'package.module:attribute'"):
        Lazy("suite.core.config.BaseConfig")
