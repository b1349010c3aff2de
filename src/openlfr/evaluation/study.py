"""The evaluation study on the public sets: verification, identification, demographics, calibration.

Each function embeds what it needs through the encrypted cache and returns plain numbers
(and, for the report, the score arrays behind its plots). Nothing here writes a template
in clear anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openlfr.evaluation import calibrate, demographics
from openlfr.evaluation.datasets import Embedder, read_labels
from openlfr.evaluation.identify import identify
from openlfr.evaluation.lfw import protocol_scores, read_pairs
from openlfr.evaluation.metrics import tar_at_far
from openlfr.evaluation.verification import kfold_accuracy

Progress = Callable[[str, int], Callable[[int], None]]


@dataclass
class StudyResults:
    """Everything a report shows."""

    pack: str
    numbers: dict[str, object] = field(default_factory=dict)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    differentials: list[demographics.Differential] = field(default_factory=list)


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


def lfw_templates(embedder: Embedder, lfw: Path, flip: bool, progress: Progress):  # type: ignore[no-untyped-def]
    labelled = read_labels(lfw / "labels.csv", "lfw")
    embedded = embedder.embed("lfw", labelled.paths, progress("embedding LFW", len(labelled.paths)))
    return labelled, embedded.templates(flip)


def identify_lfw(
    embedder: Embedder, lfw: Path, flip: bool, threshold: float, results: StudyResults, progress: Progress
) -> np.ndarray:
    labelled, templates = lfw_templates(embedder, lfw, flip, progress)
    identities = labelled.column("identity")
    result = identify(templates, identities, threshold)
    from openlfr.evaluation.identify import split_gallery

    gallery, _ = split_gallery(identities, templates.any(axis=1))
    results.numbers["_cohort"] = templates[gallery]  # the LFW gallery doubles as the s-norm cohort
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
    embedder: Embedder, utk: Path, flip: bool, threshold: float, results: StudyResults, progress: Progress
) -> None:
    labelled = read_labels(utk / "labels.csv", "utkface")
    templates = embedder.embed(
        "utkface", labelled.paths, progress("embedding UTKFace", len(labelled.paths))
    ).templates(flip)
    sex, race, age = labelled.column("sex"), labelled.column("race"), labelled.column("age")
    duplicates = demographics.likely_duplicates(templates, sex, race, age)
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
    from openlfr.evaluation import mitigation

    usable = np.flatnonzero(templates.any(axis=1))
    local = np.random.default_rng(5).choice(usable, min(1000, len(usable)), replace=False)
    cohorts = {"local population cohort (1,000 UTKFace faces)": templates[local]}
    lfw_cohort = results.numbers.pop("_cohort", None)
    if lfw_cohort is not None:
        cohorts["LFW gallery cohort (adults, mostly white)"] = lfw_cohort
    analysed = {
        "race × sex": crossings["UTKFace race × sex"],
        "race × sex, adults 20+": crossings["UTKFace race × sex, adults 20+"],
        "age band": crossings["UTKFace age band"],
    }
    for cohort_name, cohort in cohorts.items():
        for name, groups in analysed.items():
            m = mitigation.compare_groups(f"UTKFace {name}", templates, groups, cohort, threshold, duplicates)
            results.numbers.setdefault("mitigation_snorm", {})[f"{m.attribute}, {cohort_name}"] = {
                "raw_threshold": m.raw_threshold,
                "normalised_threshold": m.normalised_threshold,
                "raw_fmr": m.raw_fmr,
                "normalised_fmr": m.normalised_fmr,
                "raw_spread_max_over_min": m.spread(m.raw_fmr),
                "normalised_spread_max_over_min": m.spread(m.normalised_fmr),
            }
    results.curves["utkface impostors"] = (
        np.zeros(0),
        np.concatenate(list(demographics.by_groups(templates, race)[0].values())),
    )


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
