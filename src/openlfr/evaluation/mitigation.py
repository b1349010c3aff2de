"""A label-free mitigation to measure: symmetric cohort score normalisation (s-norm).

Each template is judged against a cohort of other people's templates (at run time, the
watchlist itself; here, the LFW gallery). A pair's score becomes the mean of how many cohort
standard deviations it lies above each side's typical impostor score:

    s' = ½ [(s − μ_a) / σ_a + (s − μ_b) / σ_b]

Faces the model finds alike to everyone (the cause of high within-group false match rates)
have a high μ, so their scores are discounted. No demographic label is needed. To compare
fairly, the normalised threshold is chosen to give the same pooled false match rate as the raw
threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openlfr.evaluation import demographics


def cohort_stats(templates: np.ndarray, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = templates @ cohort.T
    return scores.mean(axis=1), np.maximum(scores.std(axis=1), 1e-6)


def snorm_pairs(templates: np.ndarray, members: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The s-normalised score block among ``members`` (upper triangle taken by the caller)."""
    block = templates[members] @ templates[members].T
    m, s = mu[members], sigma[members]
    return 0.5 * ((block - m[:, None]) / s[:, None] + (block - m[None, :]) / s[None, :])


@dataclass(frozen=True)
class MitigationResult:
    attribute: str
    raw_threshold: float
    normalised_threshold: float
    raw_fmr: dict[str, float]
    normalised_fmr: dict[str, float]

    @staticmethod
    def spread(rates: dict[str, float]) -> float:
        values = [v for v in rates.values() if v > 0]
        return max(values) / min(values) if values else float("nan")


def compare_groups(
    attribute: str,
    templates: np.ndarray,
    groups: np.ndarray,
    cohort: np.ndarray,
    raw_threshold: float,
    excluded: set[tuple[int, int]] | None = None,
) -> MitigationResult:
    """Per-group FMR before and after s-norm, at thresholds with equal pooled FMR."""
    mu, sigma = cohort_stats(templates, cohort)
    raw, normalised = {}, {}
    usable = templates.any(axis=1)
    for group in sorted(set(groups[usable]) - {""}):
        members = np.flatnonzero((groups == group) & usable)
        if len(members) < 20:
            continue
        raw[group] = demographics.within_group_pairs(templates, members, None, False, excluded)
        normalised[group] = snorm_pairs(templates, members, mu, sigma)[
            demographics.pair_mask(members, excluded)
        ]
    pooled_raw = np.concatenate(list(raw.values()))
    pooled_norm = np.sort(np.concatenate(list(normalised.values())))
    target = float(np.mean(pooled_raw >= raw_threshold))
    allowed = int(np.floor(target * len(pooled_norm)))
    norm_threshold = (
        float(pooled_norm[len(pooled_norm) - allowed]) if allowed else float(pooled_norm[-1] + 1e-6)
    )
    return MitigationResult(
        attribute,
        raw_threshold,
        norm_threshold,
        {g: float(np.mean(s >= raw_threshold)) for g, s in raw.items()},
        {g: float(np.mean(s >= norm_threshold)) for g, s in normalised.items()},
    )
