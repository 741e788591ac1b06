"""Saved models (`--save-models best|final`): each round's weights in a safetensors file (tensors and a string
header, no pickle) beside the store, in `<store>.models/experiment-<id>/`, with what a prediction needs besides
the code: the config, the round's preprocessing state (Task.ROUND_STATE) and its metrics (a tuned threshold).
The store records each file's path and sha256, so a file changed or lost since is refused by name."""

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from suite.core.errors import SuiteError
from suite.core.files import write_whole
from suite.core.records import RoundResult

FORMAT = "1"  # the header's format: bump when its meaning changes
WEIGHTS, STATE = "model.", "state."  # tensor name prefixes: the module's state_dict, the round's preprocessing


def folder(store_path: Path) -> Path:
    """results/suite.db → results/suite.models"""
    return store_path.with_name(f"{store_path.stem}.models")


def encode(result: RoundResult, experiment: dict[str, Any], seed: int, round_index: int) -> bytes:
    """A finished round's weights, state and header as the bytes of a safetensors file."""
    from safetensors.torch import save

    tensors = {WEIGHTS + k: v for k, v in result.weights.items()} | {STATE + k: v for k, v in result.state.items()}
    metrics = {k: v for k, v in result.metrics.items() if math.isfinite(v)}
    header = {"format": FORMAT, "task": experiment["task"], "config_hash": experiment["config_hash"],
              "config": json.dumps(experiment["config"], sort_keys=True), "kind": result.weights_kind,
              "seed": str(seed), "round_index": str(round_index), "device": result.device,
              "metrics": json.dumps(metrics)}
    return save(tensors, header)


def relative_path(experiment_id: int, seed: int, round_index: int, kind: str, digest: str) -> Path:
    """Where a round's file goes under the store's folder; the digest in the name keeps two writers of one round
    (concurrent runs) from overwriting each other's file."""
    return Path(f"experiment-{experiment_id}") / f"seed-{seed}-round-{round_index}-{kind}-{digest[:12]}.safetensors"


def write(store_path: Path, experiment_id: int, seed: int, round_index: int, result: RoundResult,
          experiment: dict[str, Any]) -> tuple[str, str, int]:
    """The round's file written whole (beside its name, then renamed into place); (path relative to the store's
    folder, sha256, bytes)."""
    data = encode(result, experiment, seed, round_index)
    digest = hashlib.sha256(data).hexdigest()
    relative = Path(folder(store_path).name) / relative_path(experiment_id, seed, round_index, result.weights_kind,
                                                            digest)
    target = store_path.parent / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    write_whole(target, lambda partial: partial.write_bytes(data))
    return relative.as_posix(), digest, len(data)


@dataclasses.dataclass(frozen=True)
class SavedModel:
    path: Path
    kind: str  # best | final
    task: str
    config: dict[str, Any]
    config_hash: str
    seed: int
    round_index: int
    device: str  # where and how the round trained, e.g. "cpu bf16": predictions use the same precision
    metrics: dict[str, float]
    weights: dict[str, Any]  # the module's state_dict
    state: dict[str, Any]  # Task.ROUND_STATE


def read(path: Path, sha256: str) -> SavedModel:
    """A saved model, checked against the digest the store recorded: a missing, changed or unreadable file is a
    SuiteError naming it."""
    from safetensors import SafetensorError, safe_open

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"saved model {path}: missing (moved or deleted since it was saved); train the round "
                         "again with --save-models") from None
    except OSError as exc:
        raise SuiteError(f"saved model {path}: cannot read it ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise SuiteError(f"saved model {path}: changed since it was saved (its sha256 is not the one the store "
                         "recorded); train the round again with --save-models")
    try:
        with safe_open(str(path), framework="pt") as opened:
            header = opened.metadata() or {}
            tensors = {name: opened.get_tensor(name) for name in opened.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, ValueError, OSError) as exc:
        raise SuiteError(f"saved model {path}: not a readable safetensors file ({exc})") from None
    if header.get("format") != FORMAT:
        raise SuiteError(f"saved model {path}: format {header.get('format')!r}, this suite reads {FORMAT}")
    return SavedModel(path, header["kind"], header["task"], json.loads(header["config"]), header["config_hash"],
                      int(header["seed"]), int(header["round_index"]), header["device"],
                      json.loads(header["metrics"]),
                      {k[len(WEIGHTS):]: v for k, v in tensors.items() if k.startswith(WEIGHTS)},
                      {k[len(STATE):]: v for k, v in tensors.items() if k.startswith(STATE)})

