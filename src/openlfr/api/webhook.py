"""A signed webhook for alert events, delivered in order, at least once, across restarts.

Each event is POSTed as JSON with ``X-OpenLFR-Signature: t=<unix time>,v1=<hex>``, the
HMAC-SHA256 of ``"<t>." + body`` under the shared secret, so the receiver can check both
origin and freshness. A failed delivery is retried with exponential backoff; the position
in the feed is saved only after a 2xx, so a restart resumes where delivery stopped.
Payloads carry alert metadata only, never an image.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import httpx

from openlfr.api.background import Background
from openlfr.api.feed import head, read_feed
from openlfr.governance.context import Governance
from openlfr.redaction import redact_text, redact_url
from openlfr.store.models import ServiceState

log = logging.getLogger(__name__)
CURSOR_KEY = "webhook.cursor"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, tolerance: float = 300.0) -> bool:
    """What a receiver runs: the signature matches and is no older than ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookSender(Background):
    def __init__(
        self, gov: Governance, url: str, secret: bytes, max_backoff: float = 60.0, poll_seconds: float = 0.2
    ) -> None:
        super().__init__("webhook")
        self.gov, self.url, self.secret = gov, url, secret
        self.max_backoff, self.poll_seconds = max_backoff, poll_seconds
        self.delivered = self.failures = 0
        self.last_error: str | None = None

    def cursor(self) -> int:
        with self.gov.store.session() as session:
            row = session.get(ServiceState, CURSOR_KEY)
            if row is None:  # first start: announce from now on, not the history
                row = ServiceState(key=CURSOR_KEY, value=str(head(self.gov)))
                session.add(row)
            return int(row.value)

    def _save(self, seq: int) -> None:
        with self.gov.store.session() as session:
            session.merge(ServiceState(key=CURSOR_KEY, value=str(seq)))

    def _deliver(self, client: httpx.Client, event: dict) -> bool:
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-OpenLFR-Event": event["kind"],
            "X-OpenLFR-Delivery": str(event["seq"]),
            "X-OpenLFR-Signature": sign(self.secret, int(time.time()), body),
        }
        try:
            response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            # httpx may quote the URL, whose path is often the receiver's credential
            shown = str(exc).replace(self.url, redact_url(self.url, whole_path=True))
            self.last_error = f"{type(exc).__name__}: {redact_text(shown)}"
            return False
        if 200 <= response.status_code < 300:
            return True
        self.last_error = f"HTTP {response.status_code}"
        return False

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                try:
                    events = read_feed(self.gov, self.cursor(), limit=100)
                except Exception as exc:
                    self.last_error = f"feed unreadable: {exc}"
                    self._stop.wait(1.0)
                    continue
                for event in events:
                    backoff = 0.5
                    while not self._deliver(client, event):
                        self.failures += 1
                        log.warning("webhook delivery %d failed (%s)", event["seq"], self.last_error)
                        if self._stop.wait(backoff):
                            return
                        backoff = min(backoff * 2, self.max_backoff)
                    self.delivered += 1
                    self._save(event["seq"])
                if not events:
                    self._stop.wait(self.poll_seconds)
