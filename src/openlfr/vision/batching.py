"""Coalescing concurrent inference calls into one batch: the faces of all cameras in one forward.

Each camera thread embeds its own few faces. On a GPU one batch of 64 costs about what a
batch of 1 does, so calls that arrive together should run together. ``MicroBatcher`` does
this without a thread of its own: the first caller becomes the leader, waits up to
``max_wait`` seconds (or until ``max_batch`` rows are queued), runs every queued request as
one batch and hands each caller its rows; the others just wait for their result. An error
in the batch is raised to every caller whose rows were in it. A network with several outputs
(the detector has nine) returns a list, and each caller gets its rows of every output.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openlfr.vision.tensors import concat

Output = Any  # one array, or a list of arrays that all have one row per input row


@dataclass
class _Request:
    rows: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    result: Output = None
    error: BaseException | None = None


class MicroBatcher:
    """Runs ``function`` on the concatenation of concurrent calls' rows."""

    def __init__(
        self, function: Callable[[np.ndarray], Output], max_batch: int = 64, max_wait: float = 0.002
    ) -> None:
        self.function = function
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batches = 0
        self.rows = 0
        self._pending: list[_Request] = []
        self._leader = False
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    def __call__(self, rows: np.ndarray) -> Output:
        request = _Request(rows)
        with self._lock:
            self._pending.append(request)
            self._arrived.notify_all()
            lead = not self._leader
            if lead:
                self._leader = True
        if lead:
            self._lead()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    @property
    def mean_batch(self) -> float:
        return self.rows / self.batches if self.batches else 0.0

    def _lead(self) -> None:
        deadline = time.monotonic() + self.max_wait
        with self._lock:
            while sum(len(r.rows) for r in self._pending) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0 or not self._arrived.wait(left):
                    break
            batch, self._pending, self._leader = self._pending, [], False
        try:
            output = self.function(concat([r.rows for r in batch]))
        except BaseException as exc:  # every caller in the batch learns why
            for request in batch:
                request.error = exc
                request.done.set()
            return
        with self._lock:
            self.batches += 1
            self.rows += sum(len(r.rows) for r in batch)
        start = 0
        for request in batch:
            stop = start + len(request.rows)
            if isinstance(output, list):
                request.result = [part[start:stop] for part in output]
            else:
                request.result = output[start:stop]
            start = stop
            request.done.set()
