"""Sweeps choose on validation when every cell has it, so the best cell is never picked by its test accuracy."""

import pytest

from tests.cli_helpers import suite_here

TINY = ["--pairs", "60", "--epochs", "1", "--batch-size", "20", "--rounds", "2", "--quiet", "--device", "cpu"]


@pytest.mark.parametrize("extra, ranked", [(["--val-fraction", "0.2"], "val_accuracy"), ([], "test_accuracy"),
                                           (["--val-fraction", "0.2", "--metric", "test_loss"], "test_loss")])
def test_the_ranking_metric_is_validation_first(tmp_path, fake_mnist, extra, ranked) -> None:
    done = suite_here("sweep", "mnist", "--grid", "lr=1e-3,1e-2", *TINY, *extra, "--store", str(tmp_path / "s.db"),
                      "--data-dir", str(fake_mnist), cwd=tmp_path, env={"COLUMNS": "250"})
    assert done.returncode == 0, done.stderr
    assert f"2 cells × 2 rounds, {ranked}, best first" in " ".join(done.stdout.split())
    chosen = ["--metric", ranked] if "--metric" in extra else []  # the report ranks as the sweep did
    report = suite_here("report", "--sweep", "1", *chosen, "--store", str(tmp_path / "s.db"), "--out",
                        str(tmp_path / "r"), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert ranked in (tmp_path / "r" / "report.md").read_text()
