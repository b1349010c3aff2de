"""LFW's View 2 protocol: 6,000 pairs in 10 folds from the official ``pairs.txt``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openlfr.errors import DatasetError
from openlfr.evaluation.embeddings import embed_images
from openlfr.evaluation.verification import KFoldResult, kfold_accuracy
from openlfr.vision import FaceAnalyzer


@dataclass(frozen=True)
class PairList:
    """Pairs as parallel arrays of indices into ``paths``."""

    paths: list[Path]
    first: np.ndarray
    second: np.ndarray
    same: np.ndarray
    folds: np.ndarray

    def __len__(self) -> int:
        return len(self.same)


def lfw_image_path(root: Path, name: str, number: int) -> Path:
    return root / "images" / name / f"{name}_{number:04d}.jpg"


def read_pairs(pairs_file: Path, image_root: Path | None = None) -> PairList:
    """Parse a pairs file in LFW's format.

    Header ``folds pairs_per_class``, then per fold that many genuine lines
    (``name n1 n2``) followed by as many impostor lines (``name1 n1 name2 n2``).
    """
    if not pairs_file.is_file():
        raise DatasetError(f"{pairs_file}: pairs file not found")
    root = image_root or pairs_file.parent
    lines = [line.split() for line in pairs_file.read_text().splitlines() if line.strip()]
    try:
        n_folds, per_class = int(lines[0][0]), int(lines[0][1])
    except (IndexError, ValueError):
        raise DatasetError(f"{pairs_file}: first line must be '<folds> <pairs per class>'") from None
    body = lines[1:]
    if len(body) != n_folds * per_class * 2:
        raise DatasetError(f"{pairs_file}: expected {n_folds * per_class * 2} pair lines, found {len(body)}")
    index: dict[Path, int] = {}

    def image(name: str, number: str) -> int:
        path = lfw_image_path(root, name, int(number))
        return index.setdefault(path, len(index))

    first, second, same, folds = [], [], [], []
    for row_number, fields in enumerate(body):
        try:
            if len(fields) == 3:
                a, b, is_same = image(fields[0], fields[1]), image(fields[0], fields[2]), True
            elif len(fields) == 4:
                a, b, is_same = image(fields[0], fields[1]), image(fields[2], fields[3]), False
            else:
                raise ValueError
        except ValueError:
            raise DatasetError(
                f"{pairs_file}: line {row_number + 2} is not a pair: {' '.join(fields)}"
            ) from None
        first.append(a)
        second.append(b)
        same.append(is_same)
        folds.append(row_number // (per_class * 2))
    return PairList(list(index), np.array(first), np.array(second), np.array(same), np.array(folds))


def pair_scores(templates: np.ndarray, pairs: PairList) -> np.ndarray:
    """Cosine similarity of each pair (templates are unit length)."""
    return np.einsum("ij,ij->i", templates[pairs.first], templates[pairs.second])


def protocol_scores(templates: np.ndarray, pairs: PairList) -> np.ndarray:
    """Pair scores where a pair with a missing face scores -1, so it counts as a wrong answer."""
    scores = pair_scores(templates, pairs)
    lost = ~templates[pairs.first].any(axis=1) | ~templates[pairs.second].any(axis=1)
    scores[lost] = -1.0
    return scores


@dataclass(frozen=True)
class LFWResult:
    """10-fold results for plain and mirror-fused templates from one embedding pass."""

    plain: KFoldResult
    flip: KFoldResult
    at_threshold: float
    threshold: float
    images: int
    retried: int
    missing: int


def evaluate_lfw(
    analyzer: FaceAnalyzer,
    lfw_dir: Path,
    pairs_file: Path | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> LFWResult:
    """Run the 10-fold protocol; a pair with a missing face counts as a wrong answer (score -1)."""
    pairs = read_pairs(pairs_file or lfw_dir / "pairs.txt", lfw_dir)
    if on_start:
        on_start(len(pairs.paths))
    embedded = embed_images(analyzer, pairs.paths, progress)
    results, at_threshold = {}, 0.0
    threshold = analyzer.settings.recognition.verify_threshold
    for flip in (False, True):
        scores = protocol_scores(embedded.templates(flip), pairs)
        results[flip] = kfold_accuracy(scores, pairs.same, pairs.folds)
        if flip == analyzer.settings.recognition.flip_fusion:
            at_threshold = float(np.mean((scores >= threshold) == pairs.same))
    return LFWResult(
        results[False],
        results[True],
        at_threshold,
        threshold,
        len(pairs.paths),
        embedded.retried,
        len(embedded.missing),
    )
