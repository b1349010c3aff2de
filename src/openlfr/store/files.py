"""Files written whole or not at all (a temporary file, fsync, then rename), readable by their
owner only, in folders only their owner may enter."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(folder: Path, *, tighten: bool = False) -> Path:
    """``folder`` created for its owner only if it is missing, with any missing parents. An existing
    folder is left as it is, unless ``tighten`` (openlfr's own data folder)."""
    if not folder.exists():
        missing = [folder, *(p for p in folder.parents if not p.exists())]
        for path in reversed(missing):  # outermost first, each private as it is made
            path.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
            path.chmod(PRIVATE_FOLDER)
    elif tighten:
        folder.chmod(PRIVATE_FOLDER)
    return folder


def private_file(path: Path) -> Path:
    """``path`` created empty if missing, and kept to its owner (before anything is written to it)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    path.chmod(PRIVATE_FILE)
    return path


def write_atomically(path: Path, data: bytes, temporary_suffix: str = ".part") -> None:
    """After a crash or a full disk the old file (or none) is there, never half of the new one."""
    temporary = path.with_name(path.name + temporary_suffix)
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def remove_leftovers(
    folder: Path, temporary_suffix: str = ".part", *, everywhere: bool = False, older_than: float = 0.0
) -> int:
    """Delete what a crash left half-written in ``folder`` (the old file, if any, is intact); with
    ``everywhere``, in its subfolders too. ``older_than`` seconds spares a write still under way
    in another process."""
    found = folder.rglob(f"*{temporary_suffix}") if everywhere else folder.glob(f"*{temporary_suffix}")
    count, now = 0, time.time()
    for leftover in found:
        with contextlib.suppress(FileNotFoundError):
            if now - leftover.stat().st_mtime >= older_than:
                leftover.unlink()
                count += 1
    return count
