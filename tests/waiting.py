"""Polling with a deadline, for tests that wait on threads, servers and cameras."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], limit: float = 20.0) -> bool:
    """True as soon as ``condition()`` holds; False if ``limit`` seconds pass first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
