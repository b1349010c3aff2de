"""An open-set gallery: enrolled templates as one normalised matrix, searched by one product.

Biometric: the templates and reference crops held here are watchlist data. They live in
memory; at rest they belong in the encrypted store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """One watchlist subject and how well a probe matched the subject's best template."""

    subject: str
    score: float


class Gallery:
    """Subjects with one or more unit-length templates each; a subject scores its best template."""

    def __init__(self, dimension: int = 512) -> None:
        self.dimension = dimension
        self.subjects: list[str] = []
        self._blocks: list[np.ndarray] = []
        self.references: dict[str, np.ndarray] = {}
        self._matrix: np.ndarray | None = None
        self._starts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.subjects)

    @property
    def template_count(self) -> int:
        return sum(len(block) for block in self._blocks)

    def add(self, subject: str, templates: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Enrol a subject (or add templates to one already enrolled)."""
        templates = np.asarray(templates, np.float32).reshape(-1, self.dimension)
        if len(templates) == 0:
            raise ValueError(f"{subject}: no templates to enrol")
        if subject in self.subjects:
            index = self.subjects.index(subject)
            self._blocks[index] = np.concatenate([self._blocks[index], templates])
        else:
            self.subjects.append(subject)
            self._blocks.append(templates)
        if reference is not None:
            self.references.setdefault(subject, reference)
        self._matrix = None

    def templates_of(self, subject: str) -> np.ndarray:
        return self._blocks[self.subjects.index(subject)]

    def templates_only(self) -> Gallery:
        """A copy without reference images: all a remote camera needs to match."""
        copy = Gallery(self.dimension)
        for subject, block in zip(self.subjects, self._blocks, strict=True):
            copy.add(subject, block)
        return copy

    def remove(self, subject: str) -> None:
        index = self.subjects.index(subject)
        del self.subjects[index], self._blocks[index]
        self.references.pop(subject, None)
        self._matrix = None

    def _packed(self) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None:
            sizes = [len(block) for block in self._blocks]
            self._matrix = (
                np.concatenate(self._blocks) if self._blocks else np.zeros((0, self.dimension), np.float32)
            )
            self._starts = (
                np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
                if sizes
                else np.zeros(0, np.int64)
            )
        assert self._starts is not None
        return self._matrix, self._starts

    def subject_scores(self, queries: np.ndarray) -> np.ndarray:
        """(Q, S) cosine similarity of each query with each subject's best template."""
        matrix, starts = self._packed()
        queries = np.asarray(queries, np.float32).reshape(-1, self.dimension)
        if len(self.subjects) == 0:
            return np.zeros((len(queries), 0), np.float32)
        return np.maximum.reduceat(queries @ matrix.T, starts, axis=1)

    def search(self, queries: np.ndarray, k: int = 5) -> list[list[Candidate]]:
        """The top ``k`` subjects for each query, best first."""
        scores = self.subject_scores(queries)
        k = min(k, scores.shape[1])
        if k == 0:
            return [[] for _ in range(len(scores))]
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        results = []
        for row, candidates in zip(scores, top, strict=True):
            ordered = candidates[np.argsort(-row[candidates])]
            results.append([Candidate(self.subjects[i], float(row[i])) for i in ordered])
        return results
