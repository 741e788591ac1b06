"""`suite report` on a task whose pairs are vectors, not images (the toy task, tests/toy_task.py): the report is
written with its data figures and says why it has no gallery, where it used to fail drawing one."""

from pathlib import Path

import pytest
import torch

import suite
from suite.core import registry
from suite.report.document import displayable_pair
from tests.cli_helpers import suite_here
from tests.toy_task import TASK as TOY


@pytest.mark.parametrize(("shape", "displayable"), [
    ((2, 14, 14), True), ((2, 1, 105, 105), True), ((2, 3, 8, 8), True),
    ((2, 4), False), ((8,), False), ((), False), ((2, 2, 8, 8), False), ((3, 8, 8), False), ((2, 3, 8, 8, 1), False),
])
def test_only_pairs_of_images_are_displayable(shape, displayable):
    assert displayable_pair(torch.zeros(shape)) is displayable


@pytest.fixture
def toy_store(tmp_path, monkeypatch) -> Path:
    """A store with a toy experiment and its test scores, the toy task found by name as an installed task is."""
    monkeypatch.setitem(registry.tasks(), TOY.name, TOY)
    store = tmp_path / "toy.db"
    suite.run(TOY, rounds=2, store=store, epochs=2, progress=False)
    return store


@pytest.mark.parametrize("data_dir", [False, True], ids=["no data directory", "a data directory"])
def test_report_on_vector_pairs_says_why_it_has_no_gallery(tmp_path, toy_store, data_dir):
    """The toy task draws its data, so the data figures need no data directory; with or without one, its 2×4
    vector pairs get a sentence instead of a gallery."""
    data = tmp_path / "data"
    if data_dir:
        data.mkdir()
    result = suite_here("report", "--task", "toy", "--store", str(toy_store), "--out", str(tmp_path / "rep"),
                        cwd=tmp_path, data_dir=data if data_dir else None)
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert ("Gallery of experiment 1 skipped: its test inputs are not pairs of images (each input is 2×4; a gallery "
            "shows 2×H×W or 2×C×H×W, with 1 or 3 channels).") in markdown
    assert "(figures/label_balance.png)" in markdown and "(figures/roc.png)" in markdown
    assert "Data figures and galleries skipped" not in markdown
    assert not list((tmp_path / "rep" / "figures").glob("gallery_*"))
    assert (tmp_path / "rep" / "report.html").is_file()
