"""Open-set 1:N identification on a labelled set, as NIST's FRVT 1:N and NPL's police trials measure it.

Gallery: the first image of every subject with at least two images. Mated probes: their
other images. Non-mated probes: subjects with a single image, who are on no watchlist.
FPIR's growth with watchlist size is measured on random sub-galleries and extrapolated
from the per-comparison false match rate: FPIR(N) ≈ 1 − (1 − FMR)^N.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from openlfr.evaluation.metrics import OpenSetScores, open_set_scores


@dataclass(frozen=True)
class IdentificationResult:
    gallery_size: int
    mated_probes: int
    nonmated_probes: int
    scores: OpenSetScores
    fpir_by_size: dict[int, float]
    threshold: float

    def summary(self) -> dict[str, float]:
        s = self.scores
        at_003 = s.threshold_at_fpir(0.003)
        out = {
            "gallery_size": self.gallery_size,
            "mated_probes": self.mated_probes,
            "nonmated_probes": self.nonmated_probes,
            "rank1": s.rank_rate(1),
            "rank5": s.rank_rate(5),
            "fnir_at_fpir_0.003": 1 - s.tpir(at_003),
            "threshold_at_fpir_0.003": at_003,
            f"tpir_at_threshold_{self.threshold:.2f}": s.tpir(self.threshold),
            f"fpir_at_threshold_{self.threshold:.2f}": s.fpir(self.threshold),
        }
        for target in (1e-2, 1e-3):
            t = s.threshold_at_fpir(target)
            out[f"tpir_at_fpir_{target:g}"] = s.tpir(t)
            out[f"threshold_at_fpir_{target:g}"] = t
        return out


def split_gallery(subjects: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of gallery images (first image of multi-image subjects) and of probes (all others)."""
    by_subject: dict[str, list[int]] = defaultdict(list)
    for index in np.flatnonzero(usable):
        by_subject[subjects[index]].append(int(index))
    gallery = [images[0] for images in by_subject.values() if len(images) >= 2]
    probes = sorted(set(np.flatnonzero(usable)) - set(gallery))
    return np.array(gallery, np.int64), np.array(probes, np.int64)


def identify(
    templates: np.ndarray, subjects: np.ndarray, threshold: float, seed: int = 0
) -> IdentificationResult:
    usable = np.asarray(templates.any(axis=1))
    gallery, probes = split_gallery(subjects, usable)
    scores = open_set_scores(templates[probes], subjects[probes], templates[gallery], subjects[gallery])
    rng = np.random.default_rng(seed)
    nonmated = probes[~np.isin(subjects[probes], subjects[gallery])]
    fpir_by_size = {}
    for size in (10, 100, 1000, len(gallery)):
        if size > len(gallery):
            continue
        chosen = rng.choice(gallery, size, replace=False)
        top = (templates[nonmated] @ templates[chosen].T).max(axis=1)
        fpir_by_size[int(size)] = float(np.mean(top >= threshold))
    return IdentificationResult(
        len(gallery),
        int(np.isin(subjects[probes], subjects[gallery]).sum()),
        len(nonmated),
        scores,
        fpir_by_size,
        threshold,
    )
