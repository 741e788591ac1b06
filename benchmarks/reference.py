"""The plain training loop the suite is measured against, in the style of the reports' notebooks.

Per round: a TensorDataset and a shuffling DataLoader, the model, Adam, and for every batch forward, loss,
backward, step, with the running loss and accuracy read back with `.item()` as the reports printed them; then one
pass over the test set. Same data, same model, same loss and hyper-parameters as the suite's round (built by the
task's own code from the round's seeds), so only the training machinery differs.
"""

import time
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

from suite.core.registry import Task
from suite.core.seeding import RoundSeeds

CPU = torch.device("cpu")


def reference_round(task: Task, config: Any, prepared: Any, seeds: RoundSeeds,
                    device: torch.device = CPU) -> dict[str, Any]:
    """One round trained the plain way; returns its test accuracy, seconds and the seconds of each epoch."""
    start = time.perf_counter()
    splits = task.round_data(prepared, config, seeds.generator("data"), seeds.round_index)
    torch.manual_seed(seeds.seed("init"))
    model = task.build_model(config).to(device)
    torch.manual_seed(seeds.seed("noise"))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    keys = list(splits["train"])
    loader = DataLoader(TensorDataset(*(splits["train"][k] for k in keys)), batch_size=config.batch_size,
                        shuffle=True, generator=seeds.generator("order"))
    epoch_seconds = []
    for _ in range(config.epochs):
        t0 = time.perf_counter()
        model.train()
        running_loss, correct, seen = 0.0, 0, 0
        for tensors in loader:
            batch = {k: t.to(device) for k, t in zip(keys, tensors, strict=True)}  # each batch copied over
            outputs = model(task.transform(config, batch["x"], None))
            loss = task.loss(config, outputs, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * len(tensors[0])
            correct += _correct(outputs["logits"], batch["target"])
            seen += len(tensors[0])
        epoch_seconds.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        test = {k: t.to(device) for k, t in splits["test"].items()}
        accuracy = task.metrics(config, model(task.transform(config, test["x"], None)), test)["accuracy"]
    return {"test_accuracy": accuracy, "seconds": time.perf_counter() - start,
            "epoch_seconds": epoch_seconds}


def _correct(logits: torch.Tensor, target: torch.Tensor) -> int:
    """Right answers in a batch: two-class logits (MNIST) or one same/different logit (LFW)."""
    predicted = logits.argmax(1) if logits.dim() == 2 else (logits > 0).to(target.dtype)
    return int((predicted == target).sum().item())
