"""The `suite` command line. `suite run <task>` is built from each task's config dataclass.

Everything that needs torch, matplotlib, pandas or scipy is imported by the command that uses it, and a task's
sub-commands are built only when that task is named or listed: `suite --help`, `results`, `show` and `compare`
start without torch (tests/suite/test_startup.py).
"""

import dataclasses
import inspect
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.table import Table

import suite
from suite.core import grid, registry
from suite.core.config import (
    PRECISIONS,
    BaseConfig,
    config_dict,
    field_types,
    flag,
    non_defaults,
    ordered_fields,
)
from suite.core.configfile import RUN_KEYS, SWEEP_KEYS
from suite.core.datadir import resolve_data_dir
from suite.core.errors import SuiteError
from suite.core.identity import UNKNOWN
from suite.core.metrics import declaration
from suite.report.formatting import FORMATS
from suite.results.store import DEFAULT_PATH, Store

app = typer.Typer(help="Run and compare experiments with pair-comparison (Siamese) networks.",
                  no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


def _print_version(value: bool) -> None:
    if value:
        print(f"suite {suite.__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                   callback=_print_version)] = False) -> None:
    """The options of `suite` itself; the app's help text is the Typer's."""


class TaskGroup(typer.core.TyperGroup):
    """`suite run NAME` and the like: one sub-command per installed task, built by `command_for(task)` when the
    task is named or the group lists its commands (so `suite --help` loads no task). An unknown NAME is an
    unknown task, named as such with the known ones."""

    command_for: Callable[[registry.Task], click.Command]  # set by task_group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(registry.tasks())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands:
            task = registry.tasks().get(name)
            if task is None:
                return None
            self.add_command(type(self).command_for(task), name)
        return self.commands[name]

    def resolve_command(self, ctx, args):
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            ctx.fail(f"unknown task {args[0]!r}; known: {', '.join(self.list_commands(ctx)) or 'none installed'}")
        return super().resolve_command(ctx, args)


def task_group(command_for: Callable[[registry.Task], click.Command]) -> type[TaskGroup]:
    """A TaskGroup class whose sub-command for a task is `command_for(task)` (typer takes the class, not a group)."""
    return type("TaskGroup", (TaskGroup,), {"command_for": staticmethod(command_for)})


def _run_command(task: registry.Task) -> click.Command:
    return _command(task, _run_parameters(RUN_OPTIONS) + _config_parameters(task), _run, task.description)


run_app = typer.Typer(cls=task_group(_run_command), help="Run repeated randomized rounds of a task's experiment.",
                      no_args_is_help=True)
app.add_typer(run_app, name="run")



def out() -> Console:
    """A console made per command, so it follows the terminal (or $COLUMNS) of this invocation."""
    return Console()


STORE_HELP = "SQLite results store."
StoreOption = Annotated[Path, typer.Option("--store", help=STORE_HELP)]

# Options of every `suite run <task>` that are about running, not about the experiment itself.
RUN_OPTIONS = {
    "preset": (str | None, typer.Option(None, "--preset", help="Start from a named preset (see `suite list`); "
                                          "options given explicitly override it.")),
    "rounds": (int, typer.Option(10, "--rounds", help="Number of randomized rounds.")),
    "seed": (int, typer.Option(0, "--seed", help="Base seed; round r draws its streams from (seed, r).")),
    "parallel_rounds": (str, typer.Option("auto", "--parallel-rounds", help="Train K rounds at once as one stacked "
                                          "model (each round keeps its seeds and data); auto: all rounds for tasks "
                                          "whose models are small (mnist), one at a time otherwise.")),
    "workers": (int, typer.Option(1, "--workers", help="CPU only: run rounds in N processes, the CPU threads split "
                                  "between them (results are written by this process alone); > 1 implies "
                                  "--executor process.")),
    "executor": (str, typer.Option("inline", "--executor", help="inline (this process), process (--workers local "
                                   "processes) or ray (each group of rounds a Ray task, on a local Ray or a "
                                   "cluster; needs pip install -e '.\\[ray]').")),
    "ray_address": (str | None, typer.Option(None, "--ray-address", help="Ray cluster: auto or HOST:PORT.",
                                             show_default="a local Ray started for this run")),
    "max_retries": (int, typer.Option(2, "--max-retries", help="Ray: retries of a failed or killed task.")),
    "cpus_per_task": (float, typer.Option(1.0, "--cpus-per-task", help="Ray: CPUs each task asks for.")),
    "gpus_per_task": (float, typer.Option(0.0, "--gpus-per-task", help="Ray: GPUs each task asks for (fractions "
                                          "let small models share a GPU); > 0 trains on CUDA.")),
    "device": (str, typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")),
    "precision": (str, typer.Option("auto", "--precision", help=f"{', '.join(PRECISIONS)}: bf16 autocast (auto: "
                                    "on a GPU that has it and on a CPU that computes in bf16 natively, "
                                    "float32 elsewhere). Recorded with each round.")),
    "compile": (bool, typer.Option(False, "--compile", help="torch.compile the model (compiling takes time "
                                   "up front: for long GPU runs; one round at a time). Recorded with each round.")),
    "data_dir": (Path | None, typer.Option(None, "--data-dir", help="Data directory.",
                                              show_default="$SUITE_DATA_DIR, else ./data")),
    "download": (bool, typer.Option(False, "--download", help="Download missing data (never by default).")),
    "store": (Path, typer.Option(DEFAULT_PATH, "--store", help=STORE_HELP)),
    "fresh": (bool, typer.Option(False, "--fresh", help="Discard this experiment's stored rounds (same seed) "
                                 "and run them again, instead of resuming.")),
    "reuse_any_code": (bool, typer.Option(False, "--reuse-any-code", help="Reuse stored rounds whatever code "
                                          "version trained them (by default only rounds of this code are reused; "
                                          "the others are trained again and replaced).")),
    "save_models": (str | None, typer.Option(None, "--save-models", help="best or final: save each round's "
                                             "weights (after early stopping's restore, or of the last epoch) beside "
                                             "the store, for `suite predict`; stored rounds without one are trained "
                                             "again.", show_default="off")),
    "quiet": (bool, typer.Option(False, "--quiet", help="Plain log lines instead of the live display.")),
    "json_out": (bool, typer.Option(False, "--json", help="Print the summary as JSON on stdout.")),
    "config_file": (Path | None, typer.Option(None, "--config", help="TOML file with \\[run] options and \\[config] "
                                              "values (`suite show ID --config` writes one); options given on the "
                                              "command line override it. docs/configuration.md.",
                                              show_default=False)),
}



def summary_table(title: str, rounds, task: registry.Task | None) -> Table:
    from suite.report.formatting import fmt_n, fmt_spread
    from suite.results.stats import summarize

    table = Table(title=title, title_justify="left")
    for column in ("metric", "n", "mean ± std", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, row in summarize(rounds, task).iterrows():
        metric = row["metric"]
        table.add_row(f"{name}{metric.unit_suffix}", fmt_n(row["n"], row["rounds"]),
                      fmt_spread(metric, row["mean"], row["std"], row["n"], row["rounds"]),
                      metric.show(row["min"]), metric.show(row["max"]))
    return table


def summary_json(experiment: dict[str, Any], rounds, task: registry.Task | None,
                 diverged: list[dict]) -> dict[str, Any]:
    from suite.results.stats import summarize

    stats = summarize(rounds, task)
    return {"experiment_id": experiment["id"], "task": experiment["task"], "config": experiment["config"],
            "config_hash": experiment["config_hash"], "setting": experiment.get("setting", {}),
            "rounds": int(len(rounds)),
            "diverged": [{"round_index": d["round_index"], "seed": d["seed"], "epoch": d["epoch"]} for d in diverged],
            "seeds": sorted({int(s) for s in rounds["seed"]}),
            "code_versions": [{"digest": digest, "commit": commit, "rounds": int(n)} for (digest, commit), n
                              in rounds.groupby(["code_digest", "code_commit"]).size().items()],
            "metrics": {m: {k: (None if row[k] != row[k] else float(row[k])) for k in ("n", "mean", "std", "min",
                                                                                     "max", "rounds")}
                        | {"unit": row["metric"].unit, "higher_is_better": row["metric"].higher_is_better,
                           "per_group": row["metric"].per_group}
                        for m, row in stats.iterrows()}}


def _config_parameters(task: registry.Task, only: tuple[str, ...] | None = None) -> list[inspect.Parameter]:
    """One CLI option per config field (or per field in `only`); None means 'not given', so presets can fill it.

    The task's own fields come first ("Experiment"), then the engine's shared ones ("Training").
    """
    shared = {f.name for f in dataclasses.fields(BaseConfig)}
    fields = [f for f in ordered_fields(task.config_cls) if only is None or f.name in only]
    kinds = field_types(task.config_cls)
    params = []
    for f in fields:
        if f.name in RUN_OPTIONS:
            raise ValueError(f"task {task.name}: config field {f.name!r} clashes with a run option")
        kind = kinds[f.name]
        helptext = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            helptext += f" (one of: {', '.join(map(str, f.metadata['choices']))})"
        name = flag(f.name)
        decls = (f"{name}/--no-{name[2:]}",) if kind is bool else (name,)
        option = typer.Option(None, *decls, help=helptext, show_default=str(f.default),
                              rich_help_panel="Training" if f.name in shared else "Experiment")
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=kind | None))
    return params


def _run(task: registry.Task, options: dict[str, Any], given: set[str]) -> None:
    from suite.execution.planning import PLAN_DEFAULTS, make_plan, resolve_config
    from suite.execution.runner import ExperimentInterrupted, run_experiment
    from suite.report.progress import make_reporter

    run_opts = {k: options.pop(k) for k in RUN_OPTIONS}
    _read_config_file(task, run_opts, options, given, RUN_KEYS)
    config = resolve_config(task, run_opts["preset"], options)
    plan = make_plan(task, reporter=lambda planned: make_reporter(run_opts["quiet"], task.primary_metric),
                     **{k: run_opts[k] for k in PLAN_DEFAULTS})
    store = plan.store
    try:
        outcome = run_experiment(task, config, plan)
    except ExperimentInterrupted as stop:
        print(f"suite: interrupted: experiment {stop.experiment_id} has {stop.finished} finished round(s) "
              f"stored in {store.path}; rerun the same command to resume", file=sys.stderr)
        raise typer.Exit(130) from None
    from suite.report.formatting import diverged_line, rounds_phrase

    experiment = store.experiment(outcome.experiment_id)
    if run_opts["json_out"]:
        print(json.dumps(summary_json(experiment, outcome.rounds, task, outcome.diverged), indent=2))
        return
    changed = _describe_config(task, config_dict(config))
    reuse = f"; {outcome.reused} reused from the store" if outcome.reused else ""
    title = (f"{task.name} experiment {outcome.experiment_id} ({changed}): "
             f"{rounds_phrase(len(outcome.rounds), len(outcome.diverged))}, seed {run_opts['seed']}{reuse}")
    out().print(summary_table(title, outcome.rounds, task) if len(outcome.rounds) else title, highlight=False)
    if outcome.diverged:
        out().print(diverged_line(outcome.diverged), highlight=False)
    for line in _setting_lines(experiment) + (task.summary_lines(config, outcome.rounds) if len(outcome.rounds)
                                              else []):
        out().print(line)


SWEEP_OPTIONS = {
    "grid": (list[str] | None, typer.Option(None, "--grid", help="FIELD=V1,V2,… (repeatable): the cells are every "
                                            "combination; other options given are fixed for every cell.")),
    "metric": (str | None, typer.Option(None, "--metric", help="Metric that ranks the cells.",
                                        show_default="the primary metric's validation twin (val_accuracy) when "
                                        "every cell measured it, so choosing never looks at the test set; else the "
                                        "primary metric")),
}
SWEEP_RUN_OPTIONS = {k: RUN_OPTIONS[k] for k in ("rounds", "seed", "parallel_rounds", "workers", "executor",
                                                  "ray_address", "max_retries", "cpus_per_task", "gpus_per_task",
                                                  "device", "precision", "data_dir", "download", "store",
                                                  "reuse_any_code", "save_models", "quiet")}
SWEEP_PRESET = {"preset": (str | None, typer.Option(None, "--preset", help="A named grid (see `suite list`); "
                                                    "--grid and fixed options given explicitly add to it."))}


def _sweep(task: registry.Task, options: dict[str, Any], given: set[str]) -> None:
    from suite.execution import sweep
    from suite.execution.planning import PLAN_DEFAULTS, make_plan
    from suite.report.formatting import rich_table, sweep_display
    from suite.report.progress import make_reporter
    from suite.results import sweeps

    opts = {k: options.pop(k) for k in (*SWEEP_PRESET, *SWEEP_OPTIONS, *SWEEP_RUN_OPTIONS, "config_file")}
    file = _read_config_file(task, opts, options, given, SWEEP_KEYS, sweep=True)
    preset = task.sweeps.get(opts["preset"]).value if opts["preset"] else grid.SweepPreset({})
    fixed = {**preset.fixed, **{k: v for k, v in options.items() if v is not None}}
    # an axis given on the command line replaces the file's axis of that field
    axes = {**(file.grid if file else {}), **grid.parse_grid(task, opts["grid"] or [])}
    cell_values = [{**base, **extra} for base in preset.cell_values() for extra in grid.product(axes)]
    if not any(cell_values[0]) and len(cell_values) == 1:
        raise SuiteError("a sweep needs --grid FIELD=V1,V2,…, a [grid] in --config, or a --preset (see `suite list`)")
    cells = grid.make_cells(task, fixed, cell_values)
    metric = declaration(task, opts["metric"] or task.primary_metric)
    if not metric.ranked:
        raise SuiteError(f"--metric {metric.name}: neither higher nor lower is better, so it cannot rank cells")
    position = {c.label: i for i, c in enumerate(cells, start=1)}
    # one live display at a time: executors that train several cells at once log plain lines
    plain = opts["quiet"] or opts["executor"] != "inline" or opts["workers"] > 1

    def reporter(planned):
        out().print(f"cell {position[planned.label]}/{len(cells)}: {planned.label}", highlight=False)
        return make_reporter(plain, task.primary_metric)

    plan = make_plan(task, reporter=reporter, **{k: opts[k] for k in PLAN_DEFAULTS if k in opts})
    store = plan.store
    spec_hash, spec = grid.sweep_spec(task, fixed, cells, opts["rounds"], opts["seed"], opts["preset"])
    try:
        outcome = sweep.run_sweep(task, cells, spec_hash, spec, plan)
    except sweep.SweepInterrupted as stop:
        print(f"suite: interrupted: sweep {stop.sweep_id}'s finished rounds are stored in {store.path}; rerun "
              "the same command to train only the missing ones", file=sys.stderr)
        raise typer.Exit(130) from None
    record = store.sweep(outcome.sweep_id)
    metric = sweeps.ranking_metric(store, record, opts["metric"])  # validation first, when the cells have it
    table = sweeps.sweep_table(record, sweeps.sweep_values(store, record, metric), metric)
    title = (f"{task.name} sweep {outcome.sweep_id}: {len(cells)} cells × {opts['rounds']} rounds, {metric.name}, "
             f"best first ({outcome.ran} rounds trained, {outcome.reused} reused)")
    out().print(rich_table(sweep_display(table, metric), title))
    out().print(f"{sweeps.best_note(table)} Figures: suite report --sweep {outcome.sweep_id}")


def _read_config_file(task: registry.Task, run_opts: dict[str, Any], options: dict[str, Any], given: set[str],
                      keys: set[str], sweep: bool = False):
    """Fill what the command line left out from --config FILE: [run] into run_opts, [config] into the config
    options (None: not given). Returns the file read, or None without --config."""
    from suite.core.configfile import read_config_file

    path = run_opts.pop("config_file")
    if path is None:
        return None
    file = read_config_file(path, task, keys, sweep=sweep)
    for key, value in file.run.items():
        if key not in given:
            run_opts[key] = Path(value) if key in ("store", "data_dir") else value
    for key, value in file.config.items():
        if options.get(key) is None:
            options[key] = value
    return file


def _setting_lines(experiment: dict[str, Any]) -> list[str]:
    return [f"{key}: {value}" for key, value in experiment.get("setting", {}).items()]


def _command(task: registry.Task, params: list[inspect.Parameter], body, help_text: str) -> click.Command:
    """`body(task, options, given)` as the command named after the task, with these parameters; `given` names the
    options typed on the command line (so that they override a --config file, defaults do not)."""
    def command(ctx: typer.Context, **options: Any) -> None:
        given = {name for name in options if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"}
        body(task, options, given)

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    command.__signature__ = inspect.Signature([context, *params])
    command.__annotations__ = {"ctx": typer.Context, **{p.name: p.annotation for p in params}}
    command.__name__ = task.name
    single = typer.Typer(add_completion=False)
    single.command(name=task.name, help=help_text)(command)
    return typer.main.get_command(single)


def _run_parameters(options: dict[str, tuple[Any, Any]]) -> list[inspect.Parameter]:
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
            for name, (kind, default) in options.items()]


DATA_OPTIONS = {k: RUN_OPTIONS[k] for k in ("data_dir", "download")}


def _data_parameters(task: registry.Task) -> list[inspect.Parameter]:
    return _run_parameters(DATA_OPTIONS) + _config_parameters(task, task.data_fields)


def _prepare_command(task: registry.Task) -> click.Command:
    return _command(task, _data_parameters(task), _prepare, f"Check {task.name}'s data and build its cache.")


def _stats_command(task: registry.Task) -> click.Command:
    return _command(task, _data_parameters(task), _stats, f"Statistics of {task.name}'s data set and pairs.")


data_app = typer.Typer(help="Prepare a task's data (decode, preprocess, cache) and describe it.",
                       no_args_is_help=True)
prepare_app = typer.Typer(cls=task_group(_prepare_command), help="Check a task's data and build its preprocessing "
                          "cache.", no_args_is_help=True)
stats_app = typer.Typer(cls=task_group(_stats_command), help="Print statistics of a task's data set and pairs.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(prepare_app, name="prepare")
data_app.add_typer(stats_app, name="stats")


def _data_config(task: registry.Task, options: dict[str, Any]) -> tuple[Any, Path, bool]:
    from suite.execution.planning import resolve_config

    run_opts = {k: options.pop(k) for k in DATA_OPTIONS}
    config = resolve_config(task, None, options)
    return config, resolve_data_dir(run_opts["data_dir"], create=run_opts["download"]), run_opts["download"]


def _prepare(task: registry.Task, options: dict[str, Any], given: set[str]) -> None:
    config, data_dir, download = _data_config(task, options)
    out().print(task.prepare_data(config, data_dir, download))


def _stats(task: registry.Task, options: dict[str, Any], given: set[str]) -> None:
    config, data_dir, _ = _data_config(task, options)
    for title, frame in task.data_stats(config, data_dir):
        table = Table(title=title, title_justify="left")
        for column in frame.columns:
            table.add_column(str(column), justify="left" if frame[column].dtype == object else "right")
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        out().print(table)


SWEEP_CONFIG_OPTION = (Path | None, typer.Option(
    None, "--config", help="TOML file with \\[grid] (FIELD = \\[V1, V2, …]), \\[config] (fixed options) and "
    "\\[run] options; options given on the command line override it (a --grid of the same field replaces the file's). "
    "docs/configuration.md.", show_default=False))


def _sweep_command(task: registry.Task) -> click.Command:
    params = (_run_parameters({**SWEEP_PRESET, **SWEEP_OPTIONS, **SWEEP_RUN_OPTIONS,
                               "config_file": SWEEP_CONFIG_OPTION}) + _config_parameters(task))
    return _command(task, params, _sweep, f"Sweep a grid of {task.name} configurations.")


sweep_app = typer.Typer(cls=task_group(_sweep_command), help="Run a grid of configurations, each with repeated "
                        "rounds (resumable).", no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")


@app.command("list")
def list_tasks() -> None:
    """Tasks with their models, presets (`suite run --preset`) and sweep presets (`suite sweep --preset`)."""
    for task in registry.tasks().values():
        table = Table(title=f"{task.name}: {task.description}", title_justify="left")
        table.add_column("kind")
        table.add_column("name")
        table.add_column("description")
        for name, entry in task.models.items():
            table.add_row("model", name, entry.help)
        for name, entry in task.presets.items():
            table.add_row("preset", name, entry.help)
        for name, entry in task.sweeps.items():
            table.add_row("sweep preset", name, entry.help)
        out().print(table)


@app.command("results")
def results(store: StoreOption = DEFAULT_PATH,
            json_out: Annotated[bool, typer.Option("--json", help="Print as JSON: every experiment with its config, "
                                                   "finished and diverged rounds and primary metric, and the sweeps."
                                                   )] = False) -> None:
    """Stored experiments, one line each, and sweeps."""
    from suite.report.formatting import PLAIN_ROWS, text_table

    def show(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
        if len(rows) > PLAIN_ROWS:  # rich would take seconds to lay out thousands of rows
            print(text_table(rows, list(columns), title))
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for cells in rows:
            table.add_row(*cells)
        out().print(table)

    from suite.results.stats import values_by_experiment

    db = Store(store, readonly=True)
    frame = db.experiments()
    # Each experiment's primary metric over its finished rounds, from one read of every finished round.
    finished = db.rounds_of()
    summaries: dict[int, tuple[Any, float, float]] = {}
    for name, ids in frame.groupby("task")["id"]:
        task = registry.tasks().get(name)
        metric = declaration(task, task.primary_metric) if task is not None else None
        if metric is None or metric.name not in finished:
            continue
        values = values_by_experiment(finished[finished["experiment_id"].isin(ids)], metric)
        for experiment_id, row in values.agg(["mean", "std"]).iterrows():
            summaries[int(experiment_id)] = metric, row["mean"], row["std"]
    if json_out:
        print(json.dumps(_results_json(db, frame, summaries), indent=2))
        return
    rows = []
    for row in frame.itertuples():
        task = registry.tasks().get(row.task)
        described = _describe_config(task, json.loads(row.config))
        primary = ""
        if row.id in summaries:
            metric, mean, std = summaries[row.id]
            primary = f"{metric.name}{metric.unit_suffix}: {metric.show(mean)} ± {metric.show(std)}"
        counted = f"{row.rounds} (+{row.diverged} diverged)" if row.diverged else str(row.rounds)
        rows.append([str(row.id), row.task, counted, primary, described, row.created])
    show(f"experiments in {db.path}", ("id", "task", "rounds", "primary metric: mean ± std", "config (non-default)",
                                       "created"), rows)
    sweeps = db.sweeps()
    if len(sweeps):
        rows = []
        for row in sweeps.itertuples():
            record = db.sweep(row.id)
            swept = grid.describe_axes(record["spec"]["axes"])
            ids = [c["experiment_id"] for c in record["cells"]]
            rows.append([str(row.id), row.task, str(row.cells), str(record["spec"]["rounds"]), swept,
                         f"{min(ids)}–{max(ids)}" if ids else "", row.created])
        show("sweeps (suite report --sweep ID)", ("id", "task", "cells", "rounds", "swept", "experiments", "created"),
             rows)


def _results_json(db: Store, frame, summaries: dict[int, tuple[Any, float, float]]) -> dict[str, Any]:
    """`suite results --json`: the listing as data (NaN, e.g. the std of one round, as null)."""
    def number(value: float) -> float | None:
        return None if value != value else float(value)

    experiments = []
    for row in frame.itertuples():
        primary = None
        if row.id in summaries:
            metric, mean, std = summaries[row.id]
            primary = {"name": metric.name, "unit": metric.unit, "mean": number(mean), "std": number(std)}
        experiments.append({"id": int(row.id), "task": row.task, "config": json.loads(row.config),
                            "rounds": int(row.rounds), "diverged": int(row.diverged), "created": row.created,
                            "primary_metric": primary})
    sweeps = [{"id": int(row.id), "task": row.task, "cells": int(row.cells), "created": row.created}
              for row in db.sweeps().itertuples()]
    return {"store": str(db.path), "experiments": experiments, "sweeps": sweeps}


def _describe_config(task: registry.Task | None, config: dict[str, Any]) -> str:
    if task is None:  # stored by a task that is not installed here
        return json.dumps(config)
    return ", ".join(f"{k}={v}" for k, v in non_defaults(task.config_cls, config).items()) or "defaults"


def _reproducing_file(experiment: dict[str, Any], rounds, diverged: list[dict], store: Path) -> str:
    """`suite show ID --config`: the experiment's full config and the seed and rounds its stored rounds are (the
    seed with the most of them, rounds 0 … its highest index), so running the file reuses them."""
    from suite.core.configfile import config_toml

    stored = [(int(r.seed), int(r.round_index)) for r in rounds.itertuples()] + [
        (d["seed"], d["round_index"]) for d in diverged]
    if stored:
        seeds = [seed for seed, _ in stored]
        seed = max(set(seeds), key=lambda s: (seeds.count(s), -s))
        count = max(index for s, index in stored if s == seed) + 1
        have = f"{seeds.count(seed)} stored round(s) of seed {seed}"
    else:
        seed, count, have = 0, 10, "no stored rounds yet"
    header = [f"experiment {experiment['id']} of {store} ({experiment['task']}, config {experiment['config_hash']}): "
              f"{have}",
              f"suite run {experiment['task']} --config FILE reuses them; options on the command line override "
              "this file (docs/configuration.md)"]
    task = registry.tasks().get(experiment["task"])
    config = experiment["config"]
    if task is not None:  # in the task's own order, as `suite run -h` lists them
        config = {f.name: config[f.name] for f in ordered_fields(task.config_cls) if f.name in config} | config
    return config_toml(experiment["task"], config, {"rounds": count, "seed": seed, "store": str(store)}, header)


@app.command("show")
def show(experiment_id: Annotated[int, typer.Argument(help="Experiment id (see `suite results`).")],
         store: StoreOption = DEFAULT_PATH,
         json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
         config_out: Annotated[bool, typer.Option("--config", help="Print a TOML config file that reproduces the "
                                                  "experiment: `suite run TASK --config FILE` reuses its rounds.")
                               ] = False) -> None:
    """One experiment: its configuration, environment, rounds and summary."""
    from suite.report.formatting import diverged_line, rounds_phrase

    if json_out and config_out:
        raise SuiteError("--json and --config: choose one")
    db = Store(store, readonly=True)
    experiment = db.experiment(experiment_id)
    rounds = db.rounds(experiment_id)
    diverged = db.diverged(experiment_id)
    if config_out:
        print(_reproducing_file(experiment, rounds, diverged, store), end="")
        return
    task = registry.tasks().get(experiment["task"])
    if json_out:
        print(json.dumps(summary_json(experiment, rounds, task, diverged) if len(rounds) or diverged
                         else experiment, indent=2))
        return
    info = Table(title=f"experiment {experiment_id}", title_justify="left", show_header=False)
    for key in ("task", "config_hash", "created", "code_version", "torch_version", "python_version", "device"):
        info.add_row(key, str(experiment[key]))
    for key, value in experiment["config"].items():
        info.add_row(f"config.{key}", str(value))
    out().print(info)
    if diverged:
        out().print(diverged_line(diverged), highlight=False)
    if not len(rounds):
        out().print("no finished rounds")
        return
    primary = declaration(task, task.primary_metric if task else "test_loss")
    seconds = declaration(task, "round_seconds")
    per_round = Table(title="rounds", title_justify="left")
    for column in ("round", "seed", primary.label, "test loss", "training time (s)", "device"):
        per_round.add_column(column)
    versions = Table(title="code versions of the rounds", title_justify="left")
    for column in ("digest", "commit", "rounds", "stored"):
        versions.add_column(column)
    for version in db.code_versions(experiment_id):
        unknown = version["code_digest"] == UNKNOWN
        versions.add_row(version["code_digest"] + (" (stored before code versions were recorded)" if unknown
                                                   else ""), version["code_commit"] or "–", str(version["rounds"]),
                         version["first"] if version["first"] == version["last"]
                         else f"{version['first']} – {version['last']}")
    for row in rounds.to_dict("records"):
        shared = f" (the group of {row['group_size']})" if row["group_size"] > 1 else ""
        per_round.add_row(str(row["round_index"]), str(row["seed"]), primary.show(row.get(primary.name, math.nan)),
                          declaration(task, "test_loss").show(row.get("test_loss", math.nan)),
                          seconds.show(row["round_seconds"]) + shared, row["device"])
    out().print(per_round)
    out().print(versions)
    out().print(summary_table(f"summary of {rounds_phrase(len(rounds), len(diverged))}", rounds, task))


IdsArgument = Annotated[list[int] | None, typer.Argument(
    help="Experiment ids (see `suite results`); none: every experiment of --task.", show_default=False)]
TaskOption = Annotated[str | None, typer.Option("--task", help="Select the experiments of this task.")]
WhereOption = Annotated[list[str] | None, typer.Option(
    "--where", help="Keep experiments whose config has FIELD=VALUE (repeatable), e.g. model=siamese.")]
BaselineOption = Annotated[int | None, typer.Option("--baseline", help="Reference experiment id.",
                                                    show_default="the first selected")]
MetricOption = Annotated[str | None, typer.Option("--metric", help="Metric to compare.",
                                                  show_default="the task's primary metric")]
AgainstOption = Annotated[Path | None, typer.Option(
    "--against", help="Baseline results store: compare each experiment of --store (the candidate) with the experiment "
    "of the same task and configuration there, paired on seed and round index; Holm across the matched experiments.",
    show_default=False)]
AlphaOption = Annotated[float | None, typer.Option(
    "--alpha", help="With --against: significance level of the Holm-adjusted paired p-values.", show_default="0.05")]


def _selection(store: Path, ids, task: str | None, where, baseline: int | None, metric: str | None):
    """The store, the chosen experiments, the reference id and the metric of `suite compare|report`."""
    from suite.results.selection import choose

    db = Store(store, readonly=True)
    return db, *choose(db, ids or [], task, where or [], baseline, metric)


@app.command("compare")
def compare_command(ids: IdsArgument = None, task: TaskOption = None, where: WhereOption = None,
                    baseline: BaselineOption = None, metric: MetricOption = None,
                    versus: Annotated[str, typer.Option(
                        "--versus", help="Compare each experiment with the reference (--baseline), or with the "
                        "one before it in the order of the ids given (previous: an ablation, one ingredient added "
                        "per row).")] = "reference",
                    format_name: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")]
                    = "table", store: StoreOption = DEFAULT_PATH, against: AgainstOption = None,
                    fail_if_worse: Annotated[bool, typer.Option(
                        "--fail-if-worse", help="With --against: exit 1, naming each experiment on stderr, when one "
                        "is significantly worse than its baseline (Holm-adjusted paired p < --alpha) by more than "
                        "--margin, in the direction the metric declares.")] = False,
                    margin: Annotated[float | None, typer.Option(
                        "--margin", help="With --fail-if-worse: how much worse counts, in the metric's display unit "
                        "(percentage points for accuracies).", show_default="0")] = None,
                    alpha: AlphaOption = None) -> None:
    """Compare stored experiments with a reference: CIs, paired or unpaired tests, effect sizes, Holm-adjusted p.
    With --against: each experiment with its counterpart in a baseline store (and --fail-if-worse: a CI gate)."""
    from suite.report.formatting import render
    from suite.results.compare import VERSUS, comparison_table
    from suite.results.selection import samples

    if format_name not in FORMATS:
        raise SuiteError(f"--format: {format_name!r} is not one of: {', '.join(FORMATS)}")
    if versus not in VERSUS:
        raise SuiteError(f"--versus: {versus!r} is not one of: {', '.join(VERSUS)}")
    if against is None:
        for given, name in ((fail_if_worse, "--fail-if-worse"), (margin is not None, "--margin"),
                            (alpha is not None, "--alpha")):
            if given:
                raise SuiteError(f"{name}: only with --against BASELINE_STORE (the store to compare --store with)")
    else:
        from suite.report import formatting
        from suite.results import against as vs

        if baseline is not None:
            raise SuiteError("--against compares each experiment with its own baseline: leave out --baseline")
        if versus != "reference":
            raise SuiteError("--against compares each experiment with its own baseline: leave out --versus")
        if margin is not None and not fail_if_worse:
            raise SuiteError("--margin: only with --fail-if-worse")
        alpha = vs.check_alpha(vs.ALPHA if alpha is None else alpha)
        margin = vs.check_margin(0.0 if margin is None else margin)
        candidate = vs.open_store(store, "--store")
        result = vs.against_baseline(candidate, vs.open_store(against), vs.candidates(candidate, ids or [], task,
                                                                                     where or []),
                                     metric, alpha, where or [])
        worse = vs.regressions(result.table, margin) if fail_if_worse else None
        if worse is not None and not result.table["tested"].any() and not len(worse):
            raise SuiteError("--fail-if-worse: no matched experiment shares 2 or more rounds (seed, round index) with "
                             "its baseline, so nothing could be tested")
        title = (f"{result.candidate_path} against baseline {result.baseline_path}: "
                 f"{', '.join(dict.fromkeys(result.table['metric']))}, candidate − baseline")
        rendered = formatting.render_against(result, format_name, title, worse)
        notes = formatting.unmatched_lines(result) + [
            "Matched by task and configuration; Δ = candidate − baseline on the rounds both ran (same seed and round "
            "index), with its paired t interval; p-values paired t / Wilcoxon, Holm-adjusted across the "
            f"{len(result.table)} matched experiments; significant: Holm-adjusted paired t p < {alpha:g}; could "
            f"detect: the smallest true difference a paired t-test at {alpha:g} finds with 80 % power from these "
            "rounds. docs/statistics.md."]
        if worse is not None:
            notes.append(formatting.gate_line(result.table, worse, margin, alpha))
        if format_name == "table":
            out().print(rendered)
            for line in notes:  # wrapped between words at the console's width, like the table above them
                out().print(line)
        elif format_name == "markdown":
            print("\n\n".join([rendered, *notes]))
        else:
            print(rendered)
        if worse is not None:
            for row in worse.to_dict("records"):
                print(f"suite: {formatting.regression_line(row, margin, alpha)}", file=sys.stderr)
            if len(worse):
                raise typer.Exit(1)
        return
    if versus == "previous" and baseline is not None:
        raise SuiteError("--versus previous compares each row with the one before it: leave out --baseline")
    db, experiments, reference, metric = _selection(store, ids, task, where, baseline, metric)
    found = samples(db, experiments, metric)
    table = comparison_table(found, reference, metric, versus)
    title = (f"{experiments[0]['task']}: {metric.name}, each experiment against the one before it"
             if versus == "previous" else f"{experiments[0]['task']}: {metric.name}, each experiment against "
             f"experiment {reference}")
    rendered = render(table, metric, format_name, title)
    if format_name == "table":
        plain = isinstance(rendered, str)  # a long table, as plain text: so are the lines under it
        say = print if plain else out().print
        say(rendered)
        other = "the row above" if versus == "previous" else "reference"
        say(f"Δ = experiment − {other}; tests paired on the rounds both ran (same seed and round index), "
                    "unpaired when they share fewer than two; p-values t-test / rank test, Holm-adjusted across the "
                    "table; g: Hedges' g (pooled std), d_z: mean paired difference over its std; P(better): "
                    "probability of improvement. Intervals and tests: docs/statistics.md.")
        for sample in found:
            if sample.command:
                print(f"{sample.experiment_id}: {sample.command}") if plain else out().print(
                    f"{sample.experiment_id}: {sample.command}", soft_wrap=True)
    else:
        print(rendered)


@app.command("export")
def export_command(ids: IdsArgument = None, task: TaskOption = None, where: WhereOption = None,
                   out_dir: Annotated[Path | None, typer.Option(
                       "--out", help="Folder to write <table>.<format> into (created if missing; files of those names "
                       "are replaced, nothing else is touched); - writes one table to stdout.", show_default=False)]
                   = None,
                   format_name: Annotated[str, typer.Option("--format", help="csv, jsonl (JSON lines) or parquet "
                                                            "(needs pip install -e '.[parquet]').")] = "csv",
                   table_names: Annotated[str, typer.Option(
                       "--tables", help="Comma-separated: experiments (config columns, metric means and stds), "
                       "rounds, epochs, scores (per example).")] = "experiments,rounds,epochs",
                   split: Annotated[str, typer.Option("--split", help="The split of the scores table.")] = "test",
                   to: Annotated[str, typer.Option("--to", help="files, or mlflow: log each experiment as an MLflow "
                                                   "run with a child run per round (needs pip install -e "
                                                   "'.[mlflow]'); exporting again adds only what is new.")]
                   = "files",
                   tracking_uri: Annotated[str | None, typer.Option(
                       "--tracking-uri", help="With --to mlflow: where MLflow stores runs.",
                       show_default="$MLFLOW_TRACKING_URI, else MLflow's default")] = None,
                   mlflow_experiment: Annotated[str | None, typer.Option(
                       "--mlflow-experiment", help="With --to mlflow: the MLflow experiment to log into.",
                       show_default="suite/<task>")] = None,
                   store: StoreOption = DEFAULT_PATH) -> None:
    """Export experiments (none named: every one) as CSV, JSON lines or Parquet files, or into MLflow."""
    from suite.results import export, tables

    db = Store(store, readonly=True)
    if to == "mlflow":
        from suite.results.mlflow_export import export_to_mlflow

        for given, name in ((out_dir is not None, "--out"), (format_name != "csv", "--format"),
                            (table_names != "experiments,rounds,epochs", "--tables")):
            if given:
                raise SuiteError(f"{name}: only with --to files; --to mlflow logs runs at --tracking-uri")
        done = export_to_mlflow(db, tables.chosen_ids(db, ids, task, where), tracking_uri, mlflow_experiment,
                                lambda text: print(f"suite export: {text}", file=sys.stderr, flush=True))
        out().print(done.describe(), highlight=False, soft_wrap=True)
        return
    if to != "files":
        raise SuiteError(f"--to: {to!r} is not one of: files, mlflow")
    for given, name in ((tracking_uri is not None, "--tracking-uri"), (mlflow_experiment is not None,
                                                                         "--mlflow-experiment")):
        if given:
            raise SuiteError(f"{name}: only with --to mlflow")
    if out_dir is None:
        raise SuiteError("--out: name a folder to write the tables into (or - for one table on stdout)")
    names = export.parse_tables(table_names)
    written = export.export(db, None if str(out_dir) == "-" else out_dir, format_name, names, ids, task, where,
                            split)
    for path, rows in written:
        if path is not None:
            out().print(f"wrote {path} ({rows:,} rows)", highlight=False, soft_wrap=True)


@app.command("report")
def report_command(ids: IdsArgument = None, task: TaskOption = None, where: WhereOption = None,
                   baseline: BaselineOption = None, metric: MetricOption = None,
                   title: Annotated[str | None, typer.Option("--title", help="Report title.",
                                                             show_default="from the task and metric")] = None,
                   out_dir: Annotated[Path, typer.Option("--out", help="Report folder: new, empty, or one a "
                                                       "report wrote before (its files are replaced).")]
                   = Path("reports/latest"),
                   force: Annotated[bool, typer.Option("--force", help="Write into --out even though it holds files "
                                                       "no report wrote (they are left as they are; never / or "
                                                       "the home directory).")] = False,
                   data_dir: Annotated[Path | None, typer.Option(
                       "--data-dir", help="Data directory, for galleries and data-set figures.",
                       show_default="$SUITE_DATA_DIR, else ./data; skipped when absent")] = None,
                   sweep_id: Annotated[int | None, typer.Option("--sweep", help="Report this sweep (see `suite "
                                                                       "results`): its cells, best first, with a "
                                                                       "heatmap and marginal plots.")] = None,
                   store: StoreOption = DEFAULT_PATH, against: AgainstOption = None, alpha: AlphaOption = None
                   ) -> None:
    """Write a report folder: report.md and a self-contained report.html with tables and figures. With --against,
    it opens with one verdict line per experiment against its counterpart in the baseline store."""
    from suite.report import document as report
    from suite.results import sweeps

    record = None
    if sweep_id is not None:
        if ids or task or where:
            raise SuiteError("--sweep chooses the experiments itself: leave out ids, --task and --where")
        db = Store(store, readonly=True)
        record = db.sweep(sweep_id)
        declared = sweeps.ranking_metric(db, record, metric)
        ranked = sweeps.sweep_table(record, sweeps.sweep_values(db, record, declared), declared)
        metric = declared.name  # the report ranks and compares the cells on what ranked them here
        ids = ranked["experiment"].tolist()
        baseline = int(ranked.loc[0, "experiment"]) if baseline is None else baseline
    if against is None and alpha is not None:
        raise SuiteError("--alpha: only with --against BASELINE_STORE (the store to compare --store with)")
    db, experiments, reference, metric = _selection(store, ids, task, where, baseline, metric)
    verdicts = None
    if against is not None:
        from suite.results import against as vs

        verdicts = vs.against_baseline(db, vs.open_store(against), experiments, metric.name,
                                       vs.check_alpha(vs.ALPHA if alpha is None else alpha), where or [])
    found, problem = data_dir, ""
    if data_dir is not None:
        resolve_data_dir(data_dir)  # asked for explicitly: a missing folder is an error
    else:
        try:
            found = resolve_data_dir(None)
        except SuiteError as exc:
            problem = str(exc)
    folder = report.ReportFolder(out_dir, force, keep=[store, against])  # checked before anything is written
    what = f"sweep {sweep_id}" if record else f"{len(experiments)} experiments"
    title = title or f"{experiments[0]['task']}: {metric.words} of {what}"

    def progress(text: str) -> None:
        print(f"suite report: {text}", file=sys.stderr, flush=True)

    with folder:
        blocks = report.build(db, experiments, reference, metric, title, out_dir, found, problem, record, verdicts,
                              progress)
        progress("writing report.md and report.html")
        markdown, page = folder.write(blocks, title)
    out().print(f"wrote {markdown} and {page} ({sum(b.kind == 'figure' for b in blocks)} figures)")


@app.command("predict")
def predict_command(
        task_name: Annotated[str, typer.Argument(metavar="TASK", help="The task of the experiment.")],
        inputs: Annotated[list[Path] | None, typer.Argument(
            help="The pair's input files (lfw: two images; mnist: two digit images, or one .npy of 2×14×14).",
            show_default=False)] = None,
        experiment: Annotated[int | None, typer.Option("--experiment", help="Experiment id (see `suite results`), "
                                                       "run with --save-models.", show_default=False)] = None,
        round_index: Annotated[int | None, typer.Option("--round", help="The round whose saved model predicts.",
                                                        show_default="the only one saved")] = None,
        all_rounds: Annotated[bool, typer.Option("--all-rounds", help="Every saved round: mean ± std of the score, "
                                                 "and the rounds' majority decision.")] = False,
        seed: Annotated[int | None, typer.Option("--seed", help="The rounds of this base seed, where several "
                                                 "were run.")] = None,
        pairs: Annotated[Path | None, typer.Option("--pairs", help="A pairs file (lfw: LFW's format) of images of "
                                                   "the data directory: one CSV line per pair on stdout, accuracy "
                                                   "on stderr when it has labels.", show_default=False)] = None,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory, for --pairs.",
                                                      show_default="$SUITE_DATA_DIR, else ./data")] = None,
        device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
        store: StoreOption = DEFAULT_PATH) -> None:
    """Verify new pairs with an experiment's saved models (`suite run … --save-models best`)."""
    from suite.execution import prediction
    from suite.training.devices import resolve_device

    task = registry.get_task(task_name)
    if not prediction.supports_predict(task):
        raise SuiteError(f"task {task.name} does not support predict")
    if experiment is None:
        raise SuiteError("--experiment ID: which experiment's saved models predict (see `suite results`)")
    if round_index is not None and all_rounds:
        raise SuiteError("--round and --all-rounds: choose one")
    if pairs is not None and inputs:
        raise SuiteError("--pairs FILE or input files: choose one")
    if pairs is None and not inputs:
        raise SuiteError("nothing to predict: give the pair's input files, or --pairs FILE")
    db = Store(store, readonly=True)
    prediction.check_experiment(task, db, experiment)
    chosen = prediction.chosen_models(db, experiment, round_index, all_rounds, seed)
    found = resolve_data_dir(data_dir) if pairs is not None else None
    done = prediction.run_predictions(task, db, experiment, chosen, inputs or [], pairs, found,
                                      resolve_device(device))
    _show_predictions(task, done, csv=pairs is not None)


def _show_predictions(task: registry.Task, done, csv: bool) -> None:
    """A table of the pairs (files), or CSV lines and accuracy lines (--pairs)."""
    import numpy as np
    import pandas as pd

    scores = done.scores.astype(float)  # float32 scores would print with float64's digits once rounded
    rounds = list(scores.columns)
    thresholds = np.array([done.thresholds[r] for r in rounds])
    decided = scores.to_numpy() >= thresholds[None, :]
    votes = decided.sum(axis=1)
    # the rounds' majority; a tie goes to the mean score against the mean threshold
    mean = scores.mean(axis=1).to_numpy()
    ensemble = np.where(2 * votes == len(rounds), mean >= thresholds.mean(), 2 * votes > len(rounds))
    yes, no = task.target_names[1], task.target_names[0]
    table = pd.DataFrame({"pair": done.names})
    if len(rounds) == 1:
        table[f"P({yes})"] = scores[rounds[0]].to_numpy()
        table["decision"] = [yes if d else no for d in decided[:, 0]]
    else:
        table[f"P({yes}) mean"] = mean
        table["std"] = scores.std(axis=1, ddof=1).to_numpy()
        table["rounds saying yes"] = [f"{v} of {len(rounds)}" for v in votes]
        table["decision"] = [yes if d else no for d in ensemble]
    for name, values in done.columns.items():
        table[name] = values
    if done.targets is not None:
        table["target"] = [yes if t > 0.5 else no for t in done.targets]
    if csv:
        print(table.to_csv(index=False), end="")
    else:
        table = table.round(4)
        shown = Table(title=f"{task.name}: {', '.join(rounds)}", title_justify="left")
        for column in table.columns:
            shown.add_column(str(column))
        for row in table.itertuples(index=False):
            shown.add_row(*(str(v) for v in row))
        out().print(shown)
        out().print(f"decision: {yes} when P({yes}) ≥ the round's threshold "
                    f"({', '.join(f'{done.thresholds[r]:.4g}' for r in rounds)}: the one the round tuned, "
                    "its stored threshold metric, else 0.5)", highlight=False)
    if done.targets is None:
        return
    same = np.array(done.targets) > 0.5
    for k, label in enumerate(rounds):
        at_half = float(np.mean((scores[label].to_numpy() >= 0.5) == same))
        tuned = float(np.mean(decided[:, k] == same))
        stored = done.stored[label]
        reference = "".join(f"; its stored {name}: {100 * stored[name]:.2f} %" for name in
                            ("test_accuracy", "test_tuned_accuracy") if name in stored)
        print(f"suite predict: {label}: accuracy {100 * at_half:.2f} % at threshold 0.5, {100 * tuned:.2f} % at "
              f"its threshold {done.thresholds[label]:.4g} over {len(same)} pairs{reference}", file=sys.stderr)
    if len(rounds) > 1:
        print(f"suite predict: the {len(rounds)} rounds' majority decision: accuracy "
              f"{100 * float(np.mean(ensemble == same)):.2f} % over {len(same)} pairs", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors and bad input become one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="suite", standalone_mode=False)
    except SuiteError as exc:
        print(f"suite: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # the machine refused: disk full, permissions, I/O error — what was stored stays
        where = f": {exc.filename}" if exc.filename else ""
        print(f"suite: error: {exc.strerror or exc}{where}", file=sys.stderr)
        sys.exit(2)
    except typer.TyperException as exc:  # click's usage errors: unknown command, bad option value, ...
        print(f"suite: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("suite: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
