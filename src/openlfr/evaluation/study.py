"""The evaluation study on the public sets: verification, identification, demographics, calibration.

Each function embeds what it needs through the encrypted cache and returns plain numbers
(and, for the report, the score arrays behind its plots). Nothing here writes a template
in clear anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openlfr.evaluation import calibrate, demographics, mitigation
from openlfr.evaluation.datasets import Embedder, read_labels
from openlfr.evaluation.identify import identify, split_gallery
from openlfr.evaluation.lfw import protocol_scores, read_pairs
from openlfr.evaluation.metrics import open_set_from_scores, tar_at_far
from openlfr.evaluation.verification import kfold_accuracy
from openlfr.models.cluster_thresholds import ClusterThresholds

Progress = Callable[[str, int], Callable[[int], None]]
PARTS = ("verify", "identify", "demographics", "calibrate")


@dataclass
class StudyResults:
    """Everything a report shows."""

    pack: str
    numbers: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    differentials: list[demographics.Differential] = field(default_factory=list)
    lfw_impostor: np.ndarray | None = None  # LFW cross-identity scores, for matching other packs
    utk_duplicates: set[tuple[int, int]] | None = None  # likely duplicate UTKFace image pairs


def verify_lfw(embedder: Embedder, lfw: Path, flip: bool, results: StudyResults, progress: Progress) -> None:
    pairs = read_pairs(lfw / "pairs.txt", lfw)
    embedded = embedder.embed("lfw", pairs.paths, progress("embedding LFW", len(pairs.paths)))
    scores = protocol_scores(embedded.templates(flip), pairs)
    fold = kfold_accuracy(scores, pairs.same, pairs.folds)
    genuine, impostor = scores[pairs.same], scores[~pairs.same]
    results.curves["lfw pairs"] = (genuine, impostor)
    results.numbers["lfw_verification"] = {
        "accuracy_mean": fold.mean,
        "accuracy_std": fold.std,
        "mean_threshold": float(fold.thresholds.mean()),
        "flip_fusion": flip,
        **{f"tar_at_far_{far:g}": tar_at_far(genuine, impostor, far)[0] for far in (1e-2, 1e-3)},
        "note": "TAR at FAR 1e-3 on 3,000 impostor pairs rests on 3 pairs: read it as indicative",
    }


def lfw_templates(embedder: Embedder, lfw: Path, flip: bool, progress: Progress):
    labelled = read_labels(lfw / "labels.csv", "lfw")
    embedded = embedder.embed("lfw", labelled.paths, progress("embedding LFW", len(labelled.paths)))
    return labelled, embedded.templates(flip)


def identify_lfw(
    embedder: Embedder, lfw: Path, flip: bool, threshold: float, results: StudyResults, progress: Progress
) -> np.ndarray:
    labelled, templates = lfw_templates(embedder, lfw, flip, progress)
    identities = labelled.column("identity")
    result = identify(templates, identities, threshold)
    results.numbers["lfw_identification"] = result.summary() | {"fpir_by_watchlist_size": result.fpir_by_size}
    s = result.scores
    thresholds = np.linspace(0.1, 0.8, 141)
    results.curves["tpir/fpir"] = (
        np.array([s.fpir(t) for t in thresholds]),
        np.array([s.tpir(t) for t in thresholds]),
    )
    return templates


def lfw_impostor_scores(
    templates: np.ndarray, identities: np.ndarray, limit: int = 4000, seed: int = 1
) -> np.ndarray:
    """All cross-identity pairs among up to ``limit`` usable images (about 8 million pairs)."""
    usable = np.flatnonzero(templates.any(axis=1))
    chosen = np.random.default_rng(seed).choice(usable, min(limit, len(usable)), replace=False)
    block = templates[chosen] @ templates[chosen].T
    ids = identities[chosen]
    mask = np.triu(np.ones(block.shape, bool), 1) & (ids[:, None] != ids[None, :])
    return block[mask]


def demographics_lfw(
    embedder: Embedder, lfw: Path, flip: bool, threshold: float, results: StudyResults, progress: Progress
) -> None:
    labelled, templates = lfw_templates(embedder, lfw, flip, progress)
    impostors, genuines = demographics.by_groups(
        templates, labelled.column("sex"), labelled.column("identity")
    )
    results.differentials.append(demographics.analyse("LFW sex", impostors, genuines, threshold))


def demographics_utkface(
    embedder: Embedder,
    utk: Path,
    flip: bool,
    threshold: float,
    results: StudyResults,
    progress: Progress,
    duplicates: set[tuple[int, int]] | None = None,
) -> None:
    labelled = read_labels(utk / "labels.csv", "utkface")
    templates = embedder.embed(
        "utkface", labelled.paths, progress("embedding UTKFace", len(labelled.paths))
    ).templates(flip)
    sex, race, age = labelled.column("sex"), labelled.column("race"), labelled.column("age")
    if duplicates is None:  # the first pack finds them; later packs reuse its list (a property of the data)
        duplicates = demographics.likely_duplicates(templates, sex, race, age)
    results.utk_duplicates = duplicates
    results.numbers["utkface_likely_duplicate_pairs"] = len(duplicates)
    adult = np.array([demographics.age_band(a) not in ("0-12", "13-19", "") for a in age])
    race_sex = np.array([f"{r} {s}" for r, s in zip(race, sex, strict=True)])
    crossings = {
        "UTKFace race × sex": race_sex,
        "UTKFace race × sex, adults 20+": np.where(adult, race_sex, ""),
        "UTKFace race": race,
        "UTKFace sex": sex,
        "UTKFace age band": np.array([demographics.age_band(a) for a in age]),
    }
    for name, groups in crossings.items():
        for exclude in (False, True):
            impostors, genuines = demographics.by_groups(
                templates, groups, None, duplicates if exclude else None
            )
            excluded = len(duplicates) if exclude else 0
            label = f"{name} ({'duplicates excluded' if exclude else 'all pairs'})"
            results.differentials.append(
                demographics.analyse(label, impostors, genuines, threshold, excluded)
            )
    snorm_local_cohort(templates, crossings, threshold, duplicates, results)
    results.curves["utkface impostors"] = (
        np.zeros(0),
        np.concatenate(list(demographics.by_groups(templates, race)[0].values())),
    )


def snorm_local_cohort(
    templates: np.ndarray,
    crossings: dict[str, np.ndarray],
    threshold: float,
    duplicates: set[tuple[int, int]],
    results: StudyResults,
) -> None:
    """S-norm with a local-population cohort, kept as the measured comparison for cluster thresholds."""
    usable = np.flatnonzero(templates.any(axis=1))
    cohort = templates[np.random.default_rng(5).choice(usable, min(1000, len(usable)), replace=False)]
    for name in ("UTKFace race × sex", "UTKFace race × sex, adults 20+", "UTKFace age band"):
        m = mitigation.compare_groups(name, templates, crossings[name], cohort, threshold, duplicates)
        results.numbers.setdefault("mitigation_snorm_local_cohort", {})[name] = {
            "raw_threshold": m.raw_threshold,
            "normalised_threshold": m.normalised_threshold,
            "raw_fmr": m.raw_fmr,
            "normalised_fmr": m.normalised_fmr,
            "raw_spread_max_over_min": m.spread(m.raw_fmr),
            "normalised_spread_max_over_min": m.spread(m.normalised_fmr),
        }


def cluster_threshold_study(
    embedder: Embedder,
    data: Path,
    flip: bool,
    threshold: float,
    results: StudyResults,
    progress: Progress,
    write_to: Path | None = None,
) -> ClusterThresholds:
    """Fit cluster thresholds on one half of UTKFace, measure them on the other half and on LFW.

    The halves are split by image (UTKFace has no identities), so a repeated person may sit in
    both; the likely-duplicate rule removes such pairs from the measured half as elsewhere.
    """
    labelled = read_labels(data / "utkface" / "labels.csv", "utkface")
    templates = embedder.embed(
        "utkface", labelled.paths, progress("embedding UTKFace", len(labelled.paths))
    ).templates(flip)
    usable = np.flatnonzero(templates.any(axis=1))
    shuffled = np.random.default_rng(0).permutation(usable)
    fit = np.sort(shuffled[: len(usable) // 2])
    clusters = mitigation.fit_cluster_thresholds(
        templates[fit], source=f"{len(fit)} UTKFace faces (half, seed 0), pack {results.pack}"
    )
    if write_to is not None:
        clusters.save(write_to)
    sex, race, age = labelled.column("sex"), labelled.column("race"), labelled.column("age")
    duplicates = results.utk_duplicates  # found by the demographics step, on the same templates
    if duplicates is None:
        duplicates = demographics.likely_duplicates(templates, sex, race, age)
    measured = templates.copy()
    measured[fit] = 0  # only the held-out half is measured
    race_sex = np.array([f"{r} {s}" for r, s in zip(race, sex, strict=True)])
    adult = np.array([demographics.age_band(a) not in ("0-12", "13-19", "") for a in age])
    crossings = {
        "UTKFace race × sex": race_sex,
        "UTKFace race × sex, adults 20+": np.where(adult, race_sex, ""),
        "UTKFace age band": np.array([demographics.age_band(a) for a in age]),
    }
    out: dict[str, object] = {
        "clusters": len(clusters.centroids),
        "fitted_on": clusters.source,
        "raised_cluster_floors": sorted(
            round(float(f), 2) for f in clusters.cluster_floors(threshold) if f > threshold
        ),
    }
    for name, groups in crossings.items():
        r = mitigation.compare_cluster_thresholds(name, clusters, measured, groups, threshold, duplicates)
        out[f"{name} (held-out half, duplicates excluded)"] = {
            "raw_fmr": r.raw_fmr,
            "mitigated_fmr": r.mitigated_fmr,
            "share_of_faces_raised": r.raised_share,
            "raw_spread_max_over_min": r.spread(r.raw_fmr),
            "mitigated_spread_max_over_min": r.spread(r.mitigated_fmr),
            "groups_made_worse": [g for g in r.raw_fmr if r.mitigated_fmr[g] > r.raw_fmr[g]],
        }
    lfw_labels, lfw = lfw_templates(embedder, data / "lfw", flip, progress)
    identities = lfw_labels.column("identity")
    out["lfw_identification"] = identification_with_clusters(lfw, identities, clusters, threshold)
    r = mitigation.compare_cluster_thresholds(
        "LFW sex", clusters, lfw, lfw_labels.column("sex"), threshold, identities=identities
    )
    out["LFW sex"] = {
        "raw_fmr": r.raw_fmr,
        "mitigated_fmr": r.mitigated_fmr,
        "raw_fnmr": r.raw_fnmr,
        "mitigated_fnmr": r.mitigated_fnmr,
        "share_of_faces_raised": r.raised_share,
    }
    results.numbers["mitigation_cluster_thresholds"] = out
    return clusters


def identification_with_clusters(
    templates: np.ndarray, identities: np.ndarray, clusters: ClusterThresholds, threshold: float
) -> dict[str, float]:
    """TPIR and FPIR at ``threshold`` on LFW, without and with the raised thresholds."""
    gallery, probes = split_gallery(identities, np.asarray(templates.any(axis=1)))
    scores = templates[probes] @ templates[gallery].T
    floors = clusters.floors(templates, threshold)
    raised = mitigation.raised_scores(scores, floors[probes], floors[gallery], threshold)
    raw = open_set_from_scores(scores, identities[probes], identities[gallery])
    mitigated = open_set_from_scores(raised, identities[probes], identities[gallery])
    return {
        "tpir_raw": raw.tpir(threshold),
        "tpir_mitigated": mitigated.tpir(threshold),
        "fpir_raw": raw.fpir(threshold),
        "fpir_mitigated": mitigated.fpir(threshold),
        "share_of_lfw_faces_raised": float(np.mean(floors[templates.any(axis=1)] > threshold)),
    }


def calibrate_watchlists(impostor: np.ndarray, results: StudyResults, write_to: Path | None = None) -> None:
    thresholds = np.round(np.arange(0.30, 0.66, 0.05), 2)
    table = calibrate.calibration_table(impostor, thresholds)
    results.numbers["calibration"] = {
        "impostor_pairs": len(impostor),
        "rows": [
            {
                "threshold": row.threshold,
                "fmr": row.fmr,
                "resolved": row.resolved,
                **{f"passers_by_per_false_alert_N{n}": v for n, v in row.passers_by_per_false_alert.items()},
            }
            for row in table
        ],
        "threshold_for_1_in_6000_at_N10000": calibrate.threshold_for_rate(impostor, 10_000, 1 / 6000),
        "threshold_for_1_in_1000_at_N1000": calibrate.threshold_for_rate(impostor, 1000, 1 / 1000),
    }
    if write_to is not None:
        import json

        curve = calibrate.fmr_curve(impostor, np.round(np.arange(0.20, 0.801, 0.01), 2))
        curve["source"] = f"LFW cross-identity pairs, pack {results.pack}"
        write_to.parent.mkdir(parents=True, exist_ok=True)
        write_to.write_text(json.dumps(curve, indent=1))


def operating_threshold_for(
    embedder: Embedder, data: Path, flip: bool, reference: StudyResults, progress: Progress
) -> float:
    """The threshold at which this pack makes as many false matches on LFW cross-identity pairs as
    the reference pack at its threshold: packs are compared at equal false match rate, as NIST
    compares algorithms, not at equal cosine."""
    if reference.lfw_impostor is None:
        raise ValueError("comparing packs needs the reference pack's identify or calibrate part")
    labelled, templates = lfw_templates(embedder, data / "lfw", flip, progress)
    impostor = lfw_impostor_scores(templates, labelled.column("identity"))
    return matching_threshold(reference.lfw_impostor, reference.numbers["operating_threshold"], impostor)


def matching_threshold(reference: np.ndarray, threshold: float, other: np.ndarray) -> float:
    """Quantile matching: place the threshold between the same two order statistics of ``other``'s
    impostor scores, at the same fraction of the gap, as ``threshold`` sits in ``reference``'s
    (so a copy of a pack gets exactly the same threshold, however sparse the tail)."""
    ref, oth = np.sort(reference)[::-1], np.sort(other)[::-1]
    k = int(np.sum(ref >= threshold))  # reference false matches at its threshold
    if k == 0:
        return float(oth[0] + (threshold - ref[0]))
    if k >= min(len(ref), len(oth)):
        return float(oth[-1])
    high, low = ref[k - 1], ref[k]
    fraction = (threshold - low) / (high - low) if high > low else 0.0
    return float(oth[k] + fraction * (oth[k - 1] - oth[k]))


def run_study(
    embedder: Embedder,
    data: Path,
    parts: set[str],
    flip: bool,
    threshold: float,
    progress: Progress,
    *,
    fit_clusters: bool = False,
    duplicates: set[tuple[int, int]] | None = None,
    write_calibration: Path | None = None,
) -> StudyResults:
    """Every requested part of the study for one model pack."""
    results = StudyResults(pack=embedder.pack)
    results.numbers["operating_threshold"] = threshold
    lfw, utk = data / "lfw", data / "utkface"
    if "verify" in parts:
        verify_lfw(embedder, lfw, flip, results, progress)
    if parts & {"identify", "calibrate"}:
        templates = identify_lfw(embedder, lfw, flip, threshold, results, progress)
        impostor = lfw_impostor_scores(templates, read_labels(lfw / "labels.csv").column("identity"))
        results.numbers["lfw_fmr_at_operating_threshold"] = float(np.mean(impostor >= threshold))
        results.lfw_impostor = impostor
        if "calibrate" in parts:
            calibrate_watchlists(impostor, results, write_calibration)
    if "demographics" in parts:
        demographics_lfw(embedder, lfw, flip, threshold, results, progress)
        demographics_utkface(embedder, utk, flip, threshold, results, progress, duplicates)
        if fit_clusters:
            clusters_to = (
                write_calibration.with_name(f"{write_calibration.stem}.clusters.json")
                if write_calibration
                else None
            )
            cluster_threshold_study(embedder, data, flip, threshold, results, progress, clusters_to)
    return results
