"""Error rates the way NIST and NPL report them, with exact confidence intervals.

Verification (1:1): FMR(t), the share of impostor pairs scoring ≥ t; FNMR(t), the share of
genuine pairs scoring < t; TAR = 1 − FNMR at the threshold where FMR reaches a target.

Open-set identification (1:N): a mated probe is a true positive at t when its own subject is
ranked first with score ≥ t (TPIR); a non-mated probe is a false positive when any subject
scores ≥ t (FPIR). FNIR = 1 − TPIR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def rate_at(scores: np.ndarray, threshold: float) -> float:
    """Share of scores at or above the threshold."""
    scores = np.asarray(scores)
    return float(np.mean(scores >= threshold)) if scores.size else float("nan")


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval for successes / trials."""
    if trials == 0:
        return float("nan"), float("nan")
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = (
        1.0
        if successes == trials
        else float(stats.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    )
    return low, high


def threshold_at_rate(impostor: np.ndarray, target: float) -> float:
    """The lowest threshold whose false match rate does not exceed ``target``."""
    ordered = np.sort(np.asarray(impostor))[::-1]
    allowed = int(np.floor(target * len(ordered)))
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.inf))


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the given false accept rate."""
    threshold = threshold_at_rate(impostor, far)
    return rate_at(genuine, threshold), threshold


def det_curve(
    genuine: np.ndarray, impostor: np.ndarray, points: int = 400
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FMR, FNMR) over the range of observed scores."""
    low = min(np.min(genuine), np.min(impostor))
    high = max(np.max(genuine), np.max(impostor))
    thresholds = np.linspace(low, high, points)
    sorted_impostor, sorted_genuine = np.sort(impostor), np.sort(genuine)
    fmr = 1 - np.searchsorted(sorted_impostor, thresholds, side="left") / len(sorted_impostor)
    fnmr = np.searchsorted(sorted_genuine, thresholds, side="left") / len(sorted_genuine)
    return thresholds, fmr, fnmr


@dataclass(frozen=True)
class OpenSetScores:
    """Per probe: best score, whether the best is the right subject (mated), and the rank of the right one."""

    mated_top_score: np.ndarray
    mated_top_correct: np.ndarray
    mated_rank: np.ndarray
    mated_true_score: np.ndarray
    nonmated_top_score: np.ndarray

    def tpir(self, threshold: float) -> float:
        return float(np.mean(self.mated_top_correct & (self.mated_top_score >= threshold)))

    def fpir(self, threshold: float) -> float:
        return rate_at(self.nonmated_top_score, threshold)

    def threshold_at_fpir(self, target: float) -> float:
        return threshold_at_rate(self.nonmated_top_score, target)

    def rank_rate(self, k: int) -> float:
        return float(np.mean(self.mated_rank <= k))


def open_set_scores(
    probe_templates: np.ndarray,
    probe_subjects: np.ndarray,
    gallery_templates: np.ndarray,
    gallery_subjects: np.ndarray,
) -> OpenSetScores:
    """Score every probe against the gallery (one template per subject); unknown subjects are non-mated."""
    return open_set_from_scores(probe_templates @ gallery_templates.T, probe_subjects, gallery_subjects)


def open_set_from_scores(
    scores: np.ndarray, probe_subjects: np.ndarray, gallery_subjects: np.ndarray
) -> OpenSetScores:
    """Open-set outcomes from a (probes × gallery subjects) score matrix."""
    known = np.isin(probe_subjects, gallery_subjects)
    index = {subject: i for i, subject in enumerate(gallery_subjects)}
    mated = scores[known]
    right = np.array([index[s] for s in probe_subjects[known]], dtype=np.int64)
    true_score = mated[np.arange(len(right)), right]
    rank = 1 + np.sum(mated > true_score[:, None], axis=1)
    best = np.argmax(mated, axis=1) if len(mated) else np.zeros(0, np.int64)
    return OpenSetScores(
        mated_top_score=mated.max(axis=1) if len(mated) else np.zeros(0),
        mated_top_correct=best == right,
        mated_rank=rank,
        mated_true_score=true_score,
        nonmated_top_score=scores[~known].max(axis=1) if (~known).any() else np.zeros(0),
    )


def differential_test(counts: list[tuple[int, int]]) -> float:
    """p-value that groups share one rate: Fisher's exact test for two groups, chi-square otherwise."""
    table = np.array([[hits, trials - hits] for hits, trials in counts if trials > 0])
    if len(table) < 2 or table[:, 0].sum() == 0:
        return 1.0
    if len(table) == 2:
        return float(stats.fisher_exact(table)[1])
    return float(stats.chi2_contingency(table)[1])
