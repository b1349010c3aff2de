"""Cross-matching two registers (missing against found): every pair at or above a threshold.

The full score matrix of two 100,000-image registers would need 40 GB, so it is computed in
blocks that fit memory; only pairs above the threshold leave a block. The result is a
candidate list for people to review, best first, never a decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class CandidatePairs:
    """Indices into the two registers and their scores, best first."""

    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def crossmatch(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    block: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> CandidatePairs:
    """All (i, j) with a[i] · b[j] ≥ ``threshold`` for unit-length templates; rows of zeros (no
    face) score 0 and so never match a positive threshold. Memory: two blocks of templates and
    one ``block × block`` score tile.

    Each tile is written into one buffer allocated once (a fresh 64 MB tile per product cost
    a fifth more, in page faults), and only the rows whose best score reaches the threshold
    are searched for pairs: ``np.nonzero`` over a whole 4096 × 4096 tile took 35 ms where its
    product took 85, a row maximum 6 ms.
    """
    a = np.ascontiguousarray(a, np.float32)
    b = np.ascontiguousarray(b, np.float32)
    buffer = np.empty(min(block, len(a)) * min(block, len(b)), np.float32)
    found_a, found_b, found_s = [], [], []
    for start_a in range(0, len(a), block):
        tile_a = a[start_a : start_a + block]
        for start_b in range(0, len(b), block):
            tile_b = b[start_b : start_b + block]
            scores = buffer[: len(tile_a) * len(tile_b)].reshape(len(tile_a), len(tile_b))
            np.matmul(tile_a, tile_b.T, out=scores)
            # fmax: a NaN score (a broken template) must not hide the rest of its row
            candidates = np.flatnonzero(np.fmax.reduce(scores, axis=1) >= threshold)
            rows, cols = np.nonzero(scores[candidates] >= threshold)
            found_a.append(candidates[rows] + start_a)
            found_b.append(cols + start_b)
            found_s.append(scores[candidates[rows], cols])
        if progress:
            progress(len(tile_a))
    if not found_s:
        return CandidatePairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    scores = np.concatenate(found_s)
    order = np.argsort(-scores, kind="stable")
    return CandidatePairs(np.concatenate(found_a)[order], np.concatenate(found_b)[order], scores[order])


def read_register(location: Path) -> list[Path]:
    """A register is a folder of images (searched recursively) or a CSV file with a ``path`` column."""
    from openlfr.errors import DatasetError
    from openlfr.watchlist.folder import IMAGE_SUFFIXES

    if location.is_dir():
        return sorted(p for p in location.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if location.suffix.lower() == ".csv" and location.is_file():
        from openlfr.evaluation.datasets import read_labels

        return read_labels(location).paths
    raise DatasetError(f"{location}: a register is a folder of images or a CSV file with a 'path' column")
