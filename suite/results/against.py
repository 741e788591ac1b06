"""One store against another: a candidate (`--store`) against a baseline (`--against`), e.g. a branch's CI
experiments against main's.

Experiments are matched by task and configuration (config hash); each matched pair is compared on the rounds both
ran, paired by (seed, round index), with `suite.results.compare.compare`: the difference candidate − baseline, its
95 % paired t interval, paired t and Wilcoxon tests, the p-values Holm-adjusted across the matched experiments.
Pairs sharing fewer than two rounds are not tested. Where nothing is detected, the table gives the smallest
difference those rounds could detect (a two-sided paired t-test at alpha with 80 % power). `regressions` is the
gate of `suite compare --fail-if-worse`. docs/statistics.md says what the verdicts guarantee.
"""

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from suite.core import registry
from suite.core.config import non_defaults
from suite.core.errors import SuiteError
from suite.core.metrics import Metric
from suite.results.compare import Sample, compare, holm, shared_keys, values_at
from suite.results.selection import labels, matches, metric_of, parse_where, samples, select
from suite.results.store import Store

ALPHA = 0.05
POWER = 0.80


@dataclasses.dataclass(frozen=True)
class Pair:
    """One matched experiment's values of a metric in the baseline store and in the candidate store."""

    task: str
    metric: Metric
    baseline: Sample
    candidate: Sample


@dataclasses.dataclass
class AgainstBaseline:
    """The verdict table (one row per matched experiment and metric: `verdict_table`) and the experiments of each
    store without a counterpart in the other ({"id", "task", "config"}: the config's non-default values)."""

    candidate_path: Path
    baseline_path: Path
    alpha: float
    table: pd.DataFrame
    only_candidate: list[dict[str, Any]]
    only_baseline: list[dict[str, Any]]


def check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise SuiteError(f"--alpha: must be between 0 and 1 (exclusive), got {alpha}")
    return alpha


def check_margin(margin: float) -> float:
    if not (margin >= 0 and math.isfinite(margin)):
        raise SuiteError(f"--margin: must be a number >= 0 (in the metric's display unit), got {margin}")
    return margin


def open_store(path: Path, option: str = "--against") -> Store:
    """An existing suite results store, for reading (it is never written); anything else (missing, a folder, not
    SQLite, a SQLite file of something else) is a SuiteError naming the option."""
    path = Path(path)
    if not path.exists():
        raise SuiteError(f"{option} {path}: no results store there")
    if path.is_dir():
        raise SuiteError(f"{option} {path}: is a directory, expected a SQLite file")
    try:
        return Store(path, readonly=True)
    except SuiteError as exc:
        raise SuiteError(f"{option} {path}: {str(exc).removeprefix(f'store {path}: ')}") from None


def finished(store: Store) -> list[dict[str, Any]]:
    """Every experiment of the store with stored rounds, finished or diverged, in id order."""
    frame = store.experiments()
    return [store.experiment(int(i)) for i in frame.loc[(frame["rounds"] > 0) | (frame["diverged"] > 0), "id"]]


def candidates(store: Store, ids: list[int], task: str | None, where: list[str]) -> list[dict[str, Any]]:
    """The candidate experiments: those chosen by ids, --task and --where (as `suite compare` chooses, so of one
    task), or else every experiment with finished rounds, of any task."""
    if ids or task or where:
        return select(store, ids, task, where, with_diverged=True)
    chosen = finished(store)
    if not chosen:
        raise SuiteError(f"no experiment with finished rounds in {store.path} (see `suite results`)")
    return chosen


def describe_config(experiment: dict[str, Any]) -> str:
    task = registry.tasks().get(experiment["task"])
    if task is None:
        return ", ".join(f"{k}={v}" for k, v in experiment["config"].items())
    return ", ".join(f"{k}={v}" for k, v in non_defaults(task.config_cls, experiment["config"]).items()) or "defaults"


def _passes(experiment: dict[str, Any], where: list[str]) -> bool:
    if not where:
        return True
    return matches(experiment, parse_where(registry.get_task(experiment["task"]), where))


def against_baseline(candidate: Store, baseline: Store, experiments: list[dict[str, Any]], metric: str | None,
                     alpha: float = ALPHA, where: list[str] | None = None) -> AgainstBaseline:
    """The candidate experiments (`experiments`, of `candidate`) against the experiments of the same task and
    config hash in `baseline`, for `metric` (None: each task's primary metric). Baseline experiments are listed as
    unmatched when no experiment of the candidate store has their task and configuration, they are of a task among
    the candidates' and pass the --where filters."""
    check_alpha(alpha)
    by_identity = {(e["task"], e["config_hash"]): e for e in finished(baseline)}
    matched = [(e, by_identity[(e["task"], e["config_hash"])]) for e in experiments
               if (e["task"], e["config_hash"]) in by_identity]
    only_candidate = [e for e in experiments if (e["task"], e["config_hash"]) not in by_identity]
    in_candidate = {(e["task"], e["config_hash"]) for e in finished(candidate)}
    tasks = {e["task"] for e in experiments}
    only_baseline = [e for key, e in by_identity.items()
                     if key not in in_candidate and e["task"] in tasks and _passes(e, where or [])]

    def listed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": e["id"], "task": e["task"], "config": describe_config(e)} for e in found]

    if not matched:
        raise SuiteError(f"no experiment of {candidate.path} has the task and configuration of one in "
                         f"{baseline.path} ({len(only_candidate)} only in the candidate, {len(only_baseline)} only "
                         "in the baseline; see `suite results` of each)")
    pairs = []
    for task in dict.fromkeys(c["task"] for c, _ in matched):
        group = [(c, b) for c, b in matched if c["task"] == task]
        declared = metric_of(task, metric)
        names = labels([e for e in experiments if e["task"] == task])
        ours = samples(candidate, [c for c, _ in group], declared)
        theirs = samples(baseline, [b for _, b in group], declared)
        pairs += [Pair(task, declared, b, dataclasses.replace(c, label=names[c.experiment_id]))
                  for c, b in zip(ours, theirs, strict=True)]
    return AgainstBaseline(Path(candidate.path), Path(baseline.path), alpha, verdict_table(pairs, alpha),
                           listed(only_candidate), listed(only_baseline))


def minimum_detectable_effect(spread: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true mean difference that a two-sided paired t-test at `alpha` detects with probability
    `power`, from n paired differences whose standard deviation is `spread`: δ = λ·spread/√n, where λ solves
    P(|T| > t_{1−α/2, n−1}) = power for T noncentral t with n − 1 degrees of freedom and noncentrality λ
    (scipy.stats.nct; as statsmodels' TTestPower.solve_power). NaN below two differences or without spread."""
    if n < 2 or not spread > 0:
        return math.nan
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(noncentrality: float) -> float:  # the lower tail by symmetry: nct's cdf underflows to NaN there
        return float(stats.nct.sf(critical, df, noncentrality) + stats.nct.sf(critical, df, -noncentrality)) - power

    if shortfall(0.0) >= 0:  # alpha itself reaches the power asked for
        return 0.0
    high = max(1.0, float(critical))
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10)) * spread / math.sqrt(n)


def _row(pair: Pair, alpha: float) -> dict[str, Any]:
    base, cand, metric = pair.baseline, pair.candidate, pair.metric
    keys = shared_keys(base, cand)
    tested = len(keys) > 1
    row: dict[str, Any] = {
        "task": pair.task, "metric": metric.name, "declaration": metric, "experiment": cand.experiment_id,
        "baseline": base.experiment_id, "label": cand.label, "n_candidate": len(cand.values),
        "n_baseline": len(base.values), "n_paired": len(keys), "tested": tested, "identical": False,
        "sd_difference": math.nan, "mde": math.nan, "diverged_candidate": cand.diverged,
        "diverged_baseline": base.diverged, "p_diverged": _diverged_more(cand, base)}
    if tested:  # every number of the row is of the shared rounds
        ours, theirs = values_at(cand, keys), values_at(base, keys)
        result = compare(base, cand, metric)
        differences = ours - theirs
        row["sd_difference"] = float(np.std(differences, ddof=1))
        row["identical"] = not np.any(differences)
        row["mde"] = minimum_detectable_effect(row["sd_difference"], len(keys), alpha)
        row |= {k: result[k] for k in ("difference", "diff_low", "diff_high", "p_t", "p_rank", "d_z",
                                       "p_improvement")}
    else:  # no test: the means of all their rounds, for information
        ours, theirs = cand.array, base.array
        row |= {"difference": float(np.mean(ours) - np.mean(theirs)) if len(ours) and len(theirs) else math.nan,
                "diff_low": math.nan, "diff_high": math.nan, "p_t": math.nan, "p_rank": math.nan, "d_z": math.nan,
                "p_improvement": math.nan}
    for side, values in (("candidate", ours), ("baseline", theirs)):
        row[f"mean_{side}"] = float(np.mean(values)) if len(values) else math.nan
        row[f"std_{side}"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return row


def _diverged_more(candidate: Sample, baseline: Sample) -> float:
    """One-sided Fisher exact p-value that the candidate's rounds diverge more often than the baseline's (1 when
    it diverged no more often)."""
    table = [[candidate.diverged, candidate.rounds or len(candidate.values)],
             [baseline.diverged, baseline.rounds or len(baseline.values)]]
    if candidate.diverged * sum(table[1]) <= baseline.diverged * sum(table[0]):
        return 1.0
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def verdict_table(pairs: list[Pair], alpha: float = ALPHA) -> pd.DataFrame:
    """One row per pair: means and standard deviations of both sides on the shared rounds, the difference
    candidate − baseline with its 95 % paired t interval, paired t and Wilcoxon p-values, both Holm-adjusted across
    the table's tested rows, the smallest difference those rounds could detect (`mde`), and the verdict:
    significant when the Holm-adjusted paired t p-value is below alpha, "better" or "worse" in the metric's declared
    direction ("higher" or "lower" for a metric without one)."""
    check_alpha(alpha)
    table = pd.DataFrame([_row(pair, alpha) for pair in pairs])
    for column in ("p_t", "p_rank"):
        table[f"{column}_holm"] = holm(table[column].astype(float).tolist())
    table["significant"] = table["tested"] & (table["p_t_holm"] < alpha)
    table["p_diverged_holm"] = holm(table["p_diverged"].astype(float).tolist())
    # Worse by divergence: every candidate round diverged where the baseline finished some (nothing left to
    # compare), or its rounds diverged significantly more often.
    table["diverged_more"] = (((table["n_candidate"] == 0) & (table["n_baseline"] > 0))
                              | (table["p_diverged_holm"] < alpha))
    table["direction"] = [_direction(row) for row in table.to_dict("records")]
    table["verdict"] = [_verdict(row) for row in table.to_dict("records")]
    table.attrs["alpha"] = alpha
    return table


def _direction(row: dict[str, Any]) -> str:
    metric: Metric = row["declaration"]
    if not row["difference"] or row["difference"] != row["difference"]:
        return ""
    higher = row["difference"] > 0
    if not metric.ranked:
        return "higher" if higher else "lower"
    return "better" if higher == bool(metric.higher_is_better) else "worse"


def _verdict(row: dict[str, Any]) -> str:
    if row["diverged_more"]:
        return (f"worse: {row['diverged_candidate']} diverged round(s) against {row['diverged_baseline']} in the "
                "baseline" + ("" if row["n_candidate"] else ", none finished"))
    if not row["tested"]:
        return (f"not tested: {row['n_paired']} shared round{'s' if row['n_paired'] != 1 else ''} (a paired test "
                "needs 2 or more with the same seed and round index)")
    if row["identical"]:
        return "no change: identical rounds"
    if row["significant"]:
        return f"significantly {row['direction']}"
    return "no significant change"


def regressions(table: pd.DataFrame, margin: float = 0.0) -> pd.DataFrame:
    """The rows of `verdict_table` significantly worse than their baseline by more than `margin`, in the metric's
    display unit (percentage points for a metric shown in %: Metric.scale): Holm-adjusted paired p below alpha and
    the difference beyond −margin in the metric's declared direction; or worse by divergence (verdict_table's
    `diverged_more`). A metric without a direction can't gate."""
    check_margin(margin)
    for metric in {row["declaration"] for row in table.to_dict("records")}:
        if not metric.ranked:
            raise SuiteError(f"--fail-if-worse: {metric.name} has no declared direction (neither higher nor lower "
                             "is better), so nothing is worse; choose another --metric")
    worse_by = [(-row["difference"] if row["declaration"].higher_is_better else row["difference"])
                * row["declaration"].scale for row in table.to_dict("records")]
    return table[(table["significant"] & (pd.Series(worse_by, index=table.index) > margin))
                 | table["diverged_more"]]
