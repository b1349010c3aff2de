"""A cache of evaluation embeddings, encrypted at rest, keyed by model pack and image content.

Re-running an evaluation should cost seconds, not minutes, but templates are biometric
data even when the photos are public research sets, so the cache file is sealed with a key
derived from the master key. Changing the pack, the detector settings or an image's bytes
misses the cache.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openlfr.errors import EncryptionKeyError
from openlfr.store import crypto
from openlfr.store.files import private_folder, write_atomically


def cache_key(master_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"openlfr evaluation cache").derive(
        master_key
    )


def image_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


class EmbeddingCache:
    """digest → (plain features, mirrored features); zeros mean no face was found."""

    def __init__(self, folder: Path, key: bytes, namespace: str) -> None:
        self.path = folder / f"{namespace}.sealed"
        self.key = key
        self.namespace = namespace
        self.entries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.hits = self.misses = 0
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            data = crypto.open_sealed(self.key, self.path.read_bytes(), f"eval-cache:{self.namespace}")
        except EncryptionKeyError:
            return  # another master key made it: start afresh rather than fail the evaluation
        with np.load(io.BytesIO(data)) as arrays:
            for digest, plain, flipped in zip(
                arrays["digests"], arrays["plain"], arrays["flipped"], strict=True
            ):
                self.entries[str(digest)] = (plain, flipped)

    def get(self, digest: str) -> tuple[np.ndarray, np.ndarray] | None:
        found = self.entries.get(digest)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, digest: str, plain: np.ndarray, flipped: np.ndarray) -> None:
        self.entries[digest] = (plain.astype(np.float32), flipped.astype(np.float32))

    def save(self) -> None:
        if not self.entries:
            return
        digests = list(self.entries)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            digests=np.array(digests),
            plain=np.stack([self.entries[d][0] for d in digests]),
            flipped=np.stack([self.entries[d][1] for d in digests]),
        )
        private_folder(self.path.parent)
        write_atomically(self.path, crypto.seal(self.key, buffer.getvalue(), f"eval-cache:{self.namespace}"))
