"""Labelled image sets (a ``labels.csv`` with a ``path`` column beside the images) and their embeddings."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openlfr.errors import DatasetError
from openlfr.evaluation.cache import EmbeddingCache, cache_key
from openlfr.evaluation.embeddings import EmbeddedSet, FaceModel, OnnxFaceModel, embed_images
from openlfr.evaluation.fusion import FusedFaceModel, fused_parts
from openlfr.settings import Settings
from openlfr.vision import FaceAnalyzer


@dataclass(frozen=True)
class LabelledSet:
    name: str
    paths: list[Path]
    labels: list[dict[str, str]]

    def column(self, name: str) -> np.ndarray:
        return np.array([row.get(name, "") for row in self.labels])


def read_labels(csv_path: Path, name: str | None = None) -> LabelledSet:
    """A CSV with a ``path`` column (relative to the CSV) and any others; UTF-8, with or without
    the byte-order mark spreadsheets write. Every row must name a path."""
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: labels file not found")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError:
        raise DatasetError(f"{csv_path}: not UTF-8 text (save it as CSV UTF-8)") from None
    except csv.Error as exc:
        raise DatasetError(f"{csv_path}: not a readable CSV ({exc})") from None
    if not rows or "path" not in rows[0]:
        raise DatasetError(f"{csv_path}: needs a 'path' column")
    for line, row in enumerate(rows, start=2):
        if not (row.get("path") or "").strip():
            raise DatasetError(f"{csv_path}, line {line}: no path")
    return LabelledSet(
        name or csv_path.parent.name, [csv_path.parent / row["path"].strip() for row in rows], rows
    )


class Embedder:
    """Embeds evaluation sets through the encrypted cache, with progress reported per image."""

    def __init__(
        self, model: FaceModel | FaceAnalyzer, cache_dir: Path | None, master_key: bytes | None
    ) -> None:
        self.image_limits = model.settings.images if isinstance(model, FaceAnalyzer) else None
        self.model: FaceModel = OnnxFaceModel(model) if isinstance(model, FaceAnalyzer) else model
        self.cache_dir = cache_dir
        self.key = cache_key(master_key) if master_key else None
        self.last_cache: EmbeddingCache | None = None

    @classmethod
    def for_pack(cls, settings: Settings, pack: str) -> Embedder:
        """The embedder of a pack name or folder ('dlib' too), caching under the data folder's key."""
        from openlfr.store.crypto import load_master_key

        secret = settings.master_key.get_secret_value() if settings.master_key else None
        key = load_master_key(secret, settings.master_key_path())
        if pack == "dlib":
            from openlfr.vision.dlib_pack import DlibFaceModel

            return cls(DlibFaceModel(), settings.data_dir / "eval-cache", key)
        parts = fused_parts(pack)
        if parts:  # "buffalo_s+yunet_sface": two recognizers fused on the same faces
            first, second = (FaceAnalyzer(settings.model_copy(update={"model_pack": part})) for part in parts)
            return cls(FusedFaceModel(first, second), settings.data_dir / "eval-cache", key)
        analyzer = FaceAnalyzer(settings.model_copy(update={"model_pack": pack}))
        return cls(analyzer, settings.data_dir / "eval-cache", key)

    @property
    def pack(self) -> str:
        return self.model.name

    def namespace(self, name: str) -> str:
        return f"{self.model.fingerprint}-{name}"

    def embed(
        self, name: str, paths: list[Path], progress: Callable[[int], None] | None = None
    ) -> EmbeddedSet:
        cache = (
            EmbeddingCache(self.cache_dir, self.key, self.namespace(name))
            if self.cache_dir and self.key
            else None
        )
        self.last_cache = cache
        return embed_images(self.model, paths, progress, cache, self.image_limits)
