"""Experiments kept in files: `suite run TASK --config FILE.toml`, `suite sweep TASK --config FILE.toml`, and the
file `suite show ID --config` writes. A file has up to three tables, checked here so that a typo is named with the
file it is in:

    task = "mnist"        # optional: refuses the file for another task
    [run]                 # how to run: --rounds, --seed, --store, ... (a sweep's also --metric)
    [config]              # the experiment: the task's config fields (a sweep's fixed options)
    [grid]                # sweeps only: FIELD = [V1, V2, ...]

Options given on the command line override the file."""

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from suite.core.config import field_types, parse_field
from suite.core.errors import SuiteError
from suite.core.registry import Task

TABLES = ("run", "config", "grid")

# The [run] keys a file may set, with their TOML types: the run options less the output format and --fresh (a file
# that discarded stored rounds on every use would be a trap); a sweep's [run] also takes its ranking --metric.
RUN_TYPES: dict[str, type | tuple[type, ...]] = {
    "preset": str, "rounds": int, "seed": int, "parallel_rounds": (int, str), "workers": int, "executor": str,
    "ray_address": str, "max_retries": int, "cpus_per_task": float, "gpus_per_task": float, "device": str,
    "precision": str, "compile": bool, "data_dir": str, "download": bool, "store": str, "reuse_any_code": bool,
    "save_models": str, "quiet": bool, "metric": str}
RUN_KEYS = frozenset(RUN_TYPES) - {"metric"}
SWEEP_KEYS = frozenset(RUN_TYPES) - {"compile"}


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    path: Path
    run: dict[str, Any]
    config: dict[str, Any]
    grid: dict[str, list]


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SuiteError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise SuiteError(f"--config {path}: is a directory, not a TOML file") from None
    except UnicodeDecodeError:
        raise SuiteError(f"--config {path}: not a text (UTF-8) file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"--config {path}: not valid TOML: {exc}") from None


def _table(document: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise SuiteError(f"--config {path}: {name} must be a table ([{name}]), got {table!r}")
    return {key.replace("-", "_"): value for key, value in table.items()}


def _check_type(path: Path, key: str, value: Any, kind: type | tuple[type, ...]) -> None:
    """A [run] value of the type its option takes (TOML ints are accepted where a float is expected)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        kinds = (*kinds, int)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise SuiteError(f"--config {path}: [run] {key}: expected {' or '.join(k.__name__ for k in kinds)}, "
                         f"got {value!r}")


def read_config_file(path: Path, task: Task, run_keys: frozenset[str] = RUN_KEYS, *,
                     sweep: bool = False) -> ConfigFile:
    """The file's tables, checked: the task, [run] keys (those in `run_keys`, of their RUN_TYPES), [config] against the
    task's fields (values coerced to the field's type), [grid] (sweeps only) as lists of field values."""
    path = Path(path)
    document = _load(path)
    extra = sorted(set(document) - {"task", *TABLES})
    if extra:
        raise SuiteError(f"--config {path}: unknown key(s) {', '.join(extra)}; a config file has task, "
                         f"{', '.join(f'[{t}]' for t in TABLES)}")
    if "task" in document and document["task"] != task.name:
        raise SuiteError(f"--config {path}: written for task {document['task']!r}, not {task.name}")
    run = _table(document, "run", path)
    for key, value in run.items():
        if key not in run_keys:
            raise SuiteError(f"--config {path}: [run] unknown option {key!r}; known: {', '.join(sorted(run_keys))}")
        _check_type(path, key, value, RUN_TYPES[key])
    fields = field_types(task.config_cls)
    config = {}
    for key, value in _table(document, "config", path).items():
        if key not in fields:
            raise SuiteError(f"--config {path}: [config] {task.name} has no option {key!r}; known: "
                             f"{', '.join(sorted(fields))}")
        config[key] = _field(path, "config", task, key, value)
    grid = _table(document, "grid", path)
    if grid and not sweep:
        raise SuiteError(f"--config {path}: [grid] is for `suite sweep`; `suite run` takes [run] and [config]")
    axes = {}
    for key, values in grid.items():
        if key not in fields:
            raise SuiteError(f"--config {path}: [grid] {task.name} has no option {key!r}; known: "
                             f"{', '.join(sorted(fields))}")
        if not isinstance(values, list) or not values:
            raise SuiteError(f"--config {path}: [grid] {key}: expected a non-empty list of values, got {values!r}")
        axes[key] = [_field(path, "grid", task, key, v) for v in values]
        if len(set(map(repr, axes[key]))) < len(values):
            raise SuiteError(f"--config {path}: [grid] {key}: a value is repeated in {values!r}")
    return ConfigFile(path, run, config, axes)


def _field(path: Path, table: str, task: Task, key: str, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise SuiteError(f"--config {path}: [{table}] {key}: expected one value, got {value!r}")
    try:
        return parse_field(task.config_cls, key, value)
    except SuiteError as exc:
        raise SuiteError(f"--config {path}: [{table}] {exc}") from None


def config_toml(task: str, config: dict[str, Any], run: dict[str, Any], header: list[str]) -> str:
    """A config file that `suite run TASK --config` reads back into this experiment (comment lines first)."""
    import tomli_w

    body = tomli_w.dumps({"task": task, "run": run, "config": config})
    return "".join(f"# {line}\n" for line in header) + body
