"""Tasks, their models and presets, found by name (in the manner of timm's model registry).

Tasks live outside the framework and announce themselves through the `suite.tasks` entry-point group
(see pyproject.toml), so suite/ never imports suite_tasks/.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suite.core.errors import SuiteError

if TYPE_CHECKING:  # torch is imported by the methods that compute, so reading a task's declarations needs none
    import torch
    from torch import nn

Split = dict[str, "torch.Tensor"]  # one data split: "x" is the model input, other keys are task-specific


@dataclasses.dataclass(frozen=True)
class Lazy:
    """A registry value named by where it is defined, "package.module:attribute", and imported on first use.

    A task registers its model builders this way, so that their names and help (config choices, `suite list`) are
    known without importing the modules that define them, and torch with them.
    """

    target: str

    def __post_init__(self) -> None:
        module, sep, attribute = self.target.partition(":")
        if not (module and sep and attribute):
            raise ValueError(f"Lazy({self.target!r}): expected 'package.module:attribute'")

    def resolve(self) -> Any:
        module, _, attribute = self.target.partition(":")
        value = importlib.import_module(module)
        for part in attribute.split("."):
            value = getattr(value, part)
        return value


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    help: str
    registered: Any  # the value, or a Lazy reference to it

    @property
    def value(self) -> Any:
        """The registered value; a Lazy one is imported here (Python caches the module)."""
        return self.registered.resolve() if isinstance(self.registered, Lazy) else self.registered


class NamedRegistry(Mapping[str, Entry]):
    """Name → (help, value); `register` doubles as a decorator for builders, and takes a Lazy value."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, help: str, value: Any = None) -> Any:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        if value is not None:
            self._entries[name] = Entry(name, help, value)
            return value

        def decorate(fn: Callable) -> Callable:
            self._entries[name] = Entry(name, help, fn)
            return fn

        return decorate

    def get(self, name: str) -> Entry:  # type: ignore[override]
        try:
            return self._entries[name]
        except KeyError:
            raise SuiteError(f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}") from None

    def __getitem__(self, name: str) -> Entry:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


# The key under which `round_data` may return a round's preprocessing state besides its splits: tensors fitted on
# that round's training data (e.g. a whitening), which `suite predict` applies to new inputs. Not a split.
ROUND_STATE = "state"


class Task:
    """What one problem is: its config, data, models, loss and metrics. The engine decides how to train.

    Subclasses set the class attributes and implement the methods below.
    """

    name: str
    description: str
    config_cls: type
    models: NamedRegistry
    presets: NamedRegistry  # value: dict of config overrides
    sweeps: NamedRegistry = NamedRegistry("sweep preset")  # value: suite.SweepPreset; tasks set their own
    primary_metric: str  # the stored metric that results, show, compare and sweeps use unless told otherwise
    # Each metric `metrics`/`final_metrics` return, by name without the split prefix: its direction, unit and
    # display (suite.core.metrics.Metric). The engine declares its own (loss, epochs, time, memory).
    metric_declarations: tuple = ()
    eval_batch_size: int = 1024  # examples per forward pass when evaluating: bounds activation memory
    data_fields: tuple[str, ...] = ()  # config fields that `suite data prepare|stats <task>` accepts
    # `--parallel-rounds auto` stacks all rounds of an experiment when True: models so small that one round leaves
    # the machine idle between Python calls, and rounds whose splits always have equal sizes.
    stack_rounds: bool = False
    target_names: tuple[str, str] = ("negative", "positive")  # what a target of 0 and of 1 mean, for reports
    # False for a task that reads no files (it draws its data): a run then needs no data directory.
    reads_data: bool = True

    def prepare_data(self, config: Any, data_dir: Path, download: bool) -> str:
        """`suite data prepare`: check the data and build any cache; a line saying what was done."""
        self.prepare(config, data_dir, download)
        return f"{self.name}: data in {data_dir} is ready"

    def data_stats(self, config: Any, data_dir: Path) -> list[tuple[str, Any]]:
        """`suite data stats`: (title, pandas DataFrame) tables describing the data set."""
        raise SuiteError(f"task {self.name} has no data statistics")

    def data_distributions(self, config: Any, data_dir: Path) -> list[tuple[str, str, Any]]:
        """(title, x label, pandas Series of counts) per distribution a report should draw as a histogram."""
        return []

    def data_key(self, config: Any) -> tuple:
        """The config values `prepare` depends on (data_fields): configs with equal keys share their prepared data."""
        return tuple(getattr(config, name) for name in self.data_fields)

    def prepare(self, config: Any, data_dir: str, download: bool) -> Any:
        """Load and check the on-disk data once per experiment; raise SuiteError on any problem."""
        raise NotImplementedError

    def round_data(self, prepared: Any, config: Any, generator: torch.Generator, round_index: int) -> dict[str, Split]:
        """The splits of one round ("train", optionally "val", "test"), sampled with `generator` only.

        `round_index` is for protocols whose rounds are folds; sampling must use only `generator`. Preprocessing
        fitted on the round's data that new inputs need too (`suite predict`) goes under ROUND_STATE: a dict of
        tensors, saved with the round's weights."""
        raise NotImplementedError

    def setting(self, config: Any, prepared: Any) -> dict[str, str]:
        """Facts about the data a result depends on (e.g. a benchmark's evaluation setting), stored with it."""
        return {}

    def transform(self, config: Any, x: torch.Tensor, augment: torch.Generator | None) -> torch.Tensor:
        """Stored inputs → model inputs, on the device; augmented when `augment` is given (training)."""
        return x

    def build_model(self, config: Any) -> nn.Module:
        return self.models.get(config.model).value(config)

    def loss(self, config: Any, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        raise NotImplementedError

    def stacked_loss(self, config: Any, outputs: dict[str, torch.Tensor], batch: Split) -> torch.Tensor:
        """Each round's loss at once, for stacked rounds: outputs and batch have the rounds first,
        and the result holds one loss per round, what `loss` gives for that round's slice. By default `loss`
        mapped over the rounds with vmap; a task may compute the same reductions directly, which costs less."""
        import torch

        return torch.func.vmap(lambda o, b: self.loss(config, o, b))(outputs, batch)

    def metrics(self, config: Any, outputs: dict[str, torch.Tensor], batch: Split) -> dict[str, float]:
        """Metrics of a whole split from the model's outputs on it (the engine adds the loss)."""
        raise NotImplementedError

    def final_metrics(self, config: Any, outputs: dict[str, dict[str, torch.Tensor]],
                      splits: dict[str, Split]) -> dict[str, float]:
        """Metrics that need several splits at once (e.g. a threshold chosen on validation, applied to test)."""
        return {}

    def scores(self, config: Any, outputs: dict[str, torch.Tensor], split: Split) -> torch.Tensor | None:
        """One score per example of a split, stored with the round for ROC curves and error galleries."""
        return None

    def summary_lines(self, config: Any, rounds: Any) -> list[str]:
        """Extra lines under the summary table (e.g. a benchmark's own way of reporting)."""
        return []

    # reports (`suite report`) ------------------------------------------------------------------------------

    def objective(self, config: Any) -> str | None:
        """The training objective of a config in a few words (e.g. "cross-entropy + auxiliary digit loss"), for a
        task whose configs train different ones: reports draw the loss curves of each objective in a panel of
        their own, since losses of different objectives are not on one scale. None: not declared (one panel,
        and the caption says that the losses may not be comparable)."""
        return None

    def example_note(self, config: Any, split: Split, index: int) -> str:
        """A few words about one example of a split (e.g. the true classes behind a pair), shown under it in
        report galleries; "" for none."""
        return ""

    # prediction (`suite predict`): a task supports it by implementing `predict_inputs` ----------------------

    def predict_inputs(self, config: Any, state: dict[str, torch.Tensor], paths: list[Path]) -> tuple[Split, list[str]]:
        """The user's input files (`suite predict TASK … FILES`) as one split of pairs, preprocessed as `round_data`
        preprocesses its splits (with the round's ROUND_STATE), and a name per pair; SuiteError naming a bad file."""
        raise SuiteError(f"task {self.name} does not support predict")

    def predict_pairs_file(self, config: Any, state: dict[str, torch.Tensor], path: Path,
                           data_dir: Path) -> tuple[Split, list[str]]:
        """`--pairs FILE`: the pairs a file lists (images of the data directory), with their targets when it has
        them, as `predict_inputs` gives them."""
        raise SuiteError(f"task {self.name}: --pairs FILE is not supported; give the inputs as files")

    def prediction_columns(self, config: Any, outputs: dict[str, torch.Tensor]) -> dict[str, list]:
        """Columns `suite predict` prints besides the score and decision (e.g. the classes of an auxiliary head)."""
        return {}


def _discover() -> dict[str, Task]:
    found: dict[str, Task] = {}
    for ep in entry_points(group="suite.tasks"):
        task = ep.load()
        found[task.name] = task
    return found


_TASKS: dict[str, Task] | None = None


def tasks() -> dict[str, Task]:
    global _TASKS
    if _TASKS is None:
        _TASKS = _discover()
    return _TASKS


def get_task(name: str) -> Task:
    known = tasks()
    if name not in known:
        raise SuiteError(f"unknown task {name!r}; known: {', '.join(sorted(known)) or 'none installed'}")
    return known[name]
