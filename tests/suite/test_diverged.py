"""Diverged rounds are results, not crashes: a round whose loss or outputs become non-finite is stored as diverged
(its epoch, its curves, the metrics it has), counted in every summary, never trained again, and handled by the
documented rule in comparisons (docs/statistics.md): statistics of the finished rounds, and the gate fails a
candidate whose rounds diverge more often."""

import json
import math
from pathlib import Path

import pytest
import torch

from suite.core.seeding import RoundSeeds
from suite.execution.runner import RunPlan, run_experiment
from suite.results.store import Store
from suite.training.rounds import train_rounds
from tests.cli_helpers import suite_here
from tests.stored_fixtures import add_experiment
from tests.toy_task import ToyConfig, ToyTask

CPU = torch.device("cpu")
NO_DATA = Path("no-data")


class PoisonedToy(ToyTask):
    """The toy task whose chosen rounds get a NaN in one split: their training loss (split "train") or their
    final outputs (split "test") are not finite."""

    def __init__(self, rounds: set[int], split: str = "train") -> None:
        self.rounds, self.split = rounds, split

    def round_data(self, prepared, config, generator, round_index=0):
        splits = super().round_data(prepared, config, generator, round_index)
        if round_index in self.rounds:
            splits[self.split]["x"][0, 0, 0] = math.nan
        return splits


CONFIG = ToyConfig(pairs=40, epochs=3, batch_size=20)


def test_a_diverging_round_of_a_stacked_group_stops_alone_and_the_others_train_as_if_alone():
    task = PoisonedToy({1})
    data = task.prepare(CONFIG, NO_DATA, False)
    stacked = train_rounds(task, CONFIG, data, [RoundSeeds(0, k) for k in range(3)], CPU)
    assert [r.status for r in stacked] == ["finished", "diverged", "finished"]
    bad = stacked[1]
    assert bad.diverged_epoch == 1 and len(bad.curves) == 1 and math.isnan(bad.curves[0]["train_loss"])
    assert bad.scores == {} and bad.metrics["diverged_epoch"] == 1
    for k in (0, 2):
        alone = train_rounds(task, CONFIG, data, [RoundSeeds(0, k)], CPU)[0]
        assert alone.status == "finished"
        assert stacked[k].metrics["test_loss"] == pytest.approx(alone.metrics["test_loss"], rel=1e-4)


def test_non_finite_final_outputs_diverge_at_the_last_epoch():
    task = PoisonedToy({0}, split="test")
    result = train_rounds(task, CONFIG, task.prepare(CONFIG, NO_DATA, False), [RoundSeeds(0, 0)], CPU)[0]
    assert result.status == "diverged" and result.diverged_epoch == CONFIG.epochs
    assert len(result.curves) == CONFIG.epochs and result.scores == {}


def test_diverged_rounds_are_stored_counted_and_never_trained_again(tmp_path):
    task, store = PoisonedToy({1, 3}), Store(tmp_path / "r.db")
    plan = RunPlan(store=store, data_dir=NO_DATA, rounds=4, parallel_rounds=2)
    first = run_experiment(task, CONFIG, plan)
    assert (first.ran, len(first.rounds)) == (4, 2)
    assert first.diverged == [{"round_index": 1, "seed": 0, "epoch": 1}, {"round_index": 3, "seed": 0, "epoch": 1}]
    again = run_experiment(task, CONFIG, plan)
    assert (again.ran, again.reused, len(again.rounds)) == (0, 4, 2)
    listed = store.experiments().iloc[0]
    assert (listed["rounds"], listed["diverged"]) == (2, 2)
    # Stored as strict JSON: the non-finite loss is null (read back as NaN), never the non-standard NaN token.
    stored = store.db.execute("SELECT e.metrics FROM epochs e JOIN rounds r ON r.id = e.round_id"
                              " WHERE r.status = 'diverged'").fetchall()
    assert all("NaN" not in row[0] for row in stored)
    assert json.loads(stored[0][0])["train_loss"] is None


def test_the_command_line_stores_a_diverging_run_and_every_summary_says_so(tmp_path, fake_mnist):
    args = ["--store", "r.db", "--data-dir", str(fake_mnist)]
    run = suite_here("run", "mnist", "--optimizer", "sgd", "--lr", "1e38", "--rounds", "2", "--epochs", "2",
                     "--pairs", "60", "--quiet", "--device", "cpu", *args, cwd=tmp_path, env={"COLUMNS": "200"})
    assert run.returncode == 0, run.stderr
    assert "2 rounds: 0 finished, 2 diverged" in run.stdout
    assert "diverged (loss or outputs not finite): round 1 (seed 0) at epoch 1" in run.stdout
    assert "round 1/2 after" in run.stderr and "diverged at epoch 1" in run.stderr
    listing = suite_here("results", "--store", "r.db", cwd=tmp_path, env={"COLUMNS": "200"})
    assert listing.returncode == 0 and "0 (+2 diverged)" in listing.stdout
    shown = suite_here("show", "1", "--store", "r.db", cwd=tmp_path, env={"COLUMNS": "200"})
    assert shown.returncode == 0 and "no finished rounds" in shown.stdout and "diverged" in shown.stdout
    as_json = suite_here("show", "1", "--json", "--store", "r.db", cwd=tmp_path)
    assert [d["round_index"] for d in json.loads(as_json.stdout)["diverged"]] == [0, 1]


def test_a_sweep_with_a_diverging_cell_completes_and_its_rerun_trains_nothing(tmp_path, fake_mnist):
    args = ["sweep", "mnist", "--grid", "lr=0.001,1e38", "--optimizer", "sgd", "--rounds", "2", "--epochs", "1",
            "--pairs", "60", "--quiet", "--device", "cpu", "--store", "r.db", "--data-dir", str(fake_mnist)]
    first = suite_here(*args, cwd=tmp_path, env={"COLUMNS": "200"})
    assert first.returncode == 0, first.stderr
    assert "(4 rounds trained, 0 reused)" in first.stdout
    assert "0 (+2 diverged)" in first.stdout  # the diverging cell is listed, unranked
    again = suite_here(*args, cwd=tmp_path, env={"COLUMNS": "200"})
    assert again.returncode == 0 and "(0 rounds trained, 4 reused)" in again.stdout


def test_compare_counts_the_diverged_rounds_beside_n(tmp_path):
    store = Store(tmp_path / "s.db")
    add_experiment(store, [0.8, 0.82, 0.81], model="baseline")
    add_experiment(store, [0.85, None, 0.86, 0.84])
    result = suite_here("compare", "--task", "mnist", "--store", "s.db", cwd=tmp_path, env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "3 (+1 diverged)" in result.stdout


def _gate(tmp_path, candidate: list[float | None], baseline: list[float | None]):
    add_experiment(Store(tmp_path / "base.db"), baseline)
    add_experiment(Store(tmp_path / "cand.db"), candidate)
    return suite_here("compare", "--store", "cand.db", "--against", "base.db", "--fail-if-worse", cwd=tmp_path,
                      env={"COLUMNS": "250"})


BASE = [0.80, 0.82, 0.79, 0.81, 0.83]


def test_the_gate_fails_a_candidate_none_of_whose_rounds_finished(tmp_path):
    result = _gate(tmp_path, [None] * 3, BASE[:3])
    assert result.returncode == 1
    assert "worse: 3 diverged round(s) against 0 in the baseline, none finished" in result.stderr


def test_the_gate_fails_a_candidate_that_diverges_significantly_more_often(tmp_path):
    result = _gate(tmp_path, [None, None, None, None, 0.8, None, None], BASE + [0.8, 0.81])
    assert result.returncode == 1, result.stdout
    assert "Fisher exact p" in result.stderr


def test_the_gate_passes_one_diverged_round_of_five_it_cannot_tell_from_chance(tmp_path):
    result = _gate(tmp_path, [BASE[0], None, *BASE[2:]], BASE)
    assert result.returncode == 0, result.stderr
    assert "0 / 1" in result.stdout  # the diverged column: baseline / candidate
