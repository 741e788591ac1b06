"""The Task contract, checked for every installed task and for the toy task (tests/toy_task.py), in the manner of
scikit-learn's `parametrize_with_checks`: each check function asserts one part of what suite.core.registry.Task
asks of a task, and each (task, check) pair is one test, named `<task>-<check>`.

The declaration checks read only what a task declares (config, models, presets, sweeps, metrics) and need no data.
The data checks run the task's methods on a little of its data: on the toy task always; on a real task only where
its data is found (else skipped, saying why), and marked slow, as loading it takes seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from suite.core.config import BaseConfig, build_config
from suite.core.errors import SuiteError
from suite.core.grid import SweepPreset, make_cells
from suite.core.metrics import SPLITS, Metric, base_name, declaration, declarations
from suite.core.registry import ROUND_STATE, NamedRegistry, Task, tasks
from tests.conftest import REPO
from tests.toy_task import TASK as TOY
from tests.toy_task import ToyTask

TASKS: dict[str, Task] = {**tasks(), TOY.name: TOY}


# ------------------------------------------------------------------------------------------ declaration checks


def check_name_and_description(task: Task) -> None:
    assert isinstance(task.name, str) and task.name, "a task needs a name"
    assert task.name == task.name.strip().lower() and " " not in task.name, f"{task.name!r}: a command-line word"
    assert isinstance(task.description, str) and task.description.strip(), f"{task.name}: no description"
    if task.name in tasks():
        assert tasks()[task.name] is task, f"{task.name}: its entry point announces another name"


def check_config_class(task: Task) -> None:
    cls = task.config_cls
    assert dataclasses.is_dataclass(cls) and issubclass(cls, BaseConfig), f"{cls}: not a BaseConfig dataclass"
    assert cls.__dataclass_params__.frozen, f"{cls.__name__}: not frozen (configs are hashed and shared)"
    config = cls()  # every field has a default, and the defaults pass the config's own checks
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 1
    for field in dataclasses.fields(cls):
        assert field.metadata.get("help"), f"{cls.__name__}.{field.name}: no help (declare it with suite.option)"


def check_config_model_field(task: Task) -> None:
    """`build_model` reads config.model, and the config offers exactly the registry's models."""
    fields = {f.name: f for f in dataclasses.fields(task.config_cls)}
    assert "model" in fields, f"{task.config_cls.__name__} has no model field"
    assert tuple(fields["model"].metadata.get("choices") or ()) == tuple(task.models)
    assert task.config_cls().model in task.models


def check_primary_metric(task: Task) -> None:
    metric = declaration(task, task.primary_metric)
    assert base_name(task.primary_metric) in declarations(task), f"{task.primary_metric}: not declared"
    assert metric.ranked, f"{task.primary_metric}: declared without a direction, so it cannot rank anything"


def check_metric_declarations(task: Task) -> None:
    names = [m.name for m in task.metric_declarations]
    assert all(isinstance(m, Metric) for m in task.metric_declarations)
    assert len(names) == len(set(names)), f"declared twice: {sorted({n for n in names if names.count(n) > 1})}"
    for name in names:  # declared without the split prefix the engine gives a split's metrics
        assert name.partition("_")[0] not in SPLITS, f"{name}: declare it without its split prefix"


def check_registries(task: Task) -> None:
    for registry in (task.models, task.presets, task.sweeps):
        assert isinstance(registry, NamedRegistry)
        for name, entry in registry.items():
            assert name == entry.name and entry.help.strip(), f"{registry.kind} {name!r}: no help"
    assert len(task.models) > 0, "a task needs a model"


def check_presets_build(task: Task) -> None:
    for name, entry in task.presets.items():
        assert isinstance(entry.value, dict), f"preset {name}: not a dict of config values"
        try:
            build_config(task.config_cls, entry.value)
        except SuiteError as error:
            pytest.fail(f"preset {name}: {error}")


def check_sweeps_build(task: Task) -> None:
    for name, entry in task.sweeps.items():
        preset = entry.value
        assert isinstance(preset, SweepPreset), f"sweep preset {name}: not a suite.SweepPreset"
        try:
            cells = make_cells(task, preset.fixed, preset.cell_values())
        except SuiteError as error:
            pytest.fail(f"sweep preset {name}: {error}")
        assert cells, f"sweep preset {name}: no cells"


def check_data_fields(task: Task) -> None:
    names = {f.name for f in dataclasses.fields(task.config_cls)}
    assert set(task.data_fields) <= names, f"data_fields not in the config: {set(task.data_fields) - names}"
    hash(task.data_key(task.config_cls()))  # configs with equal keys share their prepared data: a dict key


def check_simple_attributes(task: Task) -> None:
    assert isinstance(task.stack_rounds, bool)
    assert isinstance(task.eval_batch_size, int) and task.eval_batch_size >= 1
    assert len(task.target_names) == 2 and all(isinstance(n, str) and n for n in task.target_names)
    assert task.target_names[0] != task.target_names[1]


def check_picklable(task: Task) -> None:
    """Worker processes and Ray tasks receive the task and its config pickled."""
    config = task.config_cls()
    copy, copied_config = pickle.loads(pickle.dumps((task, config)))
    assert type(copy) is type(task) and copy.name == task.name
    assert copied_config == config


DECLARATION_CHECKS = [check_name_and_description, check_config_class, check_config_model_field,
                      check_primary_metric, check_metric_declarations, check_registries, check_presets_build,
                      check_sweeps_build, check_data_fields, check_simple_attributes, check_picklable]


def model_configs(task: Task, model: str) -> list[dict[str, Any]]:
    """Configs that may select the model: the defaults with it, then every preset that names it."""
    return [{"model": model}] + [entry.value for entry in task.presets.values() if entry.value.get("model") == model]


def check_model_builds(task: Task, model: str) -> None:
    refusals = []
    for values in model_configs(task, model):
        try:
            config = build_config(task.config_cls, values)
            with torch.random.fork_rng(devices=[]):
                built = task.build_model(config)
        except SuiteError as error:  # some models need options of their own (a preset gives them)
            refusals.append(str(error))
            continue
        assert isinstance(built, nn.Module), f"model {model}: built a {type(built).__name__}, not an nn.Module"
        assert any(p.requires_grad for p in built.parameters()), f"model {model}: nothing to train"
        return
    pytest.skip(f"model {model}: no config builds it without further options ({'; '.join(refusals)})")


# --------------------------------------------------------------------------------------------------- data checks


@functools.cache
def data_dir() -> Path | None:
    """$SUITE_DATA_DIR, else ../shared/data beside the checkout (as in CI)."""
    for candidate in (os.environ.get("SUITE_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@functools.cache
def _prepared(task: Task) -> tuple[Any, Any, str | None]:
    """(config, prepared data, why not) of a task's default config, prepared once per session."""
    config = task.config_cls()
    if not task.reads_data:  # it draws its data (the toy task, examples/pair_task): no files to find
        return config, task.prepare(config, Path(tempfile.gettempdir()), False), None
    where = data_dir()
    if where is None:
        return config, None, "no data directory: set SUITE_DATA_DIR or place the data at ../shared/data"
    try:
        return config, task.prepare(config, where, False), None
    except SuiteError as error:
        return config, None, f"{task.name}'s data is not in {where}: {error}"


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    """A task that caches decoded data (LFW) writes its cache here, not into the user's (for this module only)."""
    saved = os.environ.get("SUITE_CACHE_DIR")
    os.environ["SUITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        os.environ.pop("SUITE_CACHE_DIR", None)
    else:
        os.environ["SUITE_CACHE_DIR"] = saved


def prepared(task: Task) -> tuple[Any, Any]:
    config, data, why_not = _prepared(task)
    if why_not is not None:
        pytest.skip(why_not)
    return config, data


def round_splits(task: Task, config: Any, data: Any, seed: int, round_index: int = 0) -> dict[str, dict]:
    """The round's splits; its preprocessing state (ROUND_STATE, what `suite predict` saves), if any, is a dict of
    tensors, and not a split."""
    splits = task.round_data(data, config, torch.Generator().manual_seed(seed), round_index)
    state = splits.pop(ROUND_STATE, {})
    assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()), \
        f"round_data's {ROUND_STATE!r}: not a dict of tensors"
    return splits


def sample(split: dict[str, torch.Tensor], n: int = 8) -> dict[str, torch.Tensor]:
    """A few examples of a split, of both targets where it has a binary one (metrics such as AUC need both)."""
    if "target" in split and split["target"].dim() == 1:
        target = split["target"]
        index = torch.cat([torch.nonzero(target == value).flatten()[:n // 2] for value in target.unique()[:2]])
    else:
        index = torch.arange(min(n, len(split["x"])))
    return {key: value[index] for key, value in split.items()}


def outputs_of(task: Task, config: Any, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        x = task.transform(config, batch["x"], None)
        assert len(x) == len(batch["x"]), "transform changed the number of examples"
        outputs = model.eval()(x)
    assert isinstance(outputs, dict) and outputs, "a model returns a dict of named outputs"
    for name, value in outputs.items():
        assert isinstance(value, torch.Tensor) and len(value) == len(x), f"output {name}: not one row per example"
    return outputs


def check_round_data(task: Task) -> None:
    config, data = prepared(task)
    splits = round_splits(task, config, data, seed=0)
    assert {"train", "test"} <= set(splits) <= {"train", "val", "test"}, f"splits {sorted(splits)}"
    for name, split in splits.items():
        assert "x" in split, f"split {name} has no model input 'x'"
        assert len(split["x"]) > 0, f"split {name} is empty"
        for key, value in split.items():
            assert isinstance(value, torch.Tensor), f"{name}[{key!r}]: not a tensor"
            assert len(value) == len(split["x"]), f"{name}[{key!r}]: {len(value)} rows for {len(split['x'])} inputs"
    again = round_splits(task, config, data, seed=0)  # sampled with the generator only
    for name, split in splits.items():
        assert all(torch.equal(split[k], again[name][k]) for k in split), f"split {name} differs at the same seed"


def check_loss_metrics_and_scores(task: Task) -> None:
    config, data = prepared(task)
    splits = round_splits(task, config, data, seed=0)
    torch.manual_seed(0)
    model = task.build_model(config)
    batches = {name: sample(split) for name, split in splits.items()}
    outputs = {name: outputs_of(task, config, model, batch) for name, batch in batches.items()}
    declared = declarations(task)
    produced = set()
    for name, batch in batches.items():
        loss = task.loss(config, outputs[name], batch)
        assert isinstance(loss, torch.Tensor) and loss.dim() == 0, f"{name}: the loss is not a scalar tensor"
        assert math.isfinite(float(loss)), f"{name}: loss {float(loss)}"
        metrics = task.metrics(config, outputs[name], batch)
        for metric, value in metrics.items():
            assert metric in declared, f"metric {metric!r} is not declared (Task.metric_declarations)"
            assert isinstance(value, float), f"metric {metric}: {type(value).__name__}, not a float"
        produced |= {f"{name}_{metric}" for metric in metrics}
        scores = task.scores(config, outputs[name], batch)
        assert scores is None or (isinstance(scores, torch.Tensor) and scores.shape == (len(batch["x"]),))
    final = task.final_metrics(config, outputs, batches)
    for metric in final:
        assert metric in declared or base_name(metric) in declared, f"final metric {metric!r} is not declared"
    assert task.primary_metric in produced | set(final), f"{task.primary_metric} is never measured"


def check_stacked_loss(task: Task) -> None:
    """For a task that stacks its rounds: `stacked_loss` gives each round what `loss` gives it alone."""
    if not task.stack_rounds:
        pytest.skip(f"{task.name} trains its rounds one at a time (stack_rounds is False)")
    config, data = prepared(task)
    trains = [round_splits(task, config, data, seed=s)["train"] for s in (0, 1)]
    n = min(8, *(len(t["x"]) for t in trains))
    batches = [{key: value[:n] for key, value in t.items()} for t in trains]
    outputs = []
    for seed, batch in enumerate(batches):
        torch.manual_seed(seed)
        outputs.append(outputs_of(task, config, task.build_model(config), batch))
    alone = torch.stack([task.loss(config, o, b) for o, b in zip(outputs, batches, strict=True)])
    stacked = task.stacked_loss(config, {k: torch.stack([o[k] for o in outputs]) for k in outputs[0]},
                                {k: torch.stack([b[k] for b in batches]) for k in batches[0]})
    assert stacked.shape == (2,), f"stacked_loss gave shape {tuple(stacked.shape)} for 2 rounds"
    torch.testing.assert_close(stacked, alone, rtol=1e-5, atol=1e-6)


DATA_CHECKS = [check_round_data, check_loss_metrics_and_scores, check_stacked_loss]


# -------------------------------------------------------------------------------------------------- the checks


def _name(check: Callable) -> str:
    return check.__name__.removeprefix("check_")


def cases() -> list:
    found = []
    for task in TASKS.values():
        found += [pytest.param(task, check, id=f"{task.name}-{_name(check)}") for check in DECLARATION_CHECKS]
        found += [pytest.param(task, functools.partial(check_model_builds, model=model),
                               id=f"{task.name}-model_builds[{model}]") for model in task.models]
        slow = () if task is TOY else (pytest.mark.slow,)
        found += [pytest.param(task, check, id=f"{task.name}-{_name(check)}", marks=slow) for check in DATA_CHECKS]
    return found


@pytest.mark.parametrize(("task", "check"), cases())
def test_task_contract(task: Task, check: Callable[[Task], None]) -> None:
    check(task)


# ------------------------------------------------------------------------------- the checks find what is broken


class UndeclaredPrimary(ToyTask):
    primary_metric = "test_sharpness"


class BadPreset(ToyTask):
    presets = NamedRegistry("preset")
    presets.register("colourful", "A preset naming an option the config lacks.", {"colour": "red"})


class BadSweep(ToyTask):
    sweeps = NamedRegistry("sweep preset")
    sweeps.register("dropout-linear", "The linear model refuses --dropout.",
                    SweepPreset({"model": "linear"}, axes={"dropout": [0.0, 0.5]}))


class GlobalRandomness(ToyTask):
    def round_data(self, prepared, config, generator, round_index=0):
        splits = super().round_data(prepared, config, generator, round_index)
        splits["test"]["x"] = torch.rand_like(splits["test"]["x"])  # not from the round's generator
        return splits


class UndeclaredMetric(ToyTask):
    def metrics(self, config, outputs, batch):
        return super().metrics(config, outputs, batch) | {"sharpness": 1.0}


class MixedStackedLoss(ToyTask):
    def stacked_loss(self, config, outputs, batch):
        return super().stacked_loss(config, outputs, batch).mean().expand(2)  # the rounds' mean, not each's own


BROKEN = [
    (UndeclaredPrimary(), check_primary_metric, "test_sharpness: not declared"),
    (BadPreset(), check_presets_build, "preset colourful: unknown option"),
    (BadSweep(), check_sweeps_build, "sweep preset dropout-linear: grid cell dropout=0.5"),
    (GlobalRandomness(), check_round_data, "split test differs at the same seed"),
    (UndeclaredMetric(), check_loss_metrics_and_scores, "metric 'sharpness' is not declared"),
    (MixedStackedLoss(), check_stacked_loss, "Tensor-likes are not close"),
]


@pytest.mark.parametrize(("broken", "check", "message"), [
    pytest.param(*case, id=f"{type(case[0]).__name__}-{_name(case[1])}") for case in BROKEN])
def test_a_check_fails_on_a_task_that_breaks_its_part(broken, check, message):
    with pytest.raises((AssertionError, pytest.fail.Exception), match=message):
        check(broken)
