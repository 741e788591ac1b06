"""Task configurations: frozen dataclasses whose fields carry their own help, choices and bounds.

The CLI, presets, the store and sweeps all go through these helpers, so a value is checked once, at the
boundary, with a message that names the field and what it allows.
"""

import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Mapping
from typing import Any

from suite.core.errors import SuiteError


def option(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
           max: float | None = None, min_exclusive: bool = False) -> Any:
    """A config field with a default and the metadata the CLI and the validator read."""
    meta = {"help": help, "choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive}
    return dataclasses.field(default=default, metadata=meta)


def field_types(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(name: str, kind: type, value: Any) -> Any:
    """Accept a value of the field's type, or its text form (from --grid, JSON, the store)."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    raise SuiteError(f"{name}: expected {kind.__name__}, got {value!r}")


def check_fields(config: Any) -> None:
    """Check every field's type, choices and bounds; raise SuiteError naming the first bad one."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        meta = f.metadata
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise SuiteError(f"{f.name}: {value!r} is not one of: {allowed}")
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes every bound; inf trains to NaN
            raise SuiteError(f"{f.name}: must be a finite number, got {value}")
        low, high = meta.get("min"), meta.get("max")
        if low is not None and (value < low or (meta.get("min_exclusive") and value == low)):
            relation = ">" if meta.get("min_exclusive") else ">="
            raise SuiteError(f"{f.name}: must be {relation} {low}, got {value}")
        if high is not None and value > high:
            raise SuiteError(f"{f.name}: must be <= {high}, got {value}")


# `--precision`: how a run computes, not part of an experiment's config (each round records it with its device)
PRECISIONS = ("auto", "fp32", "bf16")


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """Fields every task shares: how the generic engine trains. Tasks subclass and may override defaults."""

    epochs: int = option(25, "Training epochs per round.", min=1, max=100_000)
    batch_size: int = option(100, "Mini-batch size.", min=1)
    optimizer: str = option("adam", "Optimizer.", choices=("sgd", "adam", "adamw", "rmsprop"))
    lr: float = option(1e-3, "Learning rate.", min=0.0, min_exclusive=True)
    momentum: float = option(0.0, "Momentum (SGD and RMSprop).", min=0.0, max=1.0)
    weight_decay: float = option(0.0, "L2 weight decay (AdamW: decoupled).", min=0.0)
    schedule: str = option("none", "Learning-rate schedule: none, paper (×0.99 per epoch, Koch et al.), "
                           "step (÷10 at --step-epoch), cosine (to 0 over the epochs).",
                           choices=("none", "paper", "step", "cosine"))
    step_epoch: int = option(10, "Epoch at which --schedule step divides the learning rate by 10.", min=1)
    patience: int = option(0, "Early stopping: stop after this many epochs without a lower validation loss and "
                           "restore the best epoch's weights (0: off; needs a validation split).", min=0)

    def __post_init__(self) -> None:
        for name, kind in field_types(type(self)).items():
            object.__setattr__(self, name, _coerce(name, kind, getattr(self, name)))
        check_fields(self)
        self.check()

    def check(self) -> None:
        """Cross-field rules; tasks override and raise SuiteError."""


def shared_option(name: str, default: Any, help: str | None = None) -> Any:
    """A BaseConfig field with a task's own default (and help), keeping the shared choices and bounds."""
    base = BaseConfig.__dataclass_fields__[name]
    return dataclasses.field(default=default, metadata={**base.metadata, "help": help or base.metadata["help"]})


def build_config(cls: type, values: Mapping[str, Any]) -> Any:
    """Instantiate cls from a mapping, rejecting keys the task does not know."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SuiteError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**values)


def parse_field(cls: type, name: str, value: Any) -> Any:
    """One field's value from its text form (e.g. --where lr=0.01), checked against the field's type."""
    kinds = field_types(cls)
    if name not in kinds:
        raise SuiteError(f"unknown option {name!r}; known: {', '.join(sorted(kinds))}")
    return _coerce(name, kinds[name], value)


def config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_hash(task: str, config: Any) -> str:
    """Identity of an experiment: the task and every resolved config value."""
    payload = json.dumps({"task": task, "config": config_dict(config)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def ordered_fields(cls: type) -> list[dataclasses.Field]:
    """The task's own fields first, then the engine's shared ones (BaseConfig), each in declared order."""
    shared = {f.name for f in dataclasses.fields(BaseConfig)}
    return sorted(dataclasses.fields(cls), key=lambda f: f.name in shared)


def non_defaults(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that differ from the class defaults, in field order: a short description of a variant."""
    defaults = cls()
    return {f.name: values[f.name] for f in ordered_fields(cls)
            if f.name in values and values[f.name] != getattr(defaults, f.name)}


def flag(name: str) -> str:
    """A config field's command-line option: --w-sharing for w_sharing."""
    return "--" + name.replace("_", "-")


def command_line(task: str, cls: type, values: Mapping[str, Any], rounds: int | None = None,
                 seed: int | None = None) -> str:
    """The `suite run` command that reproduces an experiment: its task and the options that differ from the
    defaults (booleans as --flag / --no-flag), then --rounds and --seed (0, the default, left out)."""
    parts = ["suite", "run", task]
    for name, value in non_defaults(cls, values).items():
        option = flag(name)
        if isinstance(value, bool):
            parts.append(option if value else f"--no-{option[2:]}")
        else:
            text = str(value)
            parts += [option, text if text and all(c.isalnum() or c in ".,-_" for c in text) else json.dumps(text)]
    if rounds is not None:
        parts += ["--rounds", str(rounds)]
    if seed:
        parts += ["--seed", str(seed)]
    return " ".join(parts)
