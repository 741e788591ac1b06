"""Seeded simulations of the guarantees the suite prints: every interval shown as 95 % covers at least 94 % of the
time; "≈ best" flags an equal cell as worse at most 5 % of the time (plus simulation error), whichever cell came
out best; and a real difference of 2 σ over 10 paired rounds is found."""

import numpy as np
import pandas as pd
import pytest

from suite.core.metrics import percent
from suite.results import sweeps
from suite.results.best import smallest_p, worse_than_best
from suite.results.compare import describe, difference_interval

ACCURACY = percent("test_accuracy")
SIMULATIONS = 1500
# The simulations take seconds each (a minute together): `make test` runs them, `make test-fast` leaves them out.
slow = pytest.mark.slow


@slow
@pytest.mark.parametrize("n", [3, 5, 10])
def test_every_interval_of_a_mean_covers_at_least_94_percent(n):
    """Every (low, high) pair that describe() returns — what the tables print as 95 % intervals of a mean."""
    rng = np.random.default_rng(n)
    covered: dict[str, int] = {}
    for _ in range(SIMULATIONS):
        out = describe(rng.normal(0.8, 0.02, n))
        for name in (k[:-4] for k in out if k.endswith("_low")):
            covered[name] = covered.get(name, 0) + (out[f"{name}_low"] <= 0.8 <= out[f"{name}_high"])
    assert covered, "describe() gives no interval"
    for name, count in covered.items():
        assert count / SIMULATIONS >= 0.94, f"{name} interval covers {count / SIMULATIONS:.3f} at n = {n}"


@slow
@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("is_paired", [True, False])
def test_the_interval_of_a_difference_covers_at_least_94_percent(n, is_paired):
    rng = np.random.default_rng(100 + n)
    covered = 0
    for _ in range(2 * SIMULATIONS):  # Welch's coverage at 3 rounds is near 94.9 %: more draws to tell it apart
        shared = rng.normal(0, 0.02, n) if is_paired else 0  # a round's data and init, common to both when paired
        reference = 0.80 + shared + rng.normal(0, 0.01, n)
        other = 0.81 + shared + rng.normal(0, 0.02 if is_paired else 0.03, n)  # unequal spreads: Welch's case
        low, high = difference_interval(reference, other, is_paired)
        covered += low <= 0.01 <= high
    assert covered / (2 * SIMULATIONS) >= 0.94


def sweep_of(values: np.ndarray) -> tuple[dict, pd.DataFrame]:
    """A sweep record and its values frame (sweeps.sweep_values' shape) from a rounds × cells matrix."""
    rounds, cells = values.shape
    record = {"id": 1, "cells": [{"experiment_id": c + 1, "position": c, "values": {"cell": c}} for c in range(cells)]}
    frame = pd.DataFrame([{"experiment": c + 1, "cell": c, "seed": 0, "round_index": r, ACCURACY.name: values[r, c]}
                          for r in range(rounds) for c in range(cells)])
    return record, frame


def flags_a_cell(values: np.ndarray) -> bool:
    record, frame = sweep_of(values)
    return not sweeps.sweep_table(record, frame, ACCURACY)["not_worse"].all()


@slow
@pytest.mark.parametrize("cells, rounds, simulations", [(4, 5, 100), (10, 5, 100), (54, 5, 20),
                                                         (4, 10, 2000), (10, 10, 400)])
def test_equal_cells_are_flagged_worse_at_most_5_percent_of_the_time(cells, rounds, simulations):
    rng = np.random.default_rng(cells * rounds)
    # Each round shifts every cell alike (shared data and seeds), plus each cell's own noise: all means equal.
    draws = [rng.normal(0.9, 0.01, (rounds, 1)) + rng.normal(0, 0.01, (rounds, cells)) for _ in range(simulations)]
    if simulations == 100:  # through the sweep table, as printed
        rate = np.mean([flags_a_cell(x) for x in draws])
    else:
        rate = np.mean([np.nanmin(np.r_[worse_than_best(x, True), 1.0]) < sweeps.ALPHA for x in draws])
    error = 2 * np.sqrt(0.05 * 0.95 / simulations)
    assert rate <= 0.05 + error, f"{rate:.3f} of {simulations} sweeps of {cells} equal cells flagged a cell"


@slow
def test_a_cell_two_sigma_worse_over_10_paired_rounds_is_found_in_most_sweeps():
    rng = np.random.default_rng(7)
    found = []
    for _ in range(100):
        values = rng.normal(0, 1, (10, 4))
        values[:, 3] -= 2.0  # two standard deviations of a round's value
        record, frame = sweep_of(values)
        table = sweeps.sweep_table(record, frame, ACCURACY).set_index("experiment")
        found.append(not table.loc[4, "not_worse"])
    assert np.mean(found) >= 0.8


def test_the_best_cell_is_never_flagged_and_the_smallest_p_is_said():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, (8, 5))
    values[:, 0] += 3
    p = worse_than_best(values, True)
    assert np.isnan(p[0]) and (p[1:] >= smallest_p(8)).all()
    np.testing.assert_array_equal(worse_than_best(-values, False), p)  # lower is better: the same verdicts
    assert smallest_p(5) == 1 / 16 and smallest_p(3) == 0.25
