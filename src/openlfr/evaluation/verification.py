"""1:1 verification metrics: k-fold accuracy as the LFW papers report it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KFoldResult:
    """Accuracy per held-out fold, with the threshold each fold was judged at."""

    accuracies: np.ndarray
    thresholds: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.accuracies.std())


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that maximises accuracy on these pairs (ties: the midpoint between scores).

    Candidates are the midpoints between consecutive sorted scores, all evaluated at once.
    """
    order = np.argsort(scores)
    sorted_scores = scores[order]
    sorted_same = same[order].astype(np.int64)
    # Accepting everything from position k upwards: correct = genuines at >= k + impostors below k.
    genuine_at_or_above = np.concatenate([np.cumsum(sorted_same[::-1])[::-1], [0]])
    impostor_below = np.concatenate([[0], np.cumsum(1 - sorted_same)])
    correct = genuine_at_or_above + impostor_below
    k = int(np.argmax(correct))
    if k == 0:
        return float(sorted_scores[0] - 1e-6)
    if k == len(sorted_scores):
        return float(sorted_scores[-1] + 1e-6)
    return float((sorted_scores[k - 1] + sorted_scores[k]) / 2)


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> KFoldResult:
    """For each fold: pick the threshold on the other folds, measure accuracy on this one."""
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    folds = np.asarray(folds)
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(scores[~test], same[~test])
        accuracies.append(float(np.mean((scores[test] >= threshold) == same[test])))
        thresholds.append(threshold)
    return KFoldResult(np.array(accuracies), np.array(thresholds))
