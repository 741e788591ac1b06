"""Export stored experiments to MLflow: one parent run per experiment (its config as params, the mean and std of
each metric over its finished rounds) and one child run per finished round (its final metrics, its epoch curves
as `epoch/<metric>` histories, stepped by the stored epoch). MLflow is optional: imported only here, when called.

Exporting again is idempotent. A parent is found by its tags: the store's absolute path, the experiment id and
its config hash, so another store or a recreated experiment gets its own parent. A child is found under its
parent by `suite.round_key` (see `round_key`): rounds already there are skipped, new ones logged, and a child
whose round the store no longer holds (re-trained with other code, or deleted) is tagged `suite.stale`, never
deleted. The parent's summary is logged again, at the next step, only when a value changed; MLflow's latest value
of each metric is the current one. A run left RUNNING by an export that stopped midway is completed (a parent)
or deleted and logged again whole (a child). Run one export per store and tracking URI at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from suite.core import registry
from suite.core.errors import SuiteError
from suite.results.stats import metric_columns, summarize

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from suite.results.store import Store

MISSING_MLFLOW = "--to mlflow needs MLflow: pip install -e '.[mlflow]'"
CURVE_PREFIX = "epoch/"  # a round's final train_loss and its per-epoch train_loss are different metrics
PARENT_RUN_ID = "mlflow.parentRunId"
# MLflow's limits (mlflow.utils.validation), the same in 2.x and 3.x: entities per log_batch call, param length.
METRICS_PER_BATCH, PARAMS_PER_BATCH, PARAM_LENGTH = 1000, 100, 6000
SEARCH_PAGE = 1000
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")  # SQLAlchemy stores: full MLflow only


@dataclasses.dataclass(frozen=True)
class MlflowExport:
    """What one export did, for the one line the command line prints."""

    tracking_uri: str
    experiments_logged: int = 0  # new parent runs
    experiments_updated: int = 0  # parents already there that got new rounds or changed summary values
    experiments_unchanged: int = 0  # parents already there, nothing new
    rounds_logged: int = 0  # new child runs
    rounds_skipped: int = 0  # rounds already there as child runs
    rounds_stale: int = 0  # child runs newly tagged suite.stale: their round is no longer in the store

    def __add__(self, other: MlflowExport) -> MlflowExport:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in dataclasses.fields(self) if f.name != "tracking_uri"}
        return MlflowExport(self.tracking_uri, **counts)

    def describe(self) -> str:
        """`logged 3 experiments (12 rounds) to file:///…; 2 already there (1 updated)`."""
        existing = self.experiments_updated + self.experiments_unchanged
        text = f"logged {self.experiments_logged} experiments ({self.rounds_logged} rounds) to {self.tracking_uri}"
        if existing:
            text += f"; {existing} already there ({self.experiments_updated} updated)"
        if self.rounds_stale:
            text += f"; {self.rounds_stale} rounds no longer in the store tagged suite.stale"
        return text


def export_to_mlflow(store: Store, experiment_ids: list[int], tracking_uri: str | None = None,
                     mlflow_experiment: str | None = None,
                     progress: Callable[[str], None] | None = None) -> MlflowExport:
    """Log these stored experiments and their finished rounds to MLflow at `tracking_uri` (None: MLflow's own
    choice, $MLFLOW_TRACKING_URI first), into the MLflow experiment `mlflow_experiment` (default `suite/<task>`,
    created if missing). `progress` is told about each experiment once it is exported."""
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or mlflow.get_tracking_uri()
    experiments = [store.experiment(i) for i in experiment_ids]  # an unknown id fails before MLflow is touched
    rounds = store.rounds_of(experiment_ids)
    total = MlflowExport(uri)
    try:
        client = MlflowClient(uri)
        target_ids: dict[str, str] = {}
        for experiment in experiments:
            name = mlflow_experiment or f"suite/{experiment['task']}"
            if name not in target_ids:
                target_ids[name] = _ensure_mlflow_experiment(client, name)
            done = _export_experiment(client, target_ids[name], store, experiment,
                                      rounds[rounds["experiment_id"] == experiment["id"]], uri)
            total += done
            if progress is not None:
                progress(_progress_text(experiment, done, name))
    except (MlflowException, OSError, ImportError) as exc:  # ImportError: a store needing what skinny lacks
        raise _tracking_error(uri, exc, default=tracking_uri is None) from None
    return total


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise SuiteError(MISSING_MLFLOW) from None
    return mlflow


def _tracking_error(uri: str, exc: Exception, default: bool) -> SuiteError:
    """MLflow's failure as one line naming the URI (its messages can run to many lines), with the fix for the
    two refusals a fresh install meets: the file store (opt-in in recent MLflow 3) and a database store, MLflow 3's
    default URI, which mlflow-skinny cannot open (no SQLAlchemy)."""
    shown = f"{uri} (MLflow's default: set MLFLOW_TRACKING_URI or give a URI)" if default else uri
    text = str(exc).strip()
    if "MLFLOW_ALLOW_FILE_STORE" in text:
        return SuiteError(f"MLflow refuses the file store {shown} (in maintenance mode): set "
                          "MLFLOW_ALLOW_FILE_STORE=true to use it, or give a tracking server's http(s):// URI")
    if _scheme(uri) in DATABASE_SCHEMES and importlib.util.find_spec("sqlalchemy") is None:
        return SuiteError(f"MLflow tracking URI {shown}: a database store needs the full MLflow (pip install "
                          "mlflow); mlflow-skinny alone reaches a tracking server (http(s)://)")
    first = text.splitlines()[0] if text else type(exc).__name__
    return SuiteError(f"MLflow tracking URI {shown}: {first[:300]}")


def _scheme(uri: str) -> str:
    """`postgresql+psycopg2://…` → postgresql."""
    return uri.partition(":")[0].partition("+")[0].lower()


def _progress_text(experiment: dict[str, Any], done: MlflowExport, target: str) -> str:
    state = "new" if done.experiments_logged else "updated" if done.experiments_updated else "unchanged"
    return (f"experiment {experiment['id']} ({experiment['task']}) → {target}: {state}, {done.rounds_logged} "
            f"rounds logged, {done.rounds_skipped} already there")


def _ensure_mlflow_experiment(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise SuiteError(f"MLflow experiment {name!r} is deleted: restore it, or choose another name")
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # created meanwhile by another export
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


# one experiment --------------------------------------------------------------------------------------------

def _export_experiment(client: MlflowClient, target: str, store: Store, experiment: dict[str, Any],
                       rounds: pd.DataFrame, uri: str) -> MlflowExport:
    """The parent run, the child runs of the rounds not yet there, then the summary: children first, so a
    summary in MLflow always describes rounds that are there."""
    store_path = str(store.path.resolve())
    parent, new = _parent_run(client, target, store_path, experiment)
    children = _children(client, target, parent.info.run_id)
    keys = [round_key(row) for row in rounds.to_dict("records")]
    stale = _mark_stale(client, children, set(keys))
    fresh = rounds.iloc[[i for i, key in enumerate(keys) if key not in children]]
    curves = store.curves_of(fresh["id"].tolist())
    context = {"suite.store": store_path, "suite.experiment_id": str(experiment["id"])}
    metrics = metric_columns(rounds)
    for row in fresh.to_dict("records"):
        _log_round(client, target, parent.info.run_id, row, curves[curves["round_id"] == row["id"]], metrics,
                   context)

    summary = summary_metrics(rounds, registry.tasks().get(experiment["task"]),
                              len(store.diverged(experiment["id"])))
    changed = _log_summary(client, parent, summary)
    if parent.info.status != "FINISHED":
        client.set_terminated(parent.info.run_id, "FINISHED")
    updated = not new and (changed or len(fresh) > 0)
    return MlflowExport(uri, experiments_logged=int(new), experiments_updated=int(updated),
                        experiments_unchanged=int(not new and not updated), rounds_logged=len(fresh),
                        rounds_skipped=len(rounds) - len(fresh), rounds_stale=stale)


def _parent_run(client: MlflowClient, target: str, store_path: str, experiment: dict[str, Any]) -> tuple[Run, bool]:
    """The experiment's parent run and whether it is new. One left RUNNING by an export that stopped midway may
    lack params: they are logged again (the same values are accepted)."""
    parent = _find_parent(client, target, store_path, experiment)
    if parent is None:
        return _create_parent(client, target, store_path, experiment), True
    if parent.info.status != "FINISHED":
        _log_batches(client, parent.info.run_id, params=_config_params(experiment["config"]))
    return parent, False


def _mark_stale(client: MlflowClient, children: dict[str, Run], stored: set[str]) -> int:
    """Tag `suite.stale` on the child runs whose round the store no longer holds; how many were newly tagged."""
    stale = [run for key, run in children.items() if key not in stored and run.data.tags.get("suite.stale") != "true"]
    for run in stale:
        client.set_tag(run.info.run_id, "suite.stale", "true")
    return len(stale)


def round_key(row: dict[str, Any]) -> str:
    """A stored round's identity in MLflow: row id, seed, index, code digest and finish time. The row id alone is
    not enough: SQLite hands the largest rowid out again after a delete, and a rerun with other code replaces a
    round by deleting and inserting it in one transaction; the digest and finish time tell the two apart."""
    return f"{row['id']}:{row['seed']}:{row['round_index']}:{row['code_digest']}:{row['finished']}"


def _search(client: MlflowClient, target: str, filter_string: str) -> Iterator[Run]:
    """Every active run matching the filter, page by page."""
    token = None
    while True:
        page = client.search_runs([target], filter_string=filter_string, max_results=SEARCH_PAGE, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _find_parent(client: MlflowClient, target: str, store_path: str, experiment: dict[str, Any]) -> Run | None:
    """The parent run of this store's experiment, if exported before. The store's path is compared here, not in
    the filter: a path may hold quotes, which MLflow's filter syntax cannot escape."""
    filter_string = (f"tags.`suite.kind` = 'experiment' and tags.`suite.experiment_id` = '{int(experiment['id'])}'"
                     f" and tags.`suite.config_hash` = '{_quotable(experiment['config_hash'])}'")
    found = [run for run in _search(client, target, filter_string) if run.data.tags.get("suite.store") == store_path]
    return min(found, key=lambda run: run.info.start_time or 0, default=None)


def _quotable(text: str) -> str:
    if "'" in text or "\\" in text:
        raise SuiteError(f"config hash {text!r} cannot be searched for in MLflow")
    return text


def _children(client: MlflowClient, target: str, parent_id: str) -> dict[str, Run]:
    """The parent's complete child runs by round key. A RUNNING one is what an export that stopped midway left,
    perhaps without all its metrics: it is deleted, so that its round is logged again whole."""
    complete = {}
    for run in _search(client, target, f"tags.`{PARENT_RUN_ID}` = '{parent_id}' and tags.`suite.kind` = 'round'"):
        if run.info.status == "RUNNING":
            client.delete_run(run.info.run_id)
        else:
            complete[run.data.tags.get("suite.round_key", "")] = run
    return complete


def _create_parent(client: MlflowClient, target: str, store_path: str, experiment: dict[str, Any]) -> Run:
    tags = {"suite.kind": "experiment", "suite.store": store_path, "suite.experiment_id": str(experiment["id"]),
            "suite.task": experiment["task"], "suite.config_hash": experiment["config_hash"],
            "suite.code_version": experiment["code_version"]}
    run = client.create_run(target, start_time=_millis(experiment["created"]), tags=tags,
                            run_name=f"{experiment['task']} experiment {experiment['id']}")
    _log_batches(client, run.info.run_id, params=_config_params(experiment["config"]))
    return run


def _config_params(config: dict[str, Any]) -> list:
    """Every config field as an MLflow param: strings as they are, anything else in the store's own JSON
    (false, 0.001, null, [1, 2]), so json.loads gives the value back; cut at MLflow's length limit."""
    from mlflow.entities import Param

    return [Param(key, (value if isinstance(value, str) else json.dumps(value))[:PARAM_LENGTH])
            for key, value in config.items()]


# one round -------------------------------------------------------------------------------------------------

def _log_round(client: MlflowClient, target: str, parent_id: str, row: dict[str, Any], curve: pd.DataFrame,
               metrics: list[str], context: dict[str, str]) -> None:
    """A child run for one finished round, dated by when it trained: from its finish time back by its training
    time, so MLflow's run list shows rounds in the order and at the time they ran."""
    from mlflow.entities import Param

    finished = _millis(row["finished"])
    seconds = row.get("round_seconds")
    started = finished - int(seconds * 1000) if _finite(seconds) else finished
    tags = {PARENT_RUN_ID: parent_id, "suite.kind": "round", "suite.round_key": round_key(row),
            "suite.round_id": str(row["id"]), "suite.code_digest": str(row["code_digest"]), **context}
    run = client.create_run(target, start_time=started, tags=tags,
                            run_name=f"round {row['round_index']} (seed {row['seed']})")
    params = [Param("round_index", str(row["round_index"])), Param("seed", str(row["seed"]))]
    _log_batches(client, run.info.run_id, params=params,
                 metrics=_final_metrics(row, metrics, finished) + _curve_metrics(curve, finished))
    client.set_terminated(run.info.run_id, "FINISHED", end_time=finished)


def _final_metrics(row: dict[str, Any], names: list[str], timestamp: int) -> list:
    from mlflow.entities import Metric

    return [Metric(name, float(row[name]), timestamp, 0) for name in names if _finite(row.get(name))]


def _curve_metrics(curve: pd.DataFrame, timestamp: int) -> list:
    """Each epoch's values as `epoch/<metric>` at step = the stored epoch; a non-finite value is left out."""
    from mlflow.entities import Metric

    names = [c for c in curve.columns if c not in ("round_id", "epoch")]
    return [Metric(f"{CURVE_PREFIX}{name}", float(row[name]), timestamp, int(row["epoch"]))
            for row in curve.to_dict("records") for name in names if _finite(row[name])]


# the summary -----------------------------------------------------------------------------------------------

def summary_metrics(rounds: pd.DataFrame, task: Any, diverged: int) -> dict[str, float]:
    """`<metric>_mean` and `<metric>_std` as `suite show` computes them (stats.summarize: sample std, a stacked
    group's time and memory counted once), `rounds` and `diverged_rounds`. A std over one value is NaN, which
    MLflow cannot hold: it is left out."""
    values = {"rounds": float(len(rounds)), "diverged_rounds": float(diverged)}
    if rounds.empty:
        return values
    for name, row in summarize(rounds, task).iterrows():
        for stat in ("mean", "std"):
            if _finite(row[stat]):
                values[f"{name}_{stat}"] = float(row[stat])
    return values


def _log_summary(client: MlflowClient, parent: Run, summary: dict[str, float]) -> bool:
    """Log the summary at the step after the last one when any value differs from MLflow's latest; False when
    nothing changed, so re-exporting an unchanged store adds nothing."""
    from mlflow.entities import Metric

    latest = parent.data.metrics
    if all(latest.get(key) == value for key, value in summary.items()):
        return False
    history = client.get_metric_history(parent.info.run_id, "rounds") if "rounds" in latest else []
    step = max((m.step for m in history), default=-1) + 1
    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    _log_batches(client, parent.info.run_id, metrics=[Metric(k, v, now, step) for k, v in summary.items()])
    return True


# helpers ---------------------------------------------------------------------------------------------------

def _log_batches(client: MlflowClient, run_id: str, metrics: Sequence = (), params: Sequence = ()) -> None:
    """log_batch within MLflow's per-call limits."""
    for chunk in _chunks(params, PARAMS_PER_BATCH):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(metrics, METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    return (items[i:i + size] for i in range(0, len(items), size))


def _finite(value: Any) -> bool:
    """A number MLflow can hold: not None, NaN or infinite (MLflow rejects or mangles those)."""
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _millis(timestamp: str) -> int:
    """A store timestamp (ISO 8601, UTC) in MLflow's milliseconds since the epoch."""
    parsed = dt.datetime.fromisoformat(timestamp)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)
