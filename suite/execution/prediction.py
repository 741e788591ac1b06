"""`suite predict`: a stored experiment's saved models (--save-models) applied to new pairs, each round's model with
its own preprocessing state and tuned threshold, at the precision it trained with, through the engine's own
`predict` (so a test pair scores as it scored when the round was measured)."""

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from suite.core.config import build_config
from suite.core.errors import SuiteError
from suite.core.registry import Task
from suite.results import models
from suite.results.store import Store
from suite.training.batches import to_device
from suite.training.devices import Acceleration
from suite.training.engine import place, predict

DEFAULT_THRESHOLD = 0.5  # a round that tuned no threshold decides at 0.5, as its stored accuracy does


def supports_predict(task: Task) -> bool:
    return type(task).predict_inputs is not Task.predict_inputs


def chosen_models(store: Store, experiment_id: int, round_index: int | None, all_rounds: bool,
                  seed: int | None) -> list[dict[str, Any]]:
    """The saved models `--round R`, `--all-rounds` or (neither) the only one choose, of `seed` when given."""
    saved = store.models(experiment_id)
    if seed is not None:
        saved = [m for m in saved if m["seed"] == seed]
    if not saved:
        of_seed = f" of seed {seed}" if seed is not None else ""
        raise SuiteError(f"experiment {experiment_id} in {store.path} has no saved models{of_seed}; run it with "
                         "--save-models best (or final)")
    listed = ", ".join(f"{m['round_index']} (seed {m['seed']})" for m in saved)
    if all_rounds:
        return saved
    if round_index is None:
        if len(saved) > 1:
            raise SuiteError(f"experiment {experiment_id} has saved models of rounds {listed}: choose --round R or "
                             "--all-rounds")
        return saved
    found = [m for m in saved if m["round_index"] == round_index]
    if not found:
        raise SuiteError(f"--round {round_index}: experiment {experiment_id} has saved models of rounds {listed}")
    if len(found) > 1:
        raise SuiteError(f"--round {round_index}: saved for several seeds ({', '.join(str(m['seed']) for m in found)})"
                         "; choose one with --seed")
    return found


@dataclasses.dataclass(frozen=True)
class RoundModel:
    """A round's saved model, loaded and checked against its experiment."""

    saved: models.SavedModel
    module: torch.nn.Module
    accel: Acceleration

    @property
    def threshold(self) -> float:
        return float(self.saved.metrics.get("threshold", DEFAULT_THRESHOLD))


def load(task: Task, experiment: dict[str, Any], record: dict[str, Any], device: torch.device) -> RoundModel:
    """The round's module with its saved weights, on the device; a file of another configuration is refused."""
    saved = models.read(record["path"], record["sha256"])
    if saved.task != task.name or saved.config_hash != experiment["config_hash"]:
        raise SuiteError(f"saved model {saved.path}: weights of another configuration ({saved.task} "
                         f"{saved.config_hash}), not of experiment {experiment['id']} ({experiment['config_hash']})")
    config = build_config(task.config_cls, experiment["config"])
    with torch.random.fork_rng(devices=[]):  # building draws initial weights; they are replaced at once
        module = task.build_model(config)
    try:
        module.load_state_dict(saved.weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise SuiteError(f"saved model {saved.path}: its weights do not fit this configuration's model ({first})"
                         ) from None
    precision = "bf16" if "bf16" in saved.device.split() else "fp32"
    return RoundModel(saved, place(module, device), Acceleration(precision))


def score(task: Task, config: Any, model: RoundModel, split: dict[str, torch.Tensor],
          device: torch.device) -> tuple[torch.Tensor, dict[str, list]]:
    """One round's scores of the pairs of a split, and the task's extra columns."""
    on_device = to_device(split, device)
    outputs = predict(task, config, model.module, on_device, model.accel)
    return task.scores(config, outputs, on_device).float().cpu(), task.prediction_columns(config, outputs)


@dataclasses.dataclass
class Predictions:
    """Per pair: its name, each round's score, and the target where the inputs had one; per round, its record and
    threshold."""

    names: list[str]
    scores: pd.DataFrame  # a column per round ("round R (seed S)"), a row per pair
    thresholds: dict[str, float]
    stored: dict[str, dict[str, float]]  # per round, its stored metrics (to set beside the accuracy measured here)
    targets: list[float] | None
    columns: dict[str, list]  # the task's extra columns, of the first round


def check_experiment(task: Task, store: Store, experiment_id: int) -> dict[str, Any]:
    """The experiment, refused when it is another task's."""
    experiment = store.experiment(experiment_id)
    if experiment["task"] != task.name:
        raise SuiteError(f"experiment {experiment_id} is a {experiment['task']} experiment, not {task.name}")
    return experiment


def run_predictions(task: Task, store: Store, experiment_id: int, chosen: list[dict[str, Any]],
                    inputs: list[Path], pairs: Path | None, data_dir: Path | None,
                    device: torch.device) -> Predictions:
    """Every chosen round's model on the inputs (files, or a pairs file of the data directory)."""
    experiment = check_experiment(task, store, experiment_id)
    if not supports_predict(task):
        raise SuiteError(f"task {task.name} does not support predict")
    config = build_config(task.config_cls, experiment["config"])
    scores, thresholds, stored, names, targets, columns = {}, {}, {}, None, None, {}
    for record in chosen:
        model = load(task, experiment, record, device)
        if pairs is not None:
            split, names = task.predict_pairs_file(config, model.saved.state, pairs, data_dir)
        else:
            split, names = task.predict_inputs(config, model.saved.state, inputs)
        label = f"round {record['round_index']} (seed {record['seed']})"
        scores[label], extra = score(task, config, model, split, device)
        thresholds[label], stored[label] = model.threshold, model.saved.metrics
        columns = columns or extra
        if "target" in split:
            targets = split["target"].float().tolist()
    return Predictions(names, pd.DataFrame({k: v.numpy() for k, v in scores.items()}), thresholds, stored, targets,
                       columns)
