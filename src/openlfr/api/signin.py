"""What sign-in attempts may cost, whoever they claim to be.

A password check (argon2id, 64 MiB and tens of milliseconds of CPU each) is the most expensive
thing an anonymous caller can ask for. A flood with random user names never trips a per-user
lockout, so three limits hold whatever names are tried:

- a (user name, address) pair is locked out after ``api.login_attempts`` failures in the window;
- an address is locked out after ``api.login_attempts_per_address`` failures in the window,
  whatever user names it tried;
- the whole service runs at most ``api.login_concurrency`` password checks at once. An attempt
  that cannot start one within ``api.login_queue_seconds`` is answered 503 with ``Retry-After``,
  without a check; the others wait on the event loop, holding no worker thread.

So a flood costs at most that many cores' worth of hashing and that many hashes' memory, and
signed-in work keeps the rest. The limits are in memory, per process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict, deque

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from openlfr.governance import accounts
from openlfr.governance.accounts import Principal
from openlfr.governance.context import Governance
from openlfr.settings import ApiSettings
from openlfr.store.models import User


class FailureWindow:
    """Failures per key in a sliding window, and the checks under way for each key: a check still
    running counts as a failure until it ends, so checks run at once never exceed the limit."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit, self.window = limit, window_seconds
        self._failures: dict[object, deque[float]] = defaultdict(deque)
        self._running: Counter[object] = Counter()
        self._lock = threading.Lock()

    def _recent(self, key: object, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]  # a flood of one-off keys must not grow memory for ever
            return deque()
        return failures

    def retry_after(self, key: object) -> float | None:
        """Seconds to wait if ``key`` is locked out now, else None."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(key, now)
            if len(failures) + self._running[key] >= self.limit:
                return max(1.0, self.window - (now - failures[0])) if failures else 1.0
        return None

    def start(self, key: object) -> None:
        with self._lock:
            self._running[key] += 1

    def end(self, key: object) -> None:
        with self._lock:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]

    def failed(self, key: object) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[key].append(now)
            if len(self._failures) > 100_000:  # a flood of fresh keys: forget those already expired
                for stale in [k for k, v in self._failures.items() if now - v[-1] > self.window]:
                    del self._failures[stale]

    def forget(self, key: object) -> None:
        with self._lock:
            self._failures.pop(key, None)


class SignInGate:
    """The three limits of the module docstring, in front of ``accounts.authenticate``."""

    def __init__(self, gov: Governance, settings: ApiSettings) -> None:
        window = settings.login_window_minutes * 60
        self.gov = gov
        self.pairs = FailureWindow(settings.login_attempts, window)
        self.addresses = FailureWindow(settings.login_attempts_per_address, window)
        self.queue_seconds = settings.login_queue_seconds
        self._slots = asyncio.Semaphore(settings.login_concurrency)
        self.busy_refusals = 0

    def _refuse_if_locked(self, pair: tuple[str, str], address: str) -> None:
        wait = self.pairs.retry_after(pair) or self.addresses.retry_after(address)
        if wait is not None:
            raise HTTPException(
                429, "too many failed sign-ins; try again later", {"Retry-After": f"{wait:.0f}"}
            )

    async def sign_in(self, username: str, password: str, address: str) -> tuple[Principal, str, str]:
        """(who, session token, CSRF token), or 401, 429 or 503 as ``HTTPException``."""
        user = await self.check(username, password, address)
        token, csrf = await run_in_threadpool(accounts.open_session, self.gov, user)
        return Principal(user.id, user.username, user.role, "session", csrf), token, csrf

    async def check(self, username: str, password: str, address: str) -> User:
        """The user whose password this is, within the limits; 401, 429 or 503 otherwise."""
        pair = (username.lower(), address)
        self._refuse_if_locked(pair, address)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.queue_seconds)
        except TimeoutError:
            self.busy_refusals += 1
            raise HTTPException(
                503, "too many sign-ins at once; try again shortly", {"Retry-After": "2"}
            ) from None
        try:
            self._refuse_if_locked(pair, address)  # again: attempts that queued together get no check each
            self.pairs.start(pair)  # no await since the check: nothing can slip in between
            self.addresses.start(address)
            try:
                user = await run_in_threadpool(accounts.authenticate, self.gov, username, password)
                if user is None:  # recorded before the slot is free, so the next attempt sees it
                    self.pairs.failed(pair)
                    self.addresses.failed(address)
            finally:
                self.pairs.end(pair)
                self.addresses.end(address)
        finally:
            self._slots.release()
        if user is None:
            raise HTTPException(401, "wrong username or password")
        self.pairs.forget(pair)
        return user
