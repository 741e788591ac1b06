"""Comparing experiments honestly: how big a difference is, how sure we are of it, and whether rounds pair up.

Per experiment: n, mean, sample std, median, and the 95 % Student's t interval of the mean. Per experiment against
a reference: the difference of means with its 95 % interval; paired t and Wilcoxon signed-rank tests on the rounds
both ran (same base seed and round index, so round r saw the same data and initial weights in both), Welch's t and
Mann–Whitney U when they share fewer than two; Hedges' g, and d_z for paired rows; Holm-adjusted p-values across
all comparisons of the table; and the probability of improvement. Every interval and test is scipy's; only the
effect sizes and Holm's step-down adjustment, which scipy lacks, are written out here. docs/statistics.md says
what each guarantees.
"""

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

from suite.core.metrics import Metric

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Sample:
    """One experiment's values of a metric, indexed by (seed, round_index) — of a round, or of the first round of
    a group whose rounds were measured together (per-group metrics: one value per group)."""

    experiment_id: int
    label: str
    values: pd.Series
    command: str = ""  # the `suite run` command that reproduces it
    rounds: int = 0  # the rounds behind the values (more than len(values) for per-group metrics)
    diverged: int = 0  # the experiment's diverged rounds: not among the values (docs/statistics.md)

    @property
    def array(self) -> np.ndarray:
        return self.values.to_numpy(dtype=float)


def describe(values: np.ndarray) -> dict[str, float]:
    """n, mean, std (ddof 1), median and t interval of the mean (none from a single value)."""
    n = len(values)
    out = {"n": n, "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if n > 1 else math.nan,
           "median": float(np.median(values)), "t_low": math.nan, "t_high": math.nan}
    if n > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            t = stats.ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
        out["t_low"], out["t_high"] = _interval(t, out["mean"], out["std"])
    return out


def _interval(ci, centre: float, spread: float) -> tuple[float, float]:
    """scipy's interval; where every difference is equal (zero spread) it is undefined, and the point is exact."""
    if spread == 0:
        return centre, centre
    return float(ci.low), float(ci.high)


def shared_keys(reference: Sample, other: Sample) -> list:
    """The (seed, round index) keys both experiments ran, in order."""
    return sorted(set(reference.values.index) & set(other.values.index))


def values_at(sample: Sample, keys: list) -> np.ndarray:
    """The sample's values at these (seed, round index) keys, in their order (a dict lookup: a MultiIndex .loc
    costs milliseconds, paid per row of a large comparison)."""
    by_key = dict(zip(sample.values.index, sample.array, strict=True))
    return np.array([by_key[k] for k in keys], dtype=float)


def paired(reference: Sample, other: Sample) -> bool:
    """Rounds pair up when the two experiments share at least two (seed, round index) keys."""
    return len(shared_keys(reference, other)) > 1


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a − mean b) / pooled std, times the exact small-sample correction J(df) (Hedges 1981). With equal n
    the pooled std is the root of the mean variance, so for paired rows this is Lakens' g_av."""
    n_a, n_b = len(a), len(b)
    df = n_a + n_b - 2
    if min(n_a, n_b) < 2:
        return math.nan
    pooled = math.sqrt(((n_a - 1) * np.var(a, ddof=1) + (n_b - 1) * np.var(b, ddof=1)) / df)
    if pooled == 0:
        return math.nan
    correction = math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return float((np.mean(a) - np.mean(b)) / pooled * correction)


def cohens_dz(differences: np.ndarray) -> float:
    """Mean paired difference over the std of the differences (Cohen's d_z = t / √n): the standardised size that a
    paired test's power depends on."""
    if len(differences) < 2:
        return math.nan
    spread = float(np.std(differences, ddof=1))
    return math.nan if spread == 0 else float(np.mean(differences) / spread)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate); NaN p-values stay NaN and don't count."""
    present = [(p, i) for i, p in enumerate(pvalues) if not math.isnan(p)]
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[i] = running
    return adjusted


def compare(reference: Sample, other: Sample, metric: Metric) -> dict[str, float | bool | str]:
    """`other` against `reference`: difference of means (other − reference) with CI, tests, effect sizes, P(better).
    Paired on the rounds both ran when they share at least two; then every number is of those rounds alone."""
    keys = shared_keys(reference, other)
    is_paired = len(keys) > 1
    if is_paired:
        ref, oth = values_at(reference, keys), values_at(other, keys)
    else:
        ref, oth = reference.array, other.array
    out: dict[str, float | bool | str] = {
        "paired": is_paired, "n_paired": len(keys) if is_paired else 0,
        "difference": float(np.mean(oth) - np.mean(ref)), "diff_low": math.nan, "diff_high": math.nan,
        "t_test": "paired t" if is_paired else "Welch t", "p_t": math.nan,
        "rank_test": "Wilcoxon" if is_paired else "Mann-Whitney U", "p_rank": math.nan,
        "hedges_g": hedges_g(oth, ref), "d_z": cohens_dz(oth - ref) if is_paired else math.nan,
        "p_improvement": math.nan}
    if min(len(ref), len(oth)) < 2:
        return out
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance: scipy answers NaN, which we report
        out["p_t"], out["diff_low"], out["diff_high"] = _t_test(ref, oth, is_paired)
        if is_paired:
            out["p_rank"] = _wilcoxon_p(oth - ref)
            if metric.ranked:
                better = np.sign(ref - oth if metric.lower_is_better else oth - ref)
                out["p_improvement"] = float(np.mean((better > 0) + 0.5 * (better == 0)))
        else:
            u = stats.mannwhitneyu(oth, ref, alternative="two-sided")
            out["p_rank"] = float(u.pvalue)
            share = float(u.statistic) / (len(oth) * len(ref))  # P(other > reference) + ½ P(tie)
            if metric.ranked:
                out["p_improvement"] = 1 - share if metric.lower_is_better else share
    return out


def _t_test(reference: np.ndarray, other: np.ndarray, is_paired: bool) -> tuple[float, float, float]:
    """p-value and 95 % interval of mean(other) − mean(reference): paired t, or Welch's t."""
    t = stats.ttest_rel(other, reference) if is_paired else stats.ttest_ind(other, reference, equal_var=False)
    spread = float(np.std(other - reference, ddof=1)) if is_paired else float(
        np.std(other, ddof=1) + np.std(reference, ddof=1))
    low, high = _interval(t.confidence_interval(CONFIDENCE), float(np.mean(other) - np.mean(reference)), spread)
    return float(t.pvalue), low, high


def difference_interval(reference: np.ndarray, other: np.ndarray, is_paired: bool) -> tuple[float, float]:
    """The interval of the difference of means that `compare` prints."""
    return _t_test(reference, other, is_paired)[1:]


def _wilcoxon_p(differences: np.ndarray) -> float:
    if not np.any(differences):  # every round tied: no evidence of a difference, and scipy's statistic is undefined
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


VERSUS = ("reference", "previous")


def comparison_table(samples: list[Sample], reference_id: int, metric: Metric,
                     versus: str = "reference") -> pd.DataFrame:
    """One row per experiment: its description, and its comparison with the reference (`versus="reference"`: the
    reference first, every other row against it) or with the row above it (`"previous"`: the experiments in the
    order given, as in an ablation that adds one ingredient per row; `reference_id` is then ignored). Holm's
    adjustment runs over all the table's comparisons either way."""
    if versus == "previous":
        ordered = samples
    else:
        reference = next(s for s in samples if s.experiment_id == reference_id)
        ordered = [reference] + [s for s in samples if s is not reference]
    rows = []
    for index, sample in enumerate(ordered):
        row: dict = {"experiment": sample.experiment_id, "label": sample.label, "command": sample.command,
                     "rounds": sample.rounds or len(sample.values), "diverged": sample.diverged,
                     **describe(sample.array)}
        if index:
            against = ordered[index - 1] if versus == "previous" else ordered[0]
            row |= compare(against, sample, metric) | {"versus": against.experiment_id, "n_versus": len(against.values)}
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("p_t", "p_rank"):
        if column not in table:
            table[column] = math.nan
        adjusted = holm(table[column].iloc[1:].astype(float).tolist())
        table[f"{column}_holm"] = [math.nan] + adjusted
    table.attrs["versus"] = versus
    table.attrs["metric"] = metric.name
    return table
