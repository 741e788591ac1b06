"""What each metric means — whether higher or lower is better, its unit, how it is shown — declared once.

A task declares its own metrics (`Task.metric_declarations`, by their names without a split prefix); the engine
declares its own here (losses, epochs, times, memory). The engine stores a task's metrics per split as
`train_…`, `val_…` and `test_…`, so a declaration covers all three. Every table, test, plot and gate asks
`declaration()`; nothing guesses from a metric's name.
"""

import dataclasses
import math

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric's meaning. `higher_is_better` None: neither direction is better (a count, a threshold), so it
    is shown but never ranked. `scale`: the stored value times this is what people read (fractions shown as %).
    `per_group`: measured once for a whole group of stacked rounds (time, memory), so the group is its unit."""

    name: str
    higher_is_better: bool | None = None
    unit: str = ""
    scale: float = 1.0
    digits: int | None = 4  # decimals shown; None: as short as the value allows (counts)
    per_group: bool = False
    description: str = ""

    @property
    def lower_is_better(self) -> bool:
        return self.higher_is_better is False

    @property
    def ranked(self) -> bool:
        return self.higher_is_better is not None

    def show(self, value: float) -> str:
        """The value as people read it, without its unit; "–" for NaN (a std over one value)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        shown = value * self.scale
        return f"{shown:.4g}" if self.digits is None else f"{shown:.{self.digits}f}"

    @property
    def words(self) -> str:
        return self.name.replace("_", " ")

    @property
    def label(self) -> str:
        """Name in words with its unit, for axes and column headers: `test accuracy (%)`."""
        return f"{self.words} ({self.unit})" if self.unit else self.words

    @property
    def unit_suffix(self) -> str:
        return f" ({self.unit})" if self.unit else ""


def percent(name: str, description: str = "", higher_is_better: bool = True) -> Metric:
    """A fraction shown as a percentage with two decimals, as the reports give accuracies."""
    return Metric(name, higher_is_better, "%", 100.0, 2, description=description)


# The engine's own metrics, for every task.
ENGINE_METRICS = (
    Metric("loss", False, description="the task's training objective"),
    Metric("epochs", None, digits=None, description="epochs trained"),
    Metric("best_epoch", None, digits=None, description="the epoch early stopping restored"),
    Metric("lr", None, digits=None, description="learning rate"),
    Metric("round_seconds", False, "s", digits=2, per_group=True, description="training time of a round"),
    Metric("seconds_per_epoch", False, "s", digits=2, per_group=True, description="training time per epoch"),
    Metric("peak_memory_mb", False, "MB", digits=2, per_group=True, description="peak memory while training"),
)


def declarations(task=None) -> dict[str, Metric]:
    """The engine's declarations and the task's (a task may redeclare an engine metric), by name."""
    declared = {m.name: m for m in ENGINE_METRICS}
    declared |= {m.name: m for m in getattr(task, "metric_declarations", ())}
    return declared


def base_name(name: str) -> str:
    """The name without the split prefix the engine gives a task's metrics: test_accuracy → accuracy."""
    split, _, base = name.partition("_")
    return base if split in SPLITS and base else name


def declaration(task, name: str) -> Metric:
    """The declaration of a stored metric: by its full name, else by its name without the split prefix the
    engine gave it. An undeclared metric has no direction: it is shown as a plain number and never ranked."""
    declared = declarations(task)
    if name in declared:
        return declared[name]
    base = base_name(name)
    if base in declared:
        return dataclasses.replace(declared[base], name=name)
    return Metric(name)
