"""Running the app under uvicorn on a background thread (for embedding, benchmarks and tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def uvicorn_options(app) -> dict[str, Any]:
    """How openlfr runs under uvicorn: X-Forwarded-For believed only from ``api.trusted_proxies``
    (uvicorn's own default would believe any local process, which could then dodge the sign-in
    limits by naming a new address each time)."""
    trusted = app.state.service.gov.settings.api.trusted_proxies
    return {
        "log_level": "warning",
        "ws": "websockets-sansio",
        "timeout_graceful_shutdown": 5,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": ",".join(trusted) if trusted else "",
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields the base URL once the server accepts connections."""
    port = port or free_port(host)
    config = uvicorn.Config(app, host=host, port=port, **uvicorn_options(app))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
