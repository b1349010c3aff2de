"""Start, kill and restart a real GStreamer RTSP server on 127.0.0.1 for tests."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

SERVER = Path(__file__).parent / "support" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_available() -> str | None:
    """None when the server can run here, else the reason it cannot."""
    probe = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ],
        capture_output=True,
        text=True,
    )
    return (
        None if probe.returncode == 0 else "GStreamer RTSP server not installed (run scripts/system-deps.sh)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspCamera:
    """One RTSP camera serving a looping JPEG sequence at ``url``."""

    def __init__(
        self, frames: Path, fps: int = 10, user: str | None = None, password: str | None = None
    ) -> None:
        self.frames, self.fps, self.user, self.password = frames, fps, user, password
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> RtspCamera:
        args = [SYSTEM_PYTHON, str(SERVER), str(self.port), "/cam", str(self.frames), str(self.fps)]
        if self.user:
            args += [self.user, self.password or ""]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "READY" not in line:
            self.kill()
            pytest.fail(f"RTSP server did not start: {line}")
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None
