"""Showing a run as it goes: a rich live display on a terminal, plain log lines otherwise (or --quiet)."""

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOSSES = ("train_loss", "val_loss")


def shown_metrics(primary: str) -> tuple[str, ...]:
    """What a progress line shows: the losses, and the task's primary metric on every split that has it."""
    base = primary.removeprefix("test_")
    return ("train_loss", f"train_{base}", "val_loss", f"val_{base}", primary)


def _brief(metrics: dict[str, float], shown: tuple[str, ...]) -> str:
    if "diverged_epoch" in metrics:
        return f"diverged at epoch {int(metrics['diverged_epoch'])} (loss or outputs not finite)"
    return " ".join(f"{k}={metrics[k]:.4f}" for k in dict.fromkeys(shown) if k in metrics)


EPOCH_LINE_SECONDS = 30.0


def other_code_note(rounds: set[int]) -> str:
    return (f"{len(rounds)} round(s) stored by another code version; training them again "
            "(--reuse-any-code reuses them)")


class PlainLog:
    """One line per round (and a line per reuse), flushed: readable in CI logs and pipes."""

    def __init__(self, stream: TextIO | None = None, shown: tuple[str, ...] = LOSSES) -> None:
        self.stream = stream or sys.stderr
        self.shown = shown

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, experiment_id: int, rounds: int, epochs: int, reused: set[int],
              other_code: set[int] = frozenset()) -> None:
        self.rounds = rounds
        note = f", {len(reused)} reused from the store" if reused else ""
        self._say(f"experiment {experiment_id}: {rounds} rounds × {epochs} epochs{note}")
        if other_code:
            self._say(other_code_note(other_code))

    def round_started(self, index: int) -> None:
        self.t0 = self.last_line = time.perf_counter()

    def epoch(self, index: int, epoch: int, metrics: dict[str, float]) -> None:
        # Long epochs (faces on a CPU) get a line at most every EPOCH_LINE_SECONDS, so a log shows signs of life.
        if time.perf_counter() - self.last_line >= EPOCH_LINE_SECONDS:
            self.last_line = time.perf_counter()
            self._say(f"round {index + 1}/{self.rounds} epoch {epoch + 1}: {_brief(metrics, self.shown)}")

    def round_finished(self, index: int, metrics: dict[str, float]) -> None:
        self._say(f"round {index + 1}/{self.rounds} after {time.perf_counter() - self.t0:.1f}s: "
                  f"{_brief(metrics, self.shown)}" if "diverged_epoch" in metrics else
                  f"round {index + 1}/{self.rounds} finished in {time.perf_counter() - self.t0:.1f}s: "
                  f"{_brief(metrics, self.shown)}")

    def note(self, text: str) -> None:
        self._say(text)

    def close(self) -> None:
        pass


class LiveProgress:
    """Rounds × epochs bars with the live loss/accuracy and an ETA, drawn on stderr."""

    def __init__(self, console: Console | None = None, shown: tuple[str, ...] = LOSSES) -> None:
        self.console = console or Console(stderr=True)
        self.shown = shown
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=False)

    def start(self, experiment_id: int, rounds: int, epochs: int, reused: set[int],
              other_code: set[int] = frozenset()) -> None:
        self.epochs = epochs
        if other_code:
            self.console.print(other_code_note(other_code), highlight=False)
        self.progress.start()
        info = f"{len(reused)} reused" if reused else ""
        self.rounds_bar = self.progress.add_task(f"experiment {experiment_id} rounds", total=rounds,
                                                 completed=len(reused), info=info)
        self.epochs_bar = self.progress.add_task("epochs", total=epochs, info="")

    def round_started(self, index: int) -> None:
        self.progress.reset(self.epochs_bar, total=self.epochs, description=f"round {index + 1} epochs",
                            info="")

    def epoch(self, index: int, epoch: int, metrics: dict[str, float]) -> None:
        self.progress.update(self.epochs_bar, completed=epoch + 1, info=_brief(metrics, self.shown))

    def round_finished(self, index: int, metrics: dict[str, float]) -> None:
        self.progress.update(self.rounds_bar, advance=1, info=_brief(metrics, self.shown))

    def note(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(quiet: bool, primary: str = "") -> PlainLog | LiveProgress:
    console = Console(stderr=True)
    shown = shown_metrics(primary) if primary else LOSSES
    if quiet or not console.is_terminal:
        return PlainLog(shown=shown)
    return LiveProgress(console, shown)
