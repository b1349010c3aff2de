"""Cluster thresholds: a label-free way to stop some kinds of face from drawing most false alerts.

A model makes some faces look alike more often than others (with buffalo_s, infants and East
Asian faces: see the README's demographic tables). Such faces sit together in template
space. So we cluster a cohort of faces (k-means, no labels), and measure, per cluster, how
often two different people *inside* that cluster score at or above each threshold. When a
cluster's false match rate at the operating threshold is worse than the population's, the
threshold for comparisons that involve that cluster rises until the two agree. It never falls,
so no group gets more false matches than without it. The price is a lower hit rate for watchlist
subjects in the raised clusters, which the evaluation reports.

At run time only the centroids and the counts are used: no demographic label, no cohort face.
The centroids are means of at least ``MIN_CLUSTER`` faces each, not anyone's template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from openlfr.errors import ModelPackError

BUILTIN = Path(__file__).parent / "calibration"
MIN_CLUSTER = 50


@dataclass(frozen=True)
class ClusterThresholds:
    """Centroids, and per cluster and population the false matches counted at each grid threshold."""

    centroids: np.ndarray  # (K, D), unit length
    thresholds: np.ndarray  # (T,) ascending grid
    cluster_false_matches: np.ndarray  # (K, T) within-cluster impostor pairs at or above each threshold
    cluster_pairs: np.ndarray  # (K,)
    population_false_matches: np.ndarray  # (T,) all cohort impostor pairs
    population_pairs: int
    source: str = ""

    def assign(self, templates: np.ndarray) -> np.ndarray:
        """The nearest centroid of each unit-length template."""
        return np.argmax(
            np.asarray(templates, np.float32).reshape(-1, self.centroids.shape[1]) @ self.centroids.T, 1
        )

    def cluster_floors(self, base: float) -> np.ndarray:
        """Per cluster, the lowest grid threshold ≥ ``base`` at which its within-cluster false match
        rate is no worse than the population's at ``base``."""
        column = int(np.searchsorted(self.thresholds, base - 1e-9))
        if column >= len(self.thresholds):
            return np.full(len(self.centroids), base)
        target = self.population_false_matches[column] / self.population_pairs
        rates = self.cluster_false_matches / np.maximum(self.cluster_pairs, 1)[:, None]
        floors = np.full(len(self.centroids), base)
        for k, row in enumerate(rates[:, column:]):
            ok = np.flatnonzero(row <= target)
            if not len(ok) or ok[0] > 0:
                floors[k] = self.thresholds[column + ok[0]] if len(ok) else self.thresholds[-1]
        return np.maximum(floors, base)

    def floors(self, templates: np.ndarray, base: float) -> np.ndarray:
        """The threshold each template needs on its own (the base, or its cluster's raised floor)."""
        return self.cluster_floors(base)[self.assign(templates)]

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "cluster_thresholds",
            "source": self.source,
            "thresholds": self.thresholds.round(3).tolist(),
            "cluster_false_matches": self.cluster_false_matches.astype(int).tolist(),
            "cluster_pairs": self.cluster_pairs.astype(int).tolist(),
            "population_false_matches": self.population_false_matches.astype(int).tolist(),
            "population_pairs": int(self.population_pairs),
            "centroids": self.centroids.round(5).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> ClusterThresholds:
        return cls(
            np.asarray(data["centroids"], np.float32),
            np.asarray(data["thresholds"], np.float64),
            np.asarray(data["cluster_false_matches"], np.int64),
            np.asarray(data["cluster_pairs"], np.int64),
            np.asarray(data["population_false_matches"], np.int64),
            int(data["population_pairs"]),
            data.get("source", ""),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json()))


@lru_cache(maxsize=8)
def load_cluster_thresholds(pack_name: str, folder: Path | None = None) -> ClusterThresholds:
    """The cluster thresholds shipped with openlfr for a built-in pack, or in a user's pack ``folder``
    (only there, as for its calibration)."""
    path = folder / "clusters.json" if folder else BUILTIN / f"{pack_name}.clusters.json"
    if path.is_file():
        return ClusterThresholds.from_json(json.loads(path.read_text()))
    raise ModelPackError(
        f"model pack {pack_name!r} has no cluster thresholds (clusters.json); set live.mitigation = 'none' "
        "or fit them with `openlfr eval study --write-calibration`"
    )
