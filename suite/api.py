"""The Python API, for scripts and notebooks: `suite.run`, `suite.open`, `suite.compare` (docs/python-api.md).

It does what the command line does, through the same code (planning, the runner, selection, the comparison), and
returns data frames instead of printing tables. Errors are SuiteError with the command line's messages.
"""

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from suite.core import registry
from suite.core.config import field_types
from suite.core.configfile import RUN_KEYS, read_config_file
from suite.core.errors import SuiteError
from suite.results import tables
from suite.results.store import DEFAULT_PATH, Store

Where = Mapping[str, Any] | Iterable[str] | None


def _summary(rounds: pd.DataFrame, task: registry.Task | None) -> pd.DataFrame:
    """stats.summarize with each metric's declaration spelled out as columns (unit, higher_is_better)."""
    from suite.results.stats import summarize

    stats = summarize(rounds, task)
    if not len(stats):
        return pd.DataFrame(columns=["n", "mean", "std", "min", "max", "rounds", "unit", "higher_is_better"])
    declared = stats.pop("metric")
    stats["unit"] = [m.unit for m in declared]
    stats["higher_is_better"] = [m.higher_is_better for m in declared]
    return stats.rename_axis("metric")


@dataclasses.dataclass(frozen=True, repr=False)
class Experiment:
    """A stored experiment: its id in `store`, task, full config, finished rounds (a row each, metrics as stored:
    accuracies as fractions) and diverged rounds (round_index, seed, epoch)."""

    id: int
    task: str
    config: dict[str, Any]
    rounds: pd.DataFrame
    diverged: list[dict[str, Any]]
    store: Path
    # the task's declarations (units, directions): the one run, which may not be installed, or the installed one
    _declared: registry.Task | None = dataclasses.field(default=None, compare=False)

    def summary(self) -> pd.DataFrame:
        """One row per metric: n, mean, std (sample), min, max, the rounds they cover, unit, higher_is_better."""
        return _summary(self.rounds, self._declared or registry.tasks().get(self.task))

    def __repr__(self) -> str:
        diverged = f", {len(self.diverged)} diverged" if self.diverged else ""
        return (f"Experiment(id={self.id}, task={self.task!r}, rounds={len(self.rounds)}{diverged}, "
                f"store={str(self.store)!r})")


def _experiment(store: Store, experiment_id: int, rounds: pd.DataFrame | None = None,
                diverged: list[dict] | None = None, declared: registry.Task | None = None) -> Experiment:
    record = store.experiment(experiment_id)
    return Experiment(experiment_id, record["task"], record["config"],
                      store.rounds(experiment_id) if rounds is None else rounds,
                      store.diverged(experiment_id) if diverged is None else diverged, store.path, declared)


class Results:
    """A results store opened for reading (`suite.open`); it is never written through this object."""

    def __init__(self, store: str | Path = DEFAULT_PATH) -> None:
        self._store = Store(store, readonly=True)
        self._store.db  # noqa: B018 - opened now, so a missing or foreign store fails here, not at first use

    @property
    def path(self) -> Path:
        return self._store.path

    def experiments(self, task: str | None = None, where: Where = None) -> pd.DataFrame:
        """One row per experiment: id, task, a column per config field, rounds (finished), diverged, created,
        config_hash, and `<metric>_mean` / `<metric>_std` of every metric. `where`: {"field": value} or
        ["field=value", …] (needs experiments of one task)."""
        return tables.experiments_table(self._store, None, task, where)

    def experiment(self, experiment_id: int) -> Experiment:
        return _experiment(self._store, int(experiment_id))

    def _ids(self, ids: int | Iterable[int] | None) -> list[int]:
        if ids is None:
            return self._store.experiments()["id"].tolist()
        return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]

    def rounds(self, ids: int | Iterable[int] | None = None) -> pd.DataFrame:
        """The finished rounds of these experiments (all: None), a row each: round_id, experiment_id, seed,
        round_index, its metrics and its training measurement."""
        return tables.rounds_table(self._store, self._ids(ids))

    def curves(self, ids: int | Iterable[int] | None = None) -> pd.DataFrame:
        """Every epoch of these experiments' finished rounds: round_id, experiment_id, seed, round_index, epoch and
        the per-epoch metrics."""
        return tables.epochs_table(self._store, self._ids(ids))

    def scores(self, round_id: int, split: str = "test") -> pd.DataFrame:
        """One round's per-example scores and targets on a split (indexed by example)."""
        return self._store.scores(int(round_id), split)

    def sweeps(self) -> pd.DataFrame:
        return self._store.sweeps()

    def compare(self, ids: Iterable[int] | None = None, *, task: str | None = None, where: Where = None,
                baseline: int | None = None, metric: str | None = None, versus: str = "reference") -> pd.DataFrame:
        """`suite compare` as a DataFrame: a row per experiment with its mean, std, interval, and against the
        reference (or the row before, versus="previous") the difference, its interval, tests and effect sizes."""
        from suite.results.compare import VERSUS, comparison_table
        from suite.results.selection import choose, samples

        if versus not in VERSUS:
            raise SuiteError(f"versus: {versus!r} is not one of: {', '.join(VERSUS)}")
        experiments, reference, declared = choose(self._store, list(ids or []), task, tables.where_items(where),
                                                  baseline, metric)
        return comparison_table(samples(self._store, experiments, declared), reference, declared, versus)

    def against(self, baseline_store: str | Path, ids: Iterable[int] | None = None, *, task: str | None = None,
                where: Where = None, metric: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """`suite compare --against`: each experiment here against the same task and config in baseline_store,
        paired on seed and round index, Holm-adjusted across the matched experiments."""
        from suite.results import against as vs

        items = tables.where_items(where)
        baseline = vs.open_store(baseline_store)
        chosen = vs.candidates(self._store, list(ids or []), task, items)
        return vs.against_baseline(self._store, baseline, chosen, metric, vs.check_alpha(alpha), items).table

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> "Results":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"


def open(store: str | Path = DEFAULT_PATH) -> Results:  # noqa: A001 - suite.open, as the issue and docs name it
    """A results store, for reading: `suite.open("results.db").experiments()`."""
    return Results(store)


def compare(ids: Iterable[int] | None = None, *, store: str | Path = DEFAULT_PATH, task: str | None = None,
            where: Where = None, baseline: int | None = None, metric: str | None = None,
            versus: str = "reference") -> pd.DataFrame:
    """`suite compare` as a DataFrame (see Results.compare)."""
    with Results(store) as results:
        return results.compare(ids, task=task, where=where, baseline=baseline, metric=metric, versus=versus)


def _split_options(task: registry.Task, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments of suite.run → (run options, config fields); an unknown name is refused with both lists."""
    from suite.execution.planning import PLAN_DEFAULTS

    fields = field_types(task.config_cls)
    unknown = sorted(set(options) - set(PLAN_DEFAULTS) - set(fields))
    if unknown:
        raise SuiteError(f"suite.run({task.name!r}): unknown option(s) {', '.join(unknown)}; run options: "
                         f"{', '.join(sorted(PLAN_DEFAULTS))}; {task.name} options: {', '.join(sorted(fields))}")
    return ({k: v for k, v in options.items() if k in PLAN_DEFAULTS},
            {k: v for k, v in options.items() if k in fields})


def run(task: "str | registry.Task", rounds: int | None = None, store: str | Path | None = None, *,
        preset: str | None = None, config: str | Path | None = None, progress: bool = True,
        **options: Any) -> Experiment:
    """Run (or resume) an experiment as `suite run TASK` does and return it, e.g.
    `suite.run("mnist", rounds=3, epochs=5, w_sharing=True)`.

    `options`: the task's config fields and the run options of `suite run` (seed, device, parallel_rounds, workers,
    data_dir, fresh, …, as keyword names). `config`: a TOML file as `suite run --config` reads, which the arguments
    given here override. `task`: an installed task's name, or a Task object (one being written, not installed
    yet). The data directory is found as the command line finds it (data_dir, $SUITE_DATA_DIR,
    ./data). `progress`: a line per round on stderr."""
    from suite.execution.planning import make_plan, resolve_config
    from suite.execution.runner import ExperimentInterrupted, run_experiment
    from suite.report.progress import make_reporter

    declared = task if isinstance(task, registry.Task) else registry.get_task(task)
    run_options, fields = _split_options(declared, options)
    if rounds is not None:
        run_options["rounds"] = rounds
    if store is not None:
        run_options["store"] = store
    if config is not None:
        file = read_config_file(Path(config), declared, RUN_KEYS - {"quiet"})
        preset = preset if preset is not None else file.run.pop("preset", None)
        file.run.pop("preset", None)
        run_options = {**file.run, **run_options}
        fields = {**file.config, **fields}
    resolved = resolve_config(declared, preset, fields)
    reporter = (lambda planned: make_reporter(True, declared.primary_metric)) if progress else None
    plan = make_plan(declared, reporter=reporter, **run_options)
    try:
        outcome = run_experiment(declared, resolved, plan)
    except ExperimentInterrupted as stop:
        raise KeyboardInterrupt(f"experiment {stop.experiment_id}: {stop.finished} finished round(s) stored in "
                                f"{plan.store.path}; run again to resume") from None
    return _experiment(plan.store, outcome.experiment_id, outcome.rounds, outcome.diverged, declared)
