"""Executors behind one seam: `suite run` and `suite sweep` train through inline, process or Ray executors and
store the same rounds; executor options are checked before anything is stored."""

import sqlite3
import sys

import pytest
import torch

from suite.core.errors import SuiteError
from suite.execution.executors import Inline, Processes, Ray, make_executor
from suite.results.store import Store
from tests.cli_helpers import suite, suite_here

TINY = ["--pairs", "60", "--epochs", "2", "--batch-size", "20", "--w-sharing", "--aux-loss", "--quiet",
        "--device", "cpu"]


def _stored(path) -> list[tuple]:
    """Every round's metrics, device, curves and scores, as stored (time and memory left out)."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT r.round_index, r.seed, r.metrics, r.device, e.epoch, e.metrics, "
                          "(SELECT group_concat(score) FROM scores s WHERE s.round_id = r.id) "
                          "FROM rounds r JOIN epochs e ON e.round_id = r.id ORDER BY r.round_index, e.epoch"
                          ).fetchall()


@pytest.mark.slow
def test_every_executor_stores_the_same_rounds(tmp_path, fake_mnist):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]')")
    threads = str(torch.get_num_threads())  # the same threads everywhere: oneDNN's sums depend on their number
    stores = {}
    for executor, extra in (("inline", []), ("process", []), ("ray", ["--cpus-per-task", threads])):
        stores[executor] = tmp_path / f"{executor}.db"
        done = suite("run", "mnist", "--rounds", "4", *TINY, "--executor", executor, *extra,
                     "--store", str(stores[executor]), cwd=tmp_path, data_dir=fake_mnist,
                     env={"OMP_NUM_THREADS": threads})
        assert done.returncode == 0, done.stderr
        assert len(Store(stores[executor]).rounds(1)) == 4
    inline = _stored(stores["inline"])
    assert len(inline) > 4
    assert _stored(stores["process"]) == inline  # bit for bit
    assert _stored(stores["ray"]) == inline


@pytest.mark.parametrize(("args", "message"), [
    (["--executor", "dask"], "--executor: 'dask' is not one of inline, process, ray"),
    (["--executor", "ray", "--workers", "2"], "--workers is for --executor process"),
    (["--max-retries", "-1"], "--max-retries must be >= 0"),
    (["--executor", "process", "--compile", "--parallel-rounds", "2"], "--compile works on one round at a time"),
])
def test_bad_executor_options_are_one_line_and_store_nothing(tmp_path, fake_mnist, args, message):
    result = suite_here("run", "mnist", "--rounds", "2", "--store", str(tmp_path / "r.db"), *args,
                        cwd=tmp_path, data_dir=fake_mnist)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.db").exists() or Store(tmp_path / "r.db").experiments().empty


def test_run_without_ray_installed_says_how_to_install_it(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray raises on import
    result = suite_here("run", "mnist", "--rounds", "1", "--executor", "ray", "--store", str(tmp_path / "r.db"),
                        cwd=tmp_path, data_dir=fake_mnist)
    assert result.returncode == 2
    assert "--executor ray needs Ray, an optional extra: pip install -e '.[ray]'" in result.stderr


def test_make_executor_picks_what_the_options_say():
    assert isinstance(make_executor("inline"), Inline)
    assert make_executor("inline", workers=3) == Processes(3)  # --workers N implies local processes
    assert make_executor("process") == Processes(1)
    assert make_executor("ray", ray_options={"cpus": 2.0, "gpus": 0.5}) == Ray(cpus=2.0, gpus=0.5)
    with pytest.raises(SuiteError, match="--cpus-per-task > 0"):
        make_executor("inline", ray_options={"cpus": 0})
