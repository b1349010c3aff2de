"""Files written whole or not at all (a temporary file, fsync, then rename), readable by their
owner only, in folders only their owner may enter."""

from __future__ import annotations

import fcntl
import os
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
    """After a crash or a full disk the old file (or none) is there, never half of the new one.
    The temporary file is locked while it is written, so ``remove_leftovers`` can tell it from
    one a crash left behind."""
    temporary = path.with_name(path.name + temporary_suffix)
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def remove_leftovers(folder: Path, temporary_suffix: str = ".part", *, everywhere: bool = False) -> int:
    """Delete what a crash left half-written in ``folder`` (the old file, if any, is intact); with
    ``everywhere``, in its subfolders too. A file some process is still writing holds its lock
    (``write_atomically``) and is left alone."""
    found = folder.rglob(f"*{temporary_suffix}") if everywhere else folder.glob(f"*{temporary_suffix}")
    count = 0
    for leftover in found:
        try:
            descriptor = os.open(leftover, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            leftover.unlink(missing_ok=True)
            count += 1
        except BlockingIOError:
            pass  # being written now
        finally:
            os.close(descriptor)
    return count
