"""Exporting a real store to a real MLflow file store, read back with MlflowClient: what lands there matches the
store, re-exporting adds only what is new, and failures are one-line SuiteErrors naming the URI."""

import importlib.util
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="MLflow is an optional extra: pip install -e '.[mlflow]'")

import mlflow  # noqa: E402
import mlflow.environment_variables  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from suite.core.errors import SuiteError  # noqa: E402
from suite.results.mlflow_export import CURVE_PREFIX, MISSING_MLFLOW, export_to_mlflow  # noqa: E402
from suite.results.store import Store  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.stored_fixtures import add_experiment, round_result  # noqa: E402

# Early MLflow 3 releases (3.10, for one) warn that the file store is deprecated; later ones (3.17) refuse it unless
# MLFLOW_ALLOW_FILE_STORE is set (the fixture below). Only that warning is silenced, and only here.
pytestmark = pytest.mark.filterwarnings("ignore:The filesystem tracking backend:FutureWarning")

BOOKKEEPING = {"id", "experiment_id", "round_index", "seed", "status", "device", "finished", "measurement_id",
               "group_size", "code_digest", "code_commit"}


@pytest.fixture(autouse=True)
def file_store_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return (tmp_path / "mlruns").as_uri()


def parents(client: MlflowClient, name: str = "suite/mnist") -> list:
    experiment = client.get_experiment_by_name(name)
    return [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags["suite.kind"] == "experiment"]


def children(client: MlflowClient, parent) -> list:
    return client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")


def parent_of(client: MlflowClient, experiment_id: int, name: str = "suite/mnist") -> object:
    [parent] = [p for p in parents(client, name) if p.data.tags["suite.experiment_id"] == str(experiment_id)]
    return parent


def test_runs_hold_the_stores_config_summary_rounds_and_curves(tmp_path: Path, uri: str) -> None:
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.80, 0.84, None, 0.83], lr=0.01, w_sharing=True)
    done = export_to_mlflow(store, [experiment], uri)
    assert (done.experiments_logged, done.rounds_logged, done.rounds_skipped) == (1, 3, 0)
    assert done.tracking_uri == uri
    client = MlflowClient(uri)
    [parent] = parents(client)
    stored = store.experiment(experiment)

    assert parent.data.params == {k: v if isinstance(v, str) else json.dumps(v) for k, v in stored["config"].items()}
    assert parent.data.params["lr"] == "0.01" and parent.data.params["w_sharing"] == "true"
    assert {"suite.store": str((tmp_path / "suite.db").resolve()), "suite.experiment_id": str(experiment),
            "suite.task": "mnist", "suite.config_hash": stored["config_hash"],
            "suite.code_version": "test"}.items() <= parent.data.tags.items()
    assert parent.info.run_name == f"mnist experiment {experiment}" and parent.info.status == "FINISHED"

    rounds = store.rounds_of([experiment])
    metrics = [c for c in rounds.columns if c not in BOOKKEEPING]
    assert {"test_accuracy", "test_loss", "round_seconds"} <= set(metrics)
    got = parent.data.metrics
    for name in metrics:
        assert got[f"{name}_mean"] == pytest.approx(rounds[name].mean())
        assert got[f"{name}_std"] == pytest.approx(rounds[name].std(ddof=1))
    assert got["rounds"] == 3 and got["diverged_rounds"] == 1
    assert all(math.isfinite(v) for v in got.values())

    runs = {int(r.data.params["round_index"]): r for r in children(client, parent)}
    assert sorted(runs) == [0, 1, 3]  # the diverged round 2 is counted, not logged
    curves = store.curves_of(rounds["id"])
    for row in rounds.to_dict("records"):
        run = runs[row["round_index"]]
        assert run.info.run_name == f"round {row['round_index']} (seed 0)"
        assert run.data.params == {"round_index": str(row["round_index"]), "seed": "0"}
        assert run.data.tags["suite.round_id"] == str(row["id"])
        assert {name: run.data.metrics[name] for name in metrics} == pytest.approx({n: row[n] for n in metrics})
        curve = curves[curves["round_id"] == row["id"]]
        for name in ("train_loss", "val_accuracy", "lr"):
            history = sorted(client.get_metric_history(run.info.run_id, CURVE_PREFIX + name), key=lambda m: m.step)
            assert [m.step for m in history] == curve["epoch"].tolist() == [0, 1, 2]
            assert [m.value for m in history] == pytest.approx(curve[name].tolist())


def test_reexporting_adds_only_new_rounds_and_refreshes_the_summary(tmp_path: Path, uri: str) -> None:
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.80, 0.84, 0.82])
    export_to_mlflow(store, [experiment], uri)
    for _ in range(2):
        again = export_to_mlflow(store, [experiment], uri)
        assert (again.experiments_logged, again.experiments_unchanged, again.rounds_logged, again.rounds_skipped) \
            == (0, 1, 0, 3)
    client = MlflowClient(uri)
    [parent] = parents(client)
    assert len(children(client, parent)) == 3
    assert len(client.get_metric_history(parent.info.run_id, "rounds")) == 1  # unchanged: nothing logged again

    store.add_round(experiment, 3, 0, round_result(0.90))
    grown = export_to_mlflow(store, [experiment], uri)
    assert (grown.experiments_updated, grown.rounds_logged, grown.rounds_skipped) == (1, 1, 3)
    assert [p.info.run_id for p in parents(client)] == [parent.info.run_id]
    assert len(children(client, parent)) == 4
    latest = client.get_run(parent.info.run_id).data.metrics
    rounds = store.rounds_of([experiment])
    assert latest["rounds"] == 4
    assert latest["test_accuracy_mean"] == pytest.approx(rounds["test_accuracy"].mean())
    assert latest["test_accuracy_std"] == pytest.approx(rounds["test_accuracy"].std(ddof=1))


def test_a_round_retrained_with_other_code_is_a_new_child_and_the_old_one_stale(tmp_path: Path, uri: str) -> None:
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.80, 0.84])
    export_to_mlflow(store, [experiment], uri)
    old_id = int(store.rounds_of([experiment])["id"].max())
    retrained = round_result(0.95)
    retrained.code_digest = "other"
    store.add_group(experiment, 0, [1], [retrained], replacing=[1])
    assert int(store.rounds_of([experiment])["id"].max()) == old_id  # SQLite reused the row id: not a key alone

    done = export_to_mlflow(store, [experiment], uri)
    assert (done.rounds_logged, done.rounds_skipped, done.rounds_stale) == (1, 1, 1)
    client = MlflowClient(uri)
    runs = children(client, parents(client)[0])
    stale_by_code = {r.data.tags["suite.code_digest"]: r.data.tags.get("suite.stale") for r in runs
                     if r.data.params["round_index"] == "1"}
    assert stale_by_code == {"unknown": "true", "other": None}
    assert client.get_run(parents(client)[0].info.run_id).data.metrics["test_accuracy_mean"] == pytest.approx(0.875)
    assert export_to_mlflow(store, [experiment], uri).rounds_stale == 0  # tagged once


def test_a_non_finite_value_is_never_logged(tmp_path: Path, uri: str) -> None:
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.80, 0.84])
    odd = round_result(0.90)
    odd.metrics["test_loss"] = math.inf  # stored as null, read back as NaN
    odd.curves[1]["train_loss"] = math.nan
    store.add_round(experiment, 2, 0, odd)
    export_to_mlflow(store, [experiment], uri)
    client = MlflowClient(uri)
    [parent] = parents(client)
    assert parent.data.metrics["test_loss_mean"] == pytest.approx(0.18)  # over the two rounds that have it
    [run] = [r for r in children(client, parent) if r.data.params["round_index"] == "2"]
    assert "test_loss" not in run.data.metrics and run.data.metrics["test_accuracy"] == pytest.approx(0.90)
    history = client.get_metric_history(run.info.run_id, CURVE_PREFIX + "train_loss")
    assert sorted(m.step for m in history) == [0, 2]  # epoch 1's NaN left out


def test_runs_left_running_by_a_stopped_export_are_completed(tmp_path: Path, uri: str) -> None:
    """A RUNNING parent is finished (its params logged again, the same values); a RUNNING child is deleted and its
    round logged again whole."""
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.80, 0.84])
    export_to_mlflow(store, [experiment], uri)
    client = MlflowClient(uri)
    [parent] = parents(client)
    broken = children(client, parent)[0]
    for run_id in (parent.info.run_id, broken.info.run_id):
        client.update_run(run_id, status="RUNNING")
    again = export_to_mlflow(store, [experiment], uri)
    assert (again.experiments_logged, again.rounds_logged, again.rounds_skipped) == (0, 1, 1)
    assert [(p.info.run_id, p.info.status, p.data.params) for p in parents(client)] == [
        (parent.info.run_id, "FINISHED", parent.data.params)]
    assert client.get_run(broken.info.run_id).info.lifecycle_stage == "deleted"
    assert sorted(r.data.params["round_index"] for r in children(client, parent)) == ["0", "1"]
    assert all(r.info.status == "FINISHED" for r in children(client, parent))


def test_stores_with_identical_experiments_get_separate_parents(tmp_path: Path, uri: str) -> None:
    first, second = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    ids = [add_experiment(store, [0.80, 0.84]) for store in (first, second)]
    assert ids[0] == ids[1] and first.experiment(ids[0])["config_hash"] == second.experiment(ids[1])["config_hash"]
    assert export_to_mlflow(first, [ids[0]], uri).experiments_logged == 1
    assert export_to_mlflow(second, [ids[1]], uri).experiments_logged == 1
    client = MlflowClient(uri)
    found = parents(client)
    assert sorted(p.data.tags["suite.store"] for p in found) == [str(tmp_path.resolve() / "a.db"),
                                                                  str(tmp_path.resolve() / "b.db")]
    assert [len(children(client, p)) for p in found] == [2, 2]


def test_a_single_round_has_means_but_no_std_and_progress_is_told_each_experiment(tmp_path: Path, uri: str) -> None:
    store = Store(tmp_path / "suite.db")
    ids = [add_experiment(store, [0.80]), add_experiment(store, [None, None], model="baseline")]
    told: list[str] = []
    done = export_to_mlflow(store, ids, uri, mlflow_experiment="mine", progress=told.append)
    assert len(told) == 2 and all(text.startswith(f"experiment {i} ") for text, i in zip(told, ids, strict=True))
    assert done.describe() == f"logged 2 experiments (1 rounds) to {uri}"
    client = MlflowClient(uri)
    assert client.get_experiment_by_name("suite/mnist") is None
    one, none = (parent_of(client, i, "mine").data.metrics for i in ids)
    assert one["test_accuracy_mean"] == pytest.approx(0.80) and one["rounds"] == 1
    assert not any(key.endswith("_std") for key in one)
    assert none == {"rounds": 0, "diverged_rounds": 2}


def test_no_uri_means_mlflows_own_choice(tmp_path: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    store = Store(tmp_path / "suite.db")
    done = export_to_mlflow(store, [add_experiment(store, [0.8])], None)
    assert done.tracking_uri == uri == mlflow.get_tracking_uri()
    assert len(parents(MlflowClient(uri))) == 1


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("bad", ["nosuch://nowhere", "http://127.0.0.1:{port}"])
def test_a_bad_or_unreachable_tracking_uri_is_one_line_naming_it(tmp_path: Path, bad: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's default retries for minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.8])
    bad = bad.format(port=unused_port())
    with pytest.raises(SuiteError, match="MLflow tracking URI") as caught:
        export_to_mlflow(store, [experiment], bad)
    assert bad in str(caught.value) and "\n" not in str(caught.value)


def test_a_refused_file_store_says_how_to_allow_it(tmp_path: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recent MLflow (3.17) refuses the file store unless opted in; older versions take it."""
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.8])
    if not hasattr(mlflow.environment_variables, "MLFLOW_ALLOW_FILE_STORE"):
        assert export_to_mlflow(store, [experiment], uri).experiments_logged == 1
        return
    with pytest.raises(SuiteError) as refused:
        export_to_mlflow(store, [experiment], uri)
    assert str(refused.value) == (f"MLflow refuses the file store {uri} (in maintenance mode): set "
                                  "MLFLOW_ALLOW_FILE_STORE=true to use it, or give a tracking server's http(s):// URI")


def test_a_database_store_without_sqlalchemy_says_it_needs_full_mlflow(tmp_path: Path) -> None:
    store = Store(tmp_path / "suite.db")
    experiment = add_experiment(store, [0.8])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    if importlib.util.find_spec("sqlalchemy") is not None:
        pytest.skip("full MLflow is installed: it opens database stores")
    with pytest.raises(SuiteError) as refused:
        export_to_mlflow(store, [experiment], uri)
    assert str(refused.value) == (f"MLflow tracking URI {uri}: a database store needs the full MLflow (pip install "
                                  "mlflow); mlflow-skinny alone reaches a tracking server (http(s)://)")


def test_an_unknown_experiment_fails_before_mlflow_is_touched(tmp_path: Path, uri: str) -> None:
    store = Store(tmp_path / "suite.db")
    add_experiment(store, [0.8])
    with pytest.raises(SuiteError, match="no experiment 9"):
        export_to_mlflow(store, [9], uri)
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow  # starts a Python process
def test_without_mlflow_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    script = ("import sys; sys.modules['mlflow'] = None\n"
              "from suite.core.errors import SuiteError\n"
              "from suite.results.mlflow_export import export_to_mlflow\n"
              "from suite.results.store import Store\n"
              "try:\n"
              f"    export_to_mlflow(Store({str(tmp_path / 'suite.db')!r}), [1], 'file:///nowhere')\n"
              "except SuiteError as exc:\n"
              "    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == MISSING_MLFLOW == "--to mlflow needs MLflow: pip install -e '.[mlflow]'"
    assert not (tmp_path / "suite.db").exists()


def test_the_command_line_exports_and_says_what_it_did(tmp_path: Path, uri: str) -> None:
    from tests.cli_helpers import suite_here

    store = Store(tmp_path / "cli.db")
    add_experiment(store, [0.8, 0.9], model="baseline")
    args = ["export", "--store", str(tmp_path / "cli.db"), "--to", "mlflow", "--tracking-uri", uri]
    first = suite_here(*args, cwd=tmp_path, env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    assert first.returncode == 0, first.stderr
    assert f"logged 1 experiments (2 rounds) to {uri}" in first.stdout
    again = suite_here(*args, cwd=tmp_path, env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    assert "logged 0 experiments (0 rounds)" in again.stdout and "1 already there (0 updated)" in again.stdout
    parent = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("suite/mnist").experiment_id],
                                           filter_string="tags.`suite.kind` = 'experiment'")[0]
    assert parent.data.metrics["test_accuracy_mean"] == pytest.approx(0.85)
