"""Named, persistent galleries of encrypted templates for retrospective search.

A gallery lives in ``data_dir/galleries/NAME``. Its templates, labels and FAISS index are
sealed with AES-GCM under a data key of the gallery's current generation, held in the key store
like a deployment's, so a copy of the folder alone reveals nothing. Every file is written whole
(temporary file, fsync, rename). Every rewrite (deleting a subject) seals a new generation under
a new key and then destroys the old key: a copy of the folder or a backup taken before a
deletion cannot be read for the deleted person either. A searcher in use swaps to the new index
only when it is ready, so searches never wait for a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openlfr.errors import NotFoundError, PolicyViolation, StoreError
from openlfr.governance import audit
from openlfr.governance.context import Governance
from openlfr.reasons import is_given
from openlfr.search.index import IndexSettings, TemplateBlocks, TemplateIndex, chosen_kind
from openlfr.settings import SearchSettings
from openlfr.store.files import private_folder, write_atomically

log = logging.getLogger(__name__)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class Candidate:
    rank: int
    label: str
    source: str
    score: float


def key_id(name: str, generation: int = 0) -> str:
    """The key store's name for a gallery generation's key (generation 0: galleries written before
    keys were per generation)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"gallery-{digest[:16]}-g{generation}" if generation else f"gallery-{digest[:24]}"  # ≤ 32


class GalleryStore:
    """Reads and writes one named gallery."""

    def __init__(self, gov: Governance, name: str) -> None:
        if not NAME.match(name):
            raise PolicyViolation("a gallery name is 1–64 letters, digits, '.', '_' or '-'")
        self.gov, self.name = gov, name
        self.folder = gov.settings.data_dir / "galleries" / name

    @property
    def exists(self) -> bool:
        return (self.folder / "manifest.json").is_file()

    def manifest(self) -> dict:
        if not self.exists:
            raise NotFoundError(f"no gallery named {self.name}")
        return json.loads((self.folder / "manifest.json").read_text())

    @property
    def key(self) -> str:
        """The key of the generation in use."""
        return self._key(self.manifest())

    def _key(self, manifest: dict) -> str:
        return manifest.get("key") or key_id(self.name)

    def _seal(self, key: str, data: bytes, context: str) -> bytes:
        return self.gov.store.seal(key, data, f"{key}:{context}")

    def _open(self, key: str, path: Path, context: str) -> bytes:
        return self.gov.store.open(key, path.read_bytes(), f"{key}:{context}")

    def _prefix(self, manifest: dict) -> str:
        """Files of one generation share a prefix, so a rewrite commits when the manifest names it."""
        generation = manifest.get("generation", 0)
        return f"g{generation}-" if generation else ""

    def write(
        self,
        labels: list[str],
        sources: list[str],
        templates: np.ndarray | Iterable[np.ndarray],
        actor: str,
        action: str,
    ) -> None:
        """Replace the gallery's contents (new galleries get a fresh data key). ``templates`` may be
        blocks of rows, so a gallery of millions is rewritten without holding it all. The new files
        form a new generation; the manifest switches to it in one atomic write, and only then are
        the old generation's files removed, so a crash leaves the old gallery or the new one."""
        if len(labels) != len(sources):
            raise ValueError("labels and sources must line up")
        private_folder(self.folder)
        previous = self.manifest() if self.exists else None
        generation = previous.get("generation", 0) + 1 if previous else 1
        key = key_id(self.name, generation)
        prefix = f"g{generation}-"
        for orphan in self.folder.glob(f"{prefix}*"):  # a write of this generation cut short by a crash
            orphan.unlink()
        self._shred(key)  # …and the key it had made
        self.gov.store.create_data_key(key)
        blocks = [templates] if isinstance(templates, np.ndarray) else templates
        count, chunks, dimension = 0, 0, 0
        for chunks, block in enumerate(_rechunk(blocks, CHUNK_ROWS), start=1):
            name = f"{prefix}templates-{chunks - 1:05d}"
            write_atomically(self.folder / f"{name}.sealed", self._seal(key, block.tobytes(), name))
            count, dimension = count + len(block), block.shape[1]
        if count != len(labels):
            for unused in self.folder.glob(f"{prefix}*.sealed"):
                unused.unlink()
            self.gov.store.destroy_data_key(key)
            raise ValueError("labels, sources and templates must line up")
        entries = json.dumps({"labels": labels, "sources": sources}).encode()
        write_atomically(
            self.folder / f"{prefix}entries.sealed", self._seal(key, entries, f"{prefix}entries")
        )
        manifest = {
            "name": self.name,
            "generation": generation,
            "key": key,
            "count": count,
            "subjects": len(set(labels)),
            "dimension": dimension,
            "chunks": chunks,
            "model_pack": self.gov.settings.model_pack,
        }
        write_atomically(self.folder / "manifest.json", json.dumps(manifest, indent=2).encode())
        for stale in self.folder.glob("*.sealed"):
            if not stale.name.startswith(prefix):
                stale.unlink()
        if previous is not None:
            self._shred(self._key(previous))
        with self.gov.store.session() as session:
            audit.append(
                session,
                actor=actor,
                action=action,
                object_type="gallery",
                object_id=self.name,
                at=self.gov.now(),
                details={"templates": count, "subjects": len(set(labels))},
            )

    def _shred(self, key: str) -> None:
        """Destroy a replaced generation's key: its files, in any copy, are unreadable from now on."""
        try:
            self.gov.store.destroy_data_key(key)
        except StoreError as exc:  # the key is deleted; a reader holds its old page until the next purge
            log.warning("gallery %s: %s", self.name, exc)

    def entries(self, manifest: dict | None = None) -> tuple[list[str], list[str]]:
        """Each row's label and source (of the generation ``manifest`` names; the current one by default)."""
        manifest = manifest or self.manifest()
        prefix, key = self._prefix(manifest), self._key(manifest)
        entries = json.loads(self._open(key, self.folder / f"{prefix}entries.sealed", f"{prefix}entries"))
        return entries["labels"], entries["sources"]

    def blocks(self, manifest: dict | None = None) -> TemplateBlocks:
        """The templates, opened one sealed chunk at a time as an index build reads them."""
        manifest = manifest or self.manifest()
        prefix, key = self._prefix(manifest), self._key(manifest)

        def read(i: int) -> np.ndarray:
            name = f"{prefix}templates-{i:05d}"
            context = name if prefix else f"t{i}"  # galleries written before generations
            data = self._open(key, self.folder / f"{name}.sealed", context)
            return np.frombuffer(data, np.float32).reshape(-1, manifest["dimension"])

        return TemplateBlocks(
            count=manifest["count"],
            dimension=manifest["dimension"] or 512,
            blocks=manifest["chunks"],
            read=read,
        )

    def read(self) -> tuple[list[str], list[str], np.ndarray]:
        manifest = self.manifest()
        labels, sources = self.entries(manifest)
        return labels, sources, self.blocks(manifest).array()

    def index(self, settings: IndexSettings, manifest: dict | None = None) -> TemplateIndex:
        """The search index, from its sealed parts when they match, else built (and sealed) now."""
        import faiss

        manifest = manifest or self.manifest()
        blocks, prefix, key = self.blocks(manifest), self._prefix(manifest), self._key(manifest)
        kind = chosen_kind(settings, blocks.count)
        paths = sorted(self.folder.glob(f"{prefix}index-{kind}-*.sealed"))
        if paths:
            parts = [
                faiss.deserialize_index(np.frombuffer(self._open(key, path, path.stem), np.uint8))
                for path in paths
            ]
            if sum(part.ntotal for part in parts) == blocks.count:
                return TemplateIndex(blocks, settings, parts)
        index = TemplateIndex(blocks, settings)
        for stale in paths:
            stale.unlink()
        for i, part in enumerate(index.parts):
            name = f"{prefix}index-{kind}-{i:03d}"
            write_atomically(
                self.folder / f"{name}.sealed", self._seal(key, faiss.serialize_index(part).tobytes(), name)
            )
        return index

    def delete_label(self, label: str, actor: str, reason: str) -> int:
        """Remove every template of ``label`` for good (files rewritten, index rebuilt); returns how many."""
        if not is_given(reason):
            raise PolicyViolation("deleting from a gallery needs a reason")
        manifest = self.manifest()
        labels, sources = self.entries(manifest)
        keep = np.array([existing != label for existing in labels], bool)
        removed = int(len(labels) - np.count_nonzero(keep))
        if not removed:
            raise NotFoundError(f"{label} is not in gallery {self.name}")

        def kept_rows() -> Iterator[np.ndarray]:  # one sealed chunk in memory at a time
            offset = 0
            for block in self.blocks(manifest):
                yield block[keep[offset : offset + len(block)]]
                offset += len(block)

        self.write(
            [existing for existing, kept in zip(labels, keep, strict=True) if kept],
            [source for source, kept in zip(sources, keep, strict=True) if kept],
            kept_rows(),
            actor,
            "gallery.delete",
        )
        with self.gov.store.session() as session:
            audit.append(
                session,
                actor=actor,
                action="gallery.delete_subject",
                object_type="gallery",
                object_id=self.name,
                at=self.gov.now(),
                reason=reason,
                details={"templates": removed},  # who was deleted is not kept: deleted means gone
            )
        return removed


def _rechunk(blocks: Iterable[np.ndarray], rows: int) -> Iterator[np.ndarray]:
    """The same rows, regrouped into float32 blocks of exactly ``rows`` (the last may be shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        block = np.ascontiguousarray(block, np.float32)
        while len(block):
            take = min(rows - held, len(block))
            pending.append(block[:take])
            held, block = held + take, block[take:]
            if held == rows:
                yield np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield np.concatenate(pending)


def index_settings(search: SearchSettings) -> IndexSettings:
    """The index a gallery is searched with, from the ``search`` settings."""
    return IndexSettings(
        kind=search.index,
        exact_limit=search.exact_limit,
        torch_device=search.torch_device,
        torch_fp16=search.torch_fp16,
    )


def list_galleries(gov: Governance) -> list[dict]:
    """Every gallery's name and size (from its manifest: no template is opened)."""
    root = gov.settings.data_dir / "galleries"
    stores = [GalleryStore(gov, folder.name) for folder in sorted(root.iterdir() if root.is_dir() else [])]
    return [{"name": store.name} | store.manifest() for store in stores if store.exists]


class GallerySearcher:
    """A loaded gallery that answers searches; ``rebuild`` swaps in a new index without a pause.
    Each search first looks at the gallery's manifest: once another process (``openlfr gallery
    delete``) has written a new generation, people no longer in it are left out of every answer at
    once, and the new index is built in the background."""

    def __init__(self, store: GalleryStore, settings: IndexSettings | None = None) -> None:
        self.store = store
        self.settings = settings or index_settings(store.gov.settings.search)
        self._lock = threading.Lock()
        self.following: int | None = None  # a newer generation being rebuilt for
        self._load()

    def _load(self) -> None:
        manifest = self.store.manifest()  # labels and templates of one generation, whatever commits meanwhile
        labels, sources = self.store.entries(manifest)
        index = self.store.index(self.settings, manifest)
        with self._lock:
            self.labels, self.sources, self.index = labels, sources, index
            self.generation = manifest.get("generation", 0)
            self.allowed: set[str] | None = None

    def _follow(self) -> None:
        """Mask who a newer generation no longer holds, and rebuild for it (once)."""
        manifest = self.store.manifest()
        generation = manifest.get("generation", 0)
        with self._lock:
            if generation in (self.generation, self.following):
                return
            self.following = generation
        kept = set(self.store.entries(manifest)[0])
        with self._lock:
            self.allowed = kept
        self.rebuild()

    def rebuild(self) -> threading.Thread:
        """Reload files and index on a thread; searches keep using the old ones until the swap."""
        thread = threading.Thread(target=self._load, name=f"rebuild-{self.store.name}", daemon=True)
        thread.start()
        return thread

    def search(
        self, probes: np.ndarray, top: int, actor: str, reason: str, what: str
    ) -> list[list[Candidate]]:
        """Ranked candidates per probe template, for a person to review (the search is audited)."""
        if not is_given(reason):
            raise PolicyViolation("a retrospective search needs a reason (recorded in the audit trail)")
        self._follow()
        with self._lock:
            labels, sources, index, allowed = self.labels, self.sources, self.index, self.allowed
        results = []
        if len(probes):
            hidden = 0 if allowed is None else sum(label not in allowed for label in labels)
            scores, rows = index.search(probes, top + hidden)  # ``top`` still, once the deleted go
            for score_row, found in zip(scores, rows, strict=True):
                kept = [(s, r) for s, r in zip(score_row, found, strict=True) if _kept(r, labels, allowed)]
                results.append(
                    [
                        Candidate(rank, labels[row], sources[row], float(score))
                        for rank, (score, row) in enumerate(kept[:top], start=1)
                    ]
                )
        with self.store.gov.store.session() as session:
            audit.append(
                session,
                actor=actor,
                action="gallery.search",
                object_type="gallery",
                object_id=self.store.name,
                at=self.store.gov.now(),
                reason=reason,
                details={"probe": what, "probes": len(probes), "top": top, "index": index.kind},
            )
        return results


def _kept(row: int, labels: list[str], allowed: set[str] | None) -> bool:
    return row >= 0 and (allowed is None or labels[row] in allowed)


def gallery_source(location: Path) -> tuple[list[Path], list[str]]:
    """Images and who each shows: a folder of one sub-folder per person (or files named by person),
    or a CSV with a ``path`` column and an optional ``label`` column."""
    from openlfr.search.crossmatch import read_register

    paths = read_register(location)
    if location.is_dir():
        return paths, [p.parent.name if p.parent != location else p.stem for p in paths]
    from openlfr.evaluation.datasets import read_labels

    rows = read_labels(location).labels
    return paths, [(row.get("label") or "").strip() or _label_from_path(Path(row["path"])) for row in rows]


def _label_from_path(path: Path) -> str:
    """Who an unlabelled image shows: its folder's name, or the file's own name for a bare file."""
    return path.parent.name if path.parent.name else path.stem
