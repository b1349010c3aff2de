"""Demographic differentials: false match and false non-match rates per group, with exact intervals.

False match rate per group comes from impostor pairs *within* the group (two different people
of the same sex, race or age band: the hard case NIST's 2019 study measured). Differentials
are each group's rate divided by the lowest; a chi-square test (Fisher's exact for two groups)
asks whether the groups could share one rate; a sweep finds the lowest threshold from which
on no difference is significant at 5%.

Caveat, stated in every report: pairs share images, so they are not independent, and the
intervals and p-values are optimistic. UTKFace has no identities and holds some people twice;
likely duplicate pairs are excluded by the rule in ``likely_duplicates`` and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openlfr.evaluation.metrics import clopper_pearson, differential_test

AGE_BANDS = ((0, 12, "0-12"), (13, 19, "13-19"), (20, 39, "20-39"), (40, 59, "40-59"), (60, 200, "60+"))
SWEEP_BELOW, SWEEP_ABOVE = 0.25, 0.35  # the sweep spans the operating threshold, whatever the pack's scale


def sweep_grid(threshold: float) -> np.ndarray:
    return np.round(np.arange(threshold - SWEEP_BELOW, threshold + SWEEP_ABOVE + 1e-9, 0.01), 2)


def age_band(age: str) -> str:
    try:
        years = int(float(age))
    except ValueError:
        return ""
    return next(label for low, high, label in AGE_BANDS if low <= years <= high)


def within_group_pairs(
    templates: np.ndarray,
    members: np.ndarray,
    identities: np.ndarray | None,
    same_identity: bool,
    excluded: set[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Scores of all pairs inside one group: different people (impostors) or the same person (genuine)."""
    if len(members) < 2:
        return np.zeros(0)
    if identities is None and same_identity:
        return np.zeros(0)
    block = templates[members] @ templates[members].T
    upper = pair_mask(members, excluded)
    if identities is not None:
        ids = identities[members]
        same = ids[:, None] == ids[None, :]
        upper &= same if same_identity else ~same
    return block[upper]


def pair_mask(members: np.ndarray, excluded: set[tuple[int, int]] | None = None) -> np.ndarray:
    """Each unordered pair of ``members`` once (upper triangle), less the ``excluded`` image pairs."""
    upper = np.triu(np.ones((len(members), len(members)), bool), k=1)
    if excluded:
        position = {int(m): i for i, m in enumerate(members)}
        for a, b in excluded:
            if a in position and b in position:
                i, j = sorted((position[a], position[b]))
                upper[i, j] = False
    return upper


def likely_duplicates(
    templates: np.ndarray,
    sex: np.ndarray,
    race: np.ndarray,
    age: np.ndarray,
    min_score: float = 0.70,
    min_score_children: float = 0.80,
    max_age_gap: int = 10,
) -> set[tuple[int, int]]:
    """UTKFace's repeated people: pairs with the same sex and race labels, ages at most
    ``max_age_gap`` apart, scoring at least ``min_score`` (``min_score_children`` when either is
    under 13).

    The rule comes from looking at the highest-scoring pairs: every adult pair at 0.70 or more
    that we viewed was one person photographed twice (several actors appear repeatedly), while
    different babies of the same race commonly score 0.60–0.80, so children need a higher bar.
    """
    scores = templates @ templates.T
    rows, cols = np.nonzero(np.triu(scores >= min(min_score, min_score_children), k=1))
    ages = np.array([float(a) if a else np.nan for a in age])
    child = (ages[rows] < 13) | (ages[cols] < 13)
    bar = np.where(child, min_score_children, min_score)
    keep = (
        (scores[rows, cols] >= bar)
        & (sex[rows] == sex[cols])
        & (race[rows] == race[cols])
        & (np.abs(ages[rows] - ages[cols]) <= max_age_gap)
    )
    return {(int(a), int(b)) for a, b in zip(rows[keep], cols[keep], strict=True)}


@dataclass(frozen=True)
class GroupRate:
    group: str
    errors: int
    trials: int
    ci_low: float
    ci_high: float

    @property
    def rate(self) -> float:
        return self.errors / self.trials if self.trials else float("nan")


@dataclass
class Differential:
    """One attribute (e.g. race × sex) at one threshold."""

    attribute: str
    threshold: float
    fmr: list[GroupRate]
    fnmr: list[GroupRate]
    fmr_p_value: float
    fnmr_p_value: float
    sweep: list[tuple[float, float]] = field(default_factory=list)
    non_significant_from: float | None = None
    excluded_pairs: int = 0

    def ratios(self) -> dict[str, float]:
        """Each group's FMR over the lowest non-zero group FMR."""
        rates = [g.rate for g in self.fmr if g.trials and g.errors]
        floor = min(rates) if rates else float("nan")
        return {g.group: (g.rate / floor if g.trials else float("nan")) for g in self.fmr}


def rates(scores_by_group: dict[str, np.ndarray], threshold: float, above_is_error: bool) -> list[GroupRate]:
    out = []
    for group, scores in scores_by_group.items():
        errors = int(np.sum(scores >= threshold)) if above_is_error else int(np.sum(scores < threshold))
        low, high = clopper_pearson(errors, len(scores))
        out.append(GroupRate(group, errors, len(scores), low, high))
    return out


def analyse(
    attribute: str,
    impostors: dict[str, np.ndarray],
    genuines: dict[str, np.ndarray],
    threshold: float,
    excluded_pairs: int = 0,
) -> Differential:
    fmr = rates(impostors, threshold, above_is_error=True)
    fnmr = rates({g: s for g, s in genuines.items() if len(s)}, threshold, above_is_error=False)
    sweep = [
        (float(t), differential_test([(int(np.sum(s >= t)), len(s)) for s in impostors.values()]))
        for t in sweep_grid(threshold)
    ]
    non_significant_from = None
    for t, p in reversed(sweep):
        if p < 0.05:
            break
        non_significant_from = t
    return Differential(
        attribute,
        threshold,
        fmr,
        fnmr,
        differential_test([(g.errors, g.trials) for g in fmr]),
        differential_test([(g.errors, g.trials) for g in fnmr]) if fnmr else 1.0,
        sweep,
        non_significant_from,
        excluded_pairs,
    )


def by_groups(
    templates: np.ndarray,
    groups: np.ndarray,
    identities: np.ndarray | None = None,
    excluded: set[tuple[int, int]] | None = None,
    min_members: int = 20,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Impostor and genuine scores for every group label with enough usable images."""
    usable = templates.any(axis=1)
    impostors, genuines = {}, {}
    for group in sorted(set(groups[usable]) - {""}):
        members = np.flatnonzero((groups == group) & usable)
        if len(members) < min_members:
            continue
        impostors[group] = within_group_pairs(templates, members, identities, False, excluded)
        genuines[group] = within_group_pairs(templates, members, identities, True)
    return impostors, genuines
