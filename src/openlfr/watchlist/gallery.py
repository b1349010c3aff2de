"""An open-set gallery: enrolled templates as one normalised matrix, searched by one product.

Biometric: the templates and reference crops held here are watchlist data. They live in
memory; at rest they belong in the encrypted store.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """One watchlist subject and how well a probe matched the subject's best template."""

    subject: str
    score: float


@dataclass(frozen=True)
class _Contents:
    """One consistent state of a gallery: replaced whole on every change, never edited in place."""

    subjects: tuple[str, ...] = ()
    blocks: tuple[np.ndarray, ...] = ()

    @cached_property
    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """All templates as one matrix, and the row where each subject's templates start."""
        sizes = [len(block) for block in self.blocks]
        dimension = self.blocks[0].shape[1] if self.blocks else 0
        matrix = np.concatenate(self.blocks) if self.blocks else np.zeros((0, dimension), np.float32)
        starts = (
            np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0, np.int64)
        )
        return matrix, starts


class Gallery:
    """Subjects with one or more unit-length templates each; a subject scores its best template.

    A change (a subject added or removed while cameras run) replaces the gallery's contents in
    one assignment, so a search running at the same moment sees the gallery wholly before or
    wholly after it, never subjects and templates out of step."""

    def __init__(self, dimension: int = 512) -> None:
        self.dimension = dimension
        self._contents = _Contents()
        self.references: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._contents.subjects)

    @property
    def subjects(self) -> list[str]:
        return list(self._contents.subjects)

    @property
    def template_count(self) -> int:
        return sum(len(block) for block in self._contents.blocks)

    def add(self, subject: str, templates: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Enrol a subject (or add templates to one already enrolled)."""
        templates = np.asarray(templates, np.float32).reshape(-1, self.dimension)
        if len(templates) == 0:
            raise ValueError("no templates to add")
        subjects, blocks = list(self._contents.subjects), list(self._contents.blocks)
        if subject in subjects:
            index = subjects.index(subject)
            blocks[index] = np.concatenate([blocks[index], templates])
        else:
            subjects.append(subject)
            blocks.append(templates)
        if reference is not None:
            self.references.setdefault(subject, reference)
        self._contents = _Contents(tuple(subjects), tuple(blocks))

    def templates_of(self, subject: str) -> np.ndarray:
        contents = self._contents
        return contents.blocks[contents.subjects.index(subject)]

    def templates_only(self) -> Gallery:
        """A copy without reference images: all a remote camera needs to match."""
        copy = Gallery(self.dimension)
        copy._contents = self._contents
        return copy

    def remove(self, subject: str) -> None:
        contents = self._contents
        index = contents.subjects.index(subject)
        self._contents = _Contents(
            contents.subjects[:index] + contents.subjects[index + 1 :],
            contents.blocks[:index] + contents.blocks[index + 1 :],
        )
        self.references.pop(subject, None)

    def subject_scores(self, queries: np.ndarray) -> np.ndarray:
        """(Q, S) cosine similarity of each query with each subject's best template."""
        return self._scores(self._contents, queries)

    def _scores(self, contents: _Contents, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.float32).reshape(-1, self.dimension)
        if not contents.subjects:
            return np.zeros((len(queries), 0), np.float32)
        matrix, starts = contents.packed
        return np.maximum.reduceat(queries @ matrix.T, starts, axis=1)

    def search(self, queries: np.ndarray, k: int = 5) -> list[list[Candidate]]:
        """The top ``k`` subjects for each query, best first."""
        contents = self._contents  # one state for the scores and the names
        scores = self._scores(contents, queries)
        k = min(k, scores.shape[1])
        if k == 0:
            return [[] for _ in range(len(scores))]
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        results = []
        for row, candidates in zip(scores, top, strict=True):
            ordered = candidates[np.argsort(-row[candidates])]
            results.append([Candidate(contents.subjects[i], float(row[i])) for i in ordered])
        return results
