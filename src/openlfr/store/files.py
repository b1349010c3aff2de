"""Files written whole or not at all: a temporary file, fsync, then rename."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, temporary_suffix: str = ".part") -> None:
    """After a crash or a full disk the old file (or none) is there, never half of the new one."""
    temporary = path.with_name(path.name + temporary_suffix)
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.rename(path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
