"""The example task package (examples/pair_task): held to the task contract (tests/test_task_contract.py) as an
installed task is, and installed and run end to end by its own script, as docs/extending.md tells a newcomer to."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from suite import Task
from tests.conftest import REPO
from tests.test_task_contract import DATA_CHECKS, DECLARATION_CHECKS, check_model_builds

EXAMPLE = REPO / "examples" / "pair_task"


@pytest.fixture(scope="module")
def example() -> Iterator[Task]:
    """The example's TASK, imported from its source folder (it is not installed in this environment); the folder
    stays on the path while the checks run, as building its models and pickling it import its modules."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE))
        yield importlib.import_module("suite_example_pairs.task").TASK


@pytest.mark.parametrize("check", DECLARATION_CHECKS + DATA_CHECKS, ids=lambda check: check.__name__)
def test_the_example_keeps_the_task_contract(example: Task, check: Callable[[Task], None]) -> None:
    check(example)


def test_every_model_of_the_example_builds(example: Task) -> None:
    for model in example.models:
        check_model_builds(example, model)


@pytest.mark.slow  # pip installs the package, then six Python processes import torch
def test_the_example_runs_end_to_end(tmp_path) -> None:
    result = subprocess.run(["bash", str(EXAMPLE / "run_end_to_end.sh"), sys.executable, str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    entry_points = next((tmp_path / "site").glob("suite_example_pairs-*.dist-info")) / "entry_points.txt"
    assert "pairs = suite_example_pairs.task:TASK" in entry_points.read_text()
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# pairs: test accuracy of 2 experiments")
    assert "Task pairs, 2 experiments" in markdown and "(figures/roc.png)" in markdown
    assert "Gallery of experiment 1 skipped: its test inputs are not pairs of images" in markdown
    assert "<title>pairs: test accuracy of 2 experiments</title>" in (tmp_path / "report" / "report.html").read_text()
    assert "pairs: round 0 (seed 0)" in result.stdout  # suite predict's table
