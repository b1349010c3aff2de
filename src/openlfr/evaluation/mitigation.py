"""Label-free mitigations, measured: cohort score normalisation (s-norm) and cluster thresholds.

Cluster thresholds (see ``openlfr.models.cluster_thresholds``) are the one offered as a setting:
they lower the worst groups' false matches without raising anyone's. S-norm is kept as a
measured comparison because it narrows the spread by raising the best groups' rates instead.

S-norm:

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

from dataclasses import dataclass, field

import cv2
import numpy as np

from openlfr.evaluation import demographics
from openlfr.models.cluster_thresholds import MIN_CLUSTER, ClusterThresholds
from openlfr.vision.embedder import l2_normalize


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


GRID = np.round(np.arange(0.20, 0.901, 0.01), 2)


def fit_cluster_thresholds(
    cohort: np.ndarray,
    clusters: int = 16,
    same_person_above: float = 0.70,
    seed: int = 0,
    source: str = "",
) -> ClusterThresholds:
    """Cluster a cohort of unit-length templates (no labels) and count impostor pairs per cluster.

    The cohort has no identities, so a pair scoring ``same_person_above`` or more is taken to be
    one person twice and left out (the rule the demographic study uses for adults).
    """
    cohort = np.asarray(cohort, np.float32)
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    _, _, centroids = cv2.kmeans(cohort, clusters, None, criteria, 5, cv2.KMEANS_PP_CENTERS)
    centroids = l2_normalize(centroids)
    for _ in range(clusters):  # fold clusters too small to describe into their neighbours
        sizes = np.bincount(np.argmax(cohort @ centroids.T, 1), minlength=len(centroids))
        if sizes.min() >= MIN_CLUSTER:
            break
        centroids = np.delete(centroids, int(np.argmin(sizes)), axis=0)
    assigned = np.argmax(cohort @ centroids.T, 1)
    scores = cohort @ cohort.T
    upper = np.triu(np.ones(scores.shape, bool), k=1) & (scores < same_person_above)
    population = np.sort(scores[upper])
    per_cluster, pairs = [], []
    for k in range(len(centroids)):
        members = np.flatnonzero(assigned == k)
        inside = np.sort(scores[np.ix_(members, members)][upper[np.ix_(members, members)]])
        per_cluster.append(len(inside) - np.searchsorted(inside, GRID - 1e-9))
        pairs.append(len(inside))
    return ClusterThresholds(
        centroids,
        GRID.astype(np.float64),
        np.array(per_cluster, np.int64),
        np.array(pairs, np.int64),
        len(population) - np.searchsorted(population, GRID - 1e-9),
        len(population),
        source,
    )


def raised_scores(
    scores: np.ndarray, probe_floors: np.ndarray, reference_floors: np.ndarray, base: float
) -> np.ndarray:
    """Scores shifted down by each pair's threshold rise, so that comparing with ``base`` applies the
    raised thresholds (and open-set metrics at ``base`` can be reused unchanged)."""
    return scores - (np.maximum(probe_floors[:, None], reference_floors[None, :]) - base)


@dataclass(frozen=True)
class ClusterThresholdResult:
    attribute: str
    threshold: float
    raw_fmr: dict[str, float]
    mitigated_fmr: dict[str, float]
    raised_share: dict[str, float]  # the share of each group's faces whose threshold was raised
    raw_fnmr: dict[str, float] = field(default_factory=dict)  # where identities give mated pairs
    mitigated_fnmr: dict[str, float] = field(default_factory=dict)

    def spread(self, rates: dict[str, float]) -> float:
        return MitigationResult.spread(rates)


def compare_cluster_thresholds(
    attribute: str,
    clusters: ClusterThresholds,
    templates: np.ndarray,
    groups: np.ndarray,
    base: float,
    excluded: set[tuple[int, int]] | None = None,
    identities: np.ndarray | None = None,
) -> ClusterThresholdResult:
    """Per-group within-group FMR (and FNMR, given identities) at ``base``, without and with the
    cluster thresholds."""
    floors = np.where(templates.any(axis=1), clusters.floors(templates, base), base)
    raw, mitigated, raised, raw_fnmr, mitigated_fnmr = {}, {}, {}, {}, {}
    usable = templates.any(axis=1)
    for group in sorted(set(groups[usable]) - {""}):
        members = np.flatnonzero((groups == group) & usable)
        if len(members) < 20:
            continue
        mask = demographics.pair_mask(members, excluded)
        block = templates[members] @ templates[members].T
        shifted = raised_scores(block, floors[members], floors[members], base)
        same = np.zeros_like(mask)
        if identities is not None:
            ids = identities[members]
            same = mask & (ids[:, None] == ids[None, :])
            if same.any():
                raw_fnmr[group] = float(np.mean(block[same] < base))
                mitigated_fnmr[group] = float(np.mean(shifted[same] < base))
        impostor = mask & ~same
        raw[group] = float(np.mean(block[impostor] >= base))
        mitigated[group] = float(np.mean(shifted[impostor] >= base))
        raised[group] = float(np.mean(floors[members] > base))
    return ClusterThresholdResult(attribute, base, raw, mitigated, raised, raw_fnmr, mitigated_fnmr)
