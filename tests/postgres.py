"""A real PostgreSQL server for tests, started in a temporary folder on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.rtsp import free_port

BIN = Path("/usr/lib/postgresql/15/bin")


def postgres_available() -> str | None:
    if not (BIN / "initdb").is_file():
        return "PostgreSQL 15 is not installed (run scripts/system-deps.sh)"
    if shutil.which("runuser") is None and os.geteuid() == 0:
        return "runuser is missing"
    return None


class PostgresServer:
    def __init__(self, folder: Path | None = None) -> None:
        # the postgres user must be able to reach the folder, so it lives directly under /tmp
        self.folder = folder or Path(tempfile.mkdtemp(prefix="openlfr-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120, check=True)

    def init(self) -> PostgresServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.folder / "log"),
            "start",
        )

    def stop(self) -> None:
        self._as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        self._as_postgres(
            str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
