"""Files written whole or not at all (a temporary file, fsync, then rename), readable by their
owner only, in folders only their owner may enter."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(folder: Path, *, tighten: bool = False) -> Path:
    """``folder`` created for its owner only if it is missing (parents as they come). An existing
    folder is left as it is, unless ``tighten`` (openlfr's own data folder)."""
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        folder.chmod(PRIVATE_FOLDER)
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


def remove_leftovers(folder: Path, temporary_suffix: str = ".part") -> int:
    """Delete what a crash left half-written in ``folder`` (the old file, if any, is intact)."""
    count = 0
    for leftover in folder.glob(f"*{temporary_suffix}"):
        leftover.unlink(missing_ok=True)
        count += 1
    return count
