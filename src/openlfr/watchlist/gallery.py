"""An open-set gallery: enrolled templates as one normalised matrix, searched by one product.

Biometric: the templates and reference crops held here are watchlist data. They live in
memory; at rest they belong in the encrypted store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """One watchlist subject and how well a probe matched the subject's best template."""

    subject: str
    score: float


@dataclass(frozen=True, eq=False)
class _Contents:
    """One consistent state of a gallery, replaced whole on every change. Successive states share
    their lists and only ever append to them, each reading its first ``size`` entries, so that
    enrolling ``n`` subjects one by one costs time in proportion to ``n``, not ``n²``."""

    subjects: list[str] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    size: int = 0

    def position(self, subject: str) -> int | None:
        index = self.positions.get(subject)
        return index if index is not None and index < self.size else None

    def copy(self, without: int | None = None) -> _Contents:
        """Lists of this state's own (leaving out the subject at ``without``)."""
        keep = [i for i in range(self.size) if i != without]
        subjects = [self.subjects[i] for i in keep]
        return _Contents(
            subjects, [self.blocks[i] for i in keep], {s: i for i, s in enumerate(subjects)}, len(keep)
        )

    @cached_property
    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        """All templates as one matrix, and the row where each subject's templates start."""
        blocks = self.blocks[: self.size]
        sizes = [len(block) for block in blocks]
        dimension = blocks[0].shape[1] if blocks else 0
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, dimension), np.float32)
        starts = (
            np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0, np.int64)
        )
        return matrix, starts


class Gallery:
    """Subjects with one or more unit-length templates each; a subject scores its best template.

    A change (a subject added or removed while cameras run) replaces the gallery's contents in
    one assignment, so a search running at the same moment sees the gallery wholly before or
    wholly after it, never subjects and templates out of step. Changes queue on a lock."""

    def __init__(self, dimension: int = 512) -> None:
        self.dimension = dimension
        self._contents = _Contents()
        self._changing = threading.Lock()
        self.references: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        """What is sent to another process (a camera actor): the state now, without the lock."""
        return {"dimension": self.dimension, "contents": self._contents.copy(), "references": self.references}

    def __setstate__(self, state: dict) -> None:
        self.dimension, self._contents = state["dimension"], state["contents"]
        self.references = state["references"]
        self._changing = threading.Lock()

    def __len__(self) -> int:
        return self._contents.size

    @property
    def subjects(self) -> list[str]:
        contents = self._contents
        return contents.subjects[: contents.size]

    @property
    def template_count(self) -> int:
        contents = self._contents
        return sum(len(block) for block in contents.blocks[: contents.size])

    def add(self, subject: str, templates: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Enrol a subject (or add templates to one already enrolled)."""
        templates = np.asarray(templates, np.float32).reshape(-1, self.dimension)
        if len(templates) == 0:
            raise ValueError("no templates to add")
        with self._changing:
            contents = self._contents
            index = contents.position(subject)
            if index is None:  # the common case: append, shared with the states before
                if len(contents.subjects) > contents.size:  # lists run ahead of this state: own them
                    contents = contents.copy()
                contents.subjects.append(subject)
                contents.blocks.append(templates)
                contents.positions[subject] = contents.size
                changed = _Contents(contents.subjects, contents.blocks, contents.positions, contents.size + 1)
            else:  # more templates for someone enrolled: a state of its own, as earlier states keep theirs
                changed = contents.copy()
                changed.blocks[index] = np.concatenate([changed.blocks[index], templates])
            if reference is not None:
                self.references.setdefault(subject, reference)
            self._contents = changed

    def templates_of(self, subject: str) -> np.ndarray:
        contents = self._contents
        index = contents.position(subject)
        if index is None:
            raise ValueError(f"{subject} is not in the gallery")
        return contents.blocks[index]

    def templates_only(self) -> Gallery:
        """A copy without reference images: all a remote camera needs to match."""
        copy = Gallery(self.dimension)
        copy._contents = self._contents.copy()
        return copy

    def remove(self, subject: str) -> None:
        with self._changing:
            contents = self._contents
            index = contents.position(subject)
            if index is None:
                raise ValueError(f"{subject} is not in the gallery")
            self._contents = contents.copy(without=index)
            self.references.pop(subject, None)

    def subject_scores(self, queries: np.ndarray) -> np.ndarray:
        """(Q, S) cosine similarity of each query with each subject's best template."""
        return self._scores(self._contents, queries)

    def _scores(self, contents: _Contents, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, np.float32).reshape(-1, self.dimension)
        if not contents.size:
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
