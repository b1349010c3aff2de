"""The alert threshold for one probe against one watchlist subject.

Without mitigation it is ``live.alert_threshold`` for everyone. With ``live.mitigation =
"cluster_thresholds"`` it rises for probes or subjects whose faces fall in clusters the model
confuses more often (see ``openlfr.models.cluster_thresholds``); it never falls.
"""

from __future__ import annotations

import numpy as np

from openlfr.models.cluster_thresholds import ClusterThresholds
from openlfr.watchlist import Gallery


class AlertThresholds:
    """Per-match thresholds; subject floors are cached until the subject's templates change."""

    def __init__(self, base: float, gallery: Gallery, clusters: ClusterThresholds | None = None) -> None:
        self.base = base
        self.gallery = gallery
        self.clusters = clusters
        self._floors = clusters.cluster_floors(base) if clusters is not None else None
        self._subjects: dict[str, tuple[int, float]] = {}

    def for_match(self, probe: np.ndarray, subject: str) -> float:
        if self.clusters is None or self._floors is None:
            return self.base
        probe_floor = float(self._floors[self.clusters.assign(probe)[0]])
        return max(self.base, probe_floor, self._subject_floor(subject))

    def _subject_floor(self, subject: str) -> float:
        assert self.clusters is not None and self._floors is not None
        templates = self.gallery.templates_of(subject)
        cached = self._subjects.get(subject)
        if cached is None or cached[0] != len(templates):
            cached = (len(templates), float(self._floors[self.clusters.assign(templates)].max()))
            self._subjects[subject] = cached
        return cached[1]
