"""ROC curves from scores and binary labels (numpy only, so tasks can use it without loading matplotlib)."""

import numpy as np


def roc_rates(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct score threshold, from the strictest down, starting at (0, 0).

    Equal scores form one threshold, so ties give a diagonal segment (counted as half in the area). A class with
    no examples gives rates of 0 along its axis rather than a division by zero.
    """
    by_score = np.argsort(-score, kind="stable")
    score, positive = score[by_score], positive[by_score]
    last = np.r_[np.flatnonzero(score[1:] != score[:-1]), len(score) - 1]  # last example of each threshold
    tp = np.cumsum(positive)[last]
    return np.r_[0.0, (last + 1 - tp) / max(1, int((~positive).sum()))], np.r_[0.0, tp / max(1, int(positive.sum()))]
