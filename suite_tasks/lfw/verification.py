"""Verification metrics from same/different scores: accuracy at a threshold, the best threshold, ROC AUC, EER."""

import numpy as np
from scipy import stats

from suite import roc_rates


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float = 0.5) -> float:
    return float(np.mean((scores >= threshold) == same))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold of highest accuracy on these pairs: midway between two neighbouring distinct scores."""
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    predicted = scores[None, :] >= candidates[:, None]
    return float(candidates[np.argmax((predicted == same[None, :]).mean(axis=1))])


def roc_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """Area under the ROC curve = Mann–Whitney U of matched vs mismatched scores / (n₁·n₂) (ties count ½)."""
    positive, negative = scores[same], scores[~same]
    if not len(positive) or not len(negative):
        return float("nan")
    return float(stats.mannwhitneyu(positive, negative).statistic / (len(positive) * len(negative)))


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from the strictest down."""
    return roc_rates(scores, same)


def equal_error_rate(scores: np.ndarray, same: np.ndarray) -> float:
    """The rate at which false accepts equal false rejects, interpolated on the ROC curve."""
    fpr, tpr = roc_curve(scores, same)
    fnr = 1 - tpr
    crossing = int(np.argmax(fpr >= fnr))  # first point where false accepts reach false rejects
    if crossing == 0:
        return float(fpr[0])
    x0, x1 = fpr[crossing - 1] - fnr[crossing - 1], fpr[crossing] - fnr[crossing]
    w = x0 / (x0 - x1) if x1 != x0 else 0.0
    return float(fpr[crossing - 1] + w * (fpr[crossing] - fpr[crossing - 1]))
