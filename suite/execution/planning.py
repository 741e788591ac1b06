"""From the options of a run (the command line's, the Python API's or a config file's) to a checked RunPlan and a
task config. One place for both front ends, so `suite run` and `suite.run()` accept and refuse the same things."""

import sys
from pathlib import Path
from typing import Any

from suite.core.config import build_config, flag
from suite.core.datadir import resolve_data_dir
from suite.core.errors import SuiteError
from suite.core.registry import Task
from suite.execution.executors import make_executor
from suite.execution.runner import RunPlan, check_execution
from suite.results.store import DEFAULT_PATH, Store
from suite.training.devices import resolve_acceleration, resolve_device
from suite.training.engine import KEEP

# Upper bounds of the counts a run takes: beyond them a typo (--rounds 10000000) would only fill memory.
COUNT_LIMITS = {"rounds": 10_000, "parallel_rounds": 1_024, "workers": 256}

# The options that say how to run an experiment (not what it is), with their defaults: the keyword arguments of
# make_plan, and the [run] table of a config file.
PLAN_DEFAULTS: dict[str, Any] = {
    "rounds": 10, "seed": 0, "parallel_rounds": "auto", "workers": 1, "executor": "inline", "ray_address": None,
    "max_retries": 2, "cpus_per_task": 1.0, "gpus_per_task": 0.0, "device": "auto", "precision": "auto",
    "compile": False, "data_dir": None, "download": False, "store": DEFAULT_PATH, "fresh": False,
    "reuse_any_code": False, "save_models": None,
}


def parse_parallel_rounds(value: str | int | None) -> int | None:
    """`auto` (or None) → None, the runner decides; otherwise a whole number."""
    if value is None or value == "auto":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SuiteError(f"--parallel-rounds: must be auto or a whole number >= 1, got {value!r}") from None


def check_counts(counts: dict[str, int | None]) -> None:
    """--rounds, --parallel-rounds and --workers in 1 … COUNT_LIMITS (None: auto)."""
    for name, limit in COUNT_LIMITS.items():
        value = counts.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise SuiteError(f"{flag(name)}: must be a whole number, got {value!r}")
        if not 1 <= value <= limit:
            raise SuiteError(f"{flag(name)}: must be between 1 and {limit:,}, got {value:,}")


def resolve_config(task: Task, preset: str | None, given: dict[str, Any]) -> Any:
    """Defaults ← preset ← the values given (None: not given)."""
    values = dict(task.presets.get(preset).value) if preset else {}
    values.update({k: v for k, v in given.items() if v is not None})
    return build_config(task.config_cls, values)


def make_plan(task: Task, *, reporter=None, log=None, **options: Any) -> RunPlan:
    """The run plan the options (PLAN_DEFAULTS' names) describe; everything they name is checked before anything
    trains or the store is created (the data directory only for a task that reads files: Task.reads_data)."""
    unknown = sorted(set(options) - set(PLAN_DEFAULTS))
    if unknown:
        raise SuiteError(f"unknown run option(s): {', '.join(unknown)}")
    opts = {**PLAN_DEFAULTS, **options}
    opts["parallel_rounds"] = parse_parallel_rounds(opts["parallel_rounds"])
    if opts["save_models"] not in (None, *KEEP):
        raise SuiteError(f"--save-models: {opts['save_models']!r} is not one of: {', '.join(KEEP)}")
    check_counts(opts)
    if not isinstance(opts["seed"], int) or isinstance(opts["seed"], bool):
        raise SuiteError(f"--seed: must be a whole number, got {opts['seed']!r}")
    device = resolve_device(opts["device"])
    ray_options = {"address": opts["ray_address"], "max_retries": opts["max_retries"], "cpus": opts["cpus_per_task"],
                   "gpus": opts["gpus_per_task"],
                   "log": log or (lambda text: print(text, file=sys.stderr, flush=True))}
    accel = resolve_acceleration(opts["precision"], opts["compile"], device)
    executor = make_executor(opts["executor"], workers=opts["workers"], ray_options=ray_options)
    # before the store is opened: a refused plan leaves nothing behind
    check_execution(executor, device, accel, opts["parallel_rounds"], opts["seed"])
    data_dir = (resolve_data_dir(opts["data_dir"], create=opts["download"]) if task.reads_data
                else Path(opts["data_dir"] or "data"))
    return RunPlan(store=Store(opts["store"]), data_dir=data_dir, rounds=opts["rounds"], seed=opts["seed"],
                   device=device, accel=accel, parallel_rounds=opts["parallel_rounds"], executor=executor,
                   download=opts["download"], fresh=opts["fresh"], reuse_any_code=opts["reuse_any_code"],
                   save_models=opts["save_models"], reporter=reporter)
