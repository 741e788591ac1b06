"""Comparing experiments honestly: how big a difference is, how sure we are of it, and whether rounds pair up.

Per experiment: n, mean, sample std, median, and two 95 % confidence intervals of the mean (Student's t, and a
percentile bootstrap). Per experiment against a reference: the difference of means with its 95 % interval; paired
t and Wilcoxon signed-rank tests when both ran exactly the same rounds (same base seeds and round indices, so round
r saw the same data and initial weights in both), Welch's t and Mann–Whitney U otherwise; Hedges' g; Holm-adjusted
p-values across all comparisons of the table; and the probability of improvement. Every interval and test is
scipy's; only Hedges' g and Holm's step-down adjustment, which scipy lacks, are written out here.
"""

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
from scipy import special, stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0  # the bootstrap interval is reproducible: the same rounds give the same interval

# Metrics where smaller is better; improvement and its probability are judged in that direction.
_LOWER_IS_BETTER = ("loss", "eer", "seconds", "seconds_per_epoch", "peak_memory_bytes", "peak_memory_mb")


def lower_is_better(metric: str) -> bool:
    return metric.endswith(_LOWER_IS_BETTER)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One experiment's per-round values of a metric, indexed by (seed, round_index)."""

    experiment_id: int
    label: str
    values: pd.Series
    command: str = ""  # the `suite run` command that reproduces it

    @property
    def array(self) -> np.ndarray:
        return self.values.to_numpy(dtype=float)


def describe(values: np.ndarray) -> dict[str, float]:
    """n, mean, std (ddof 1), median, t interval and percentile-bootstrap interval of the mean."""
    n = len(values)
    out = {"n": n, "mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if n > 1 else math.nan,
           "median": float(np.median(values)),
           "t_low": math.nan, "t_high": math.nan, "boot_low": math.nan, "boot_high": math.nan}
    if n > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            t = stats.ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
        out["t_low"], out["t_high"] = _interval(t, out["mean"], out["std"])
        boot = stats.bootstrap((values,), np.mean, confidence_level=CONFIDENCE, method="percentile",
                               n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED))
        out["boot_low"], out["boot_high"] = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    return out


def _interval(ci, centre: float, spread: float) -> tuple[float, float]:
    """scipy's interval; where every difference is equal (zero spread) it is undefined, and the point is exact."""
    if spread == 0:
        return centre, centre
    return float(ci.low), float(ci.high)


def paired(reference: Sample, other: Sample) -> bool:
    """Rounds pair up when both experiments ran exactly the same (seed, round index) keys, at least two."""
    return len(reference.values) > 1 and set(reference.values.index) == set(other.values.index)


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """(mean a − mean b) / pooled std, times the exact small-sample correction J(df) (Hedges 1981)."""
    n_a, n_b = len(a), len(b)
    df = n_a + n_b - 2
    if min(n_a, n_b) < 2:
        return math.nan
    pooled = math.sqrt(((n_a - 1) * np.var(a, ddof=1) + (n_b - 1) * np.var(b, ddof=1)) / df)
    if pooled == 0:
        return math.nan
    correction = math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return float((np.mean(a) - np.mean(b)) / pooled * correction)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate); NaN p-values stay NaN and don't count."""
    present = [(p, i) for i, p in enumerate(pvalues) if not math.isnan(p)]
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[i] = running
    return adjusted


def compare(reference: Sample, other: Sample, metric: str) -> dict[str, float | bool | str]:
    """`other` against `reference`: difference of means (other − reference) with CI, tests, effect size, P(better)."""
    ref, oth = reference.array, other.array
    is_paired = paired(reference, other)
    if is_paired:  # align the rounds: the same key in both
        keys = sorted(reference.values.index)
        ref, oth = reference.values.loc[keys].to_numpy(float), other.values.loc[keys].to_numpy(float)
    out: dict[str, float | bool | str] = {
        "paired": is_paired, "difference": float(np.mean(oth) - np.mean(ref)), "diff_low": math.nan,
        "diff_high": math.nan, "t_test": "paired t" if is_paired else "Welch t", "p_t": math.nan,
        "rank_test": "Wilcoxon" if is_paired else "Mann-Whitney U", "p_rank": math.nan,
        "hedges_g": hedges_g(oth, ref), "p_improvement": math.nan}
    if min(len(ref), len(oth)) < 2:
        return out
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance: scipy answers NaN, which we report
        if is_paired:
            t = stats.ttest_rel(oth, ref)
            spread = float(np.std(oth - ref, ddof=1))
            out["p_rank"] = _wilcoxon_p(oth - ref)
            better = np.sign(ref - oth if lower_is_better(metric) else oth - ref)
            out["p_improvement"] = float(np.mean((better > 0) + 0.5 * (better == 0)))
        else:
            t = stats.ttest_ind(oth, ref, equal_var=False)
            spread = float(np.std(oth, ddof=1) + np.std(ref, ddof=1))
            u = stats.mannwhitneyu(oth, ref, alternative="two-sided")
            out["p_rank"] = float(u.pvalue)
            share = float(u.statistic) / (len(oth) * len(ref))  # P(other > reference) + ½ P(tie)
            out["p_improvement"] = 1 - share if lower_is_better(metric) else share
        out["p_t"] = float(t.pvalue)
        out["diff_low"], out["diff_high"] = _interval(t.confidence_interval(CONFIDENCE), out["difference"], spread)
    return out


def _wilcoxon_p(differences: np.ndarray) -> float:
    if not np.any(differences):  # every round tied: no evidence of a difference, and scipy's statistic is undefined
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


VERSUS = ("reference", "previous")


def comparison_table(samples: list[Sample], reference_id: int, metric: str,
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
                     **describe(sample.array)}
        if index:
            against = ordered[index - 1] if versus == "previous" else ordered[0]
            row |= compare(against, sample, metric) | {"versus": against.experiment_id}
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("p_t", "p_rank"):
        if column not in table:
            table[column] = math.nan
        adjusted = holm(table[column].iloc[1:].astype(float).tolist())
        table[f"{column}_holm"] = [math.nan] + adjusted
    table.attrs["versus"] = versus
    return table
