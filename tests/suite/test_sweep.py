"""suite sweep: grids validated before anything runs, cells as experiments, resuming, the table, executors.

The runner and executor tests run the toy task (tests/toy_task.py); grid parsing, presets and the command line
run MNIST's, whose fields and rules they name."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from suite.core import grid
from suite.core.errors import SuiteError
from suite.core.metrics import declaration
from suite.execution import sweep
from suite.execution.executors import Executor, Inline, Ray, check_ray
from suite.execution.runner import RunPlan
from suite.results import sweeps
from suite.results.store import Store
from suite_tasks.mnist_pairs.task import TASK as MNIST
from tests.cli_helpers import suite, suite_here
from tests.conftest import REPO
from tests.toy_task import TASK as TOY
from tests.toy_task import ToyConfig

M_TEST_ACCURACY = declaration(TOY, "test_accuracy")
M_TEST_LOSS = declaration(TOY, "test_loss")

CPU = torch.device("cpu")
TINY = {"pairs": 60, "epochs": 2, "batch_size": 20}
NO_DATA = Path("no-data")  # the toy task draws its data from each round's generator


def _sweep(store: Store, data_dir, axes: dict, rounds: int, executor: Executor | None = None, fixed=TINY,
           task=TOY, **kwargs):
    cells = grid.make_cells(task, fixed, grid.product(axes))
    spec_hash, spec = grid.sweep_spec(task, fixed, cells, rounds, 0, None)
    plan = RunPlan(store=store, data_dir=data_dir, device=CPU, executor=executor or Inline(),
                   **{"parallel_rounds": None, **kwargs})
    return sweep.run_sweep(task, cells, spec_hash, spec, plan)


def test_grid_values_are_read_with_each_field_type():
    axes = grid.parse_grid(MNIST, ["lr=1e-3,0.01", "w-sharing=true,false", "batch_size=25,50"])
    assert axes == {"lr": [0.001, 0.01], "w_sharing": [True, False], "batch_size": [25, 50]}
    assert grid.product({"a": [1, 2], "b": ["x", "y"]}) == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                              {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


@pytest.mark.parametrize(("items", "message"), [
    (["lr"], "--grid 'lr': expected FIELD=V1,V2"),
    (["lr=1e-3,,1e-2"], "empty value"),
    (["lr=1e-3", "lr=1e-2"], "--grid lr: given twice"),
    (["lr=0.001,1e-3"], "--grid lr: a value is repeated"),
    (["colour=1,2"], "unknown option 'colour'"),
    (["epochs=1,many"], "epochs: expected int, got 'many'"),
])
def test_bad_grids_are_refused(items, message):
    with pytest.raises(SuiteError, match=message):
        grid.parse_grid(MNIST, items)


def test_every_cell_is_validated_before_anything_runs_and_a_bad_cell_is_named():
    with pytest.raises(SuiteError, match="grid cell model=baseline aux_loss=true: --w-sharing, --aux-loss, "
                                         "--branch and --head apply"):
        grid.make_cells(MNIST, {}, grid.product({"model": ["siamese", "baseline"], "aux_loss": [True]}))
    with pytest.raises(SuiteError, match="grid cell lr=-1: lr: must be > 0"):
        grid.make_cells(MNIST, {}, [{"lr": 1e-3}, {"lr": -1.0}])
    with pytest.raises(SuiteError, match="--grid lr: also given as a fixed option"):
        grid.make_cells(MNIST, {"lr": 0.1}, [{"lr": 1e-3}])


def test_presets_of_the_reports_build_every_cell():
    from suite_tasks.lfw.task import TASK as LFW

    sizes = {name: len(grid.make_cells(task, entry.value.fixed, entry.value.cell_values()))
             for task in (MNIST, LFW) for name, entry in task.sweeps.items()}
    assert sizes == {"mnist-models": 5, "mnist-ws-aux": 4, "mnist-ablation": 11, "lfw-lr-dropout-batch-l2": 54,
                     "lfw-batch-lr-optimizer": 15, "lfw-fc-units-filters": 8, "lfw-ablation": 11}


def test_cells_are_experiments_and_a_longer_sweep_reuses_finished_rounds(tmp_path):
    store = Store(tmp_path / "r.db")
    first = _sweep(store, NO_DATA, {"lr": [1e-3, 1e-2]}, rounds=2)
    assert (first.reused, first.ran) == (0, 4)
    record = store.sweep(first.sweep_id)
    assert [c["values"] for c in record["cells"]] == [{"lr": 1e-3}, {"lr": 1e-2}]
    assert record["spec"]["axes"] == {"lr": [1e-3, 1e-2]} and record["spec"]["rounds"] == 2
    again = _sweep(store, NO_DATA, {"lr": [1e-3, 1e-2]}, rounds=2)
    assert again.sweep_id == first.sweep_id and (again.reused, again.ran) == (4, 0)
    longer = _sweep(store, NO_DATA, {"lr": [1e-3, 1e-2, 1e-1]}, rounds=3)
    assert longer.sweep_id != first.sweep_id and (longer.reused, longer.ran) == (4, 5)
    cells = store.sweep(longer.sweep_id)["cells"]
    assert [c["experiment_id"] for c in cells[:2]] == [c["experiment_id"] for c in record["cells"]]


def test_table_ranks_cells_best_first_against_the_best(tmp_path):
    store = Store(tmp_path / "r.db")
    outcome = _sweep(store, NO_DATA, {"lr": [1e-4, 3e-2]}, rounds=3, fixed={**TINY, "epochs": 4})
    record = store.sweep(outcome.sweep_id)
    table = sweeps.sweep_table(record, sweeps.sweep_values(store, record, M_TEST_ACCURACY), M_TEST_ACCURACY)
    assert table["mean"].is_monotonic_decreasing and table["best"].tolist() == [True, False]
    assert table.loc[0, "not_worse"] and table.attrs["shared"] == 3  # same seeds and rounds
    assert table.loc[1, "not_worse"]  # 3 rounds: the smallest possible p is 0.25, nothing can be shown worse
    assert table.attrs["smallest_p"] == 0.25 and "no cell can be shown worse" in sweeps.best_note(table)
    loss = sweeps.sweep_table(record, sweeps.sweep_values(store, record, M_TEST_LOSS), M_TEST_LOSS)
    assert loss["mean"].is_monotonic_increasing  # lower is better


@pytest.mark.slow  # the real command line, twice
def test_killing_the_driver_midway_loses_only_rounds_in_flight(tmp_path, fake_mnist):
    args = ["sweep", "mnist", "--grid", "lr=1e-3,2e-3", "--rounds", "4", "--pairs", "90", "--epochs", "15",
            "--batch-size", "10", "--parallel-rounds", "1", "--quiet", "--store", str(tmp_path / "r.db")]
    env = {k: v for k, v in os.environ.items() if k != "SUITE_DATA_DIR"} | {"SUITE_DATA_DIR": str(fake_mnist)}
    process = subprocess.Popen([sys.executable, "-m", "suite", *args], cwd=tmp_path, env=env,
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in process.stderr:
        if line.startswith("round 2/4 finished"):
            process.send_signal(signal.SIGKILL)  # no clean-up at all
            break
    process.wait(timeout=60)
    time.sleep(0.5)
    stored = Store(tmp_path / "r.db").experiments()["rounds"].sum()
    assert 2 <= stored < 8
    resumed = suite(*args, cwd=tmp_path, data_dir=fake_mnist, env={"COLUMNS": "200"})
    assert resumed.returncode == 0, resumed.stderr
    assert f"({8 - stored} rounds trained, {stored} reused)" in resumed.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["sweep", "mnist", "--epochs", "1"], "a sweep needs --grid FIELD=V1,V2,…, a [grid] in --config, or a --preset"),
    (["sweep", "mnist", "--grid", "colour=1"], "unknown option 'colour'"),
    (["sweep", "mnist", "--grid", "lr=1", "--executor", "dask"],
     "--executor: 'dask' is not one of inline, process, ray"),
    (["sweep", "mnist", "--preset", "everything"], "unknown sweep preset 'everything'"),
    (["sweep", "mnist", "--grid", "model=baseline", "--aux-loss"], "grid cell model=baseline:"),
    (["sweep", "mnist", "--grid", "lr=1", "--max-retries", "-1"], "--max-retries must be >= 0"),
])
def test_bad_sweeps_are_one_line_and_exit_2(tmp_path, fake_mnist, args, message):
    result = suite_here(*args, cwd=tmp_path, data_dir=fake_mnist)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_without_ray_installed_the_ray_executor_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray raises on import
    with pytest.raises(SuiteError, match=r"--executor ray needs Ray, an optional extra: pip install -e '\.\[ray\]'"):
        check_ray()


# --------------------------------------------------------------------------------------- Ray (a local cluster)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local Ray of 2 CPUs for this module's Ray tests (started once: seconds)."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]')")
    flaky = tmp_path_factory.mktemp("flaky")
    # Workers inherit this environment: they import the test task from the repository, and count its attempts.
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "SUITE_FLAKY_DIR")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    os.environ["SUITE_FLAKY_DIR"] = str(flaky)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield flaky
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.slow  # a local Ray
def test_ray_gives_the_same_cells_and_rounds_as_the_local_executor(tmp_path, local_ray):
    axes = {"lr": [1e-3, 1e-2], "dropout": [0.0, 0.3]}
    local, remote = Store(tmp_path / "local.db"), Store(tmp_path / "ray.db")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray task (1 CPU): oneDNN's sums depend on the number of threads
    try:
        _sweep(local, NO_DATA, axes, rounds=3)
    finally:
        torch.set_num_threads(threads)
    outcome = _sweep(remote, NO_DATA, axes, rounds=3, executor=Ray())
    assert outcome.ran == 12
    for a, b in zip(local.sweep(1)["cells"], remote.sweep(outcome.sweep_id)["cells"], strict=True):
        assert a["values"] == b["values"]
        ra, rb = local.rounds(a["experiment_id"]), remote.rounds(b["experiment_id"])
        assert ra["round_index"].tolist() == rb["round_index"].tolist() == [0, 1, 2]
        assert ra["device"].tolist() == rb["device"].tolist()  # the same stacked groups
        assert rb["test_loss"].tolist() == ra["test_loss"].tolist()  # bit for bit
        assert rb["test_accuracy"].tolist() == ra["test_accuracy"].tolist()


@pytest.mark.slow  # a local Ray
def test_a_ray_task_that_fails_is_retried(tmp_path, local_ray):
    from tests.suite.flaky_task import TASK as FLAKY

    config = ToyConfig(**TINY)
    cells = [grid.Cell({}, config)]
    spec_hash, spec = grid.sweep_spec(FLAKY, {}, cells, 2, 0, None)
    store = Store(tmp_path / "r.db")
    plan = RunPlan(store=store, data_dir=NO_DATA, device=CPU, executor=Ray(max_retries=1), parallel_rounds=1)
    outcome = sweep.run_sweep(FLAKY, cells, spec_hash, spec, plan)
    assert outcome.ran == 2
    assert sorted(p.name for p in local_ray.iterdir()) == ["round-0", "round-1"]
    assert all(p.read_text().count("attempt") == 2 for p in local_ray.iterdir())  # failed once, then succeeded
    none_left = Store(tmp_path / "other.db")
    for p in local_ray.iterdir():
        p.unlink()
    with pytest.raises(SuiteError, match=r"rounds \[\d\]: failed after 0 retries: RuntimeError: injected failure"):
        sweep.run_sweep(FLAKY, cells, spec_hash, spec, dataclasses.replace(plan, store=none_left,
                                                                            executor=Ray(max_retries=0)))


@pytest.mark.slow  # the report draws its figures: seconds
def test_report_of_a_sweep_ranks_its_cells_and_draws_heatmap_and_marginals(tmp_path, fake_mnist):
    from typer.testing import CliRunner

    from suite.cli import app

    store = Store(tmp_path / "r.db")  # of an installed task, which the command line knows
    _sweep(store, fake_mnist, {"lr": [1e-3, 1e-2], "w_sharing": [True, False]}, rounds=2, task=MNIST)
    runner = CliRunner(env={"COLUMNS": "200"})
    out = tmp_path / "rep"
    result = runner.invoke(app, ["report", "--sweep", "1", "--store", str(store.path), "--out", str(out),
                                 "--data-dir", str(fake_mnist)])
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text()
    assert "## Sweep 1" in markdown and "4 cells × 2 rounds" in markdown and "| ≈ best |" in markdown
    assert (out / "figures" / "sweep_heatmap.png").is_file() and (out / "figures" / "sweep_marginals.svg").is_file()
    listing = runner.invoke(app, ["results", "--store", str(store.path)])
    assert "lr = 0.001, 0.01; w_sharing = True, False" in listing.output
    mixed = runner.invoke(app, ["report", "--sweep", "1", "--task", "mnist", "--store", str(store.path)])
    assert mixed.exit_code != 0 and "--sweep chooses the experiments itself" in str(mixed.exception)


def test_the_mnist_ablation_adds_one_step_per_cell_and_ends_at_the_best_preset():
    cells = MNIST.sweeps.get("mnist-ablation").value.cell_values()
    for before, after in zip(cells, cells[1:], strict=False):
        assert before.items() <= after.items() and len(after) > len(before)
    fixed = MNIST.sweeps.get("mnist-ablation").value.fixed
    assert fixed | cells[-1] == MNIST.presets.get("best").value


def test_the_lfw_ablation_goes_from_report_001_to_the_best_preset_one_step_at_a_time():
    from suite_tasks.lfw.task import TASK as LFW

    ablation = LFW.sweeps.get("lfw-ablation").value
    cells = ablation.cell_values()
    assert ablation.fixed | cells[0] == LFW.presets.get("narrow-best").value
    assert ablation.fixed | cells[-1] == LFW.presets.get("best").value
    assert all(before != after for before, after in zip(cells, cells[1:], strict=False))
    for cell in grid.make_cells(LFW, ablation.fixed, cells):  # every step is a valid configuration
        cell.config.check()
