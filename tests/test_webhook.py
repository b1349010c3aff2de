"""The signed alert webhook: retried until the receiver takes it, in order, once, across restarts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openlfr.api.webhook import WebhookSender, sign, verify
from openlfr.governance import alerts as al
from openlfr.governance import watchlists as wl
from tests.api_support import draft_deployment, make_gov
from tests.governance_helpers import fake_alert, subject
from tests.waiting import wait_for

SECRET = b"shared-webhook-secret"


class Receiver:
    """A real HTTP endpoint that fails its first ``failures`` requests with 500."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls, self.accepted = failures, 0, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.calls += 1
                if owner.calls <= owner.failures:
                    self.send_response(500)
                else:
                    owner.accepted.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    server = Receiver(failures=2)
    yield server
    server.close()


def test_signature_round_trip() -> None:
    body = b'{"seq": 1}'
    header = sign(SECRET, 1_900_000_000, body)
    assert header.startswith("t=1900000000,v1=")
    assert not verify(SECRET, header, body)  # too old (and too far in the future for today)
    import time

    fresh = sign(SECRET, int(time.time()), body)
    assert verify(SECRET, fresh, body)
    assert not verify(SECRET, fresh, body + b" ")
    assert not verify(b"other secret", fresh, body)
    assert not verify(SECRET, "garbage", body)


def test_alerts_delivered_after_failures_in_order_and_once(tmp_path, analyzer, receiver, samples) -> None:
    gov = make_gov(tmp_path, analyzer)
    deployment_id = draft_deployment(gov)
    for reference in ("subject_a", "subject_b"):
        wl.add_subject(gov, deployment_id, subject(reference, samples["yaoming"]), "watchlist_manager")
    sender = WebhookSender(gov, receiver.url, SECRET, max_backoff=0.2, poll_seconds=0.05)
    assert sender.cursor() == 0  # first start: from now on
    sender.start()
    first, second = fake_alert("subject_a"), fake_alert("subject_b")
    al.record(gov, deployment_id, first)
    al.record(gov, deployment_id, second)
    assert wait_for(lambda: len(receiver.accepted) == 2, 20)
    sender.stop()
    assert sender.failures == 2 and receiver.calls == 4
    payloads = []
    for headers, body in receiver.accepted:
        assert verify(SECRET, headers["X-OpenLFR-Signature"], body)
        assert headers["X-OpenLFR-Event"] == "alert.created"
        payloads.append(json.loads(body))
    assert [p["alert"]["id"] for p in payloads] == [first.alert_id, second.alert_id]
    assert [p["seq"] for p in payloads] == sorted(p["seq"] for p in payloads)
    text = json.dumps(payloads)
    assert "jpeg" not in text.lower() and "base64" not in text and "/9j/" not in text

    # a restart resumes from the saved position: the old events are not sent again
    al.decide(gov, first.alert_id, "false_alert", "operator")
    again = WebhookSender(gov, receiver.url, SECRET, max_backoff=0.2, poll_seconds=0.05).start()
    assert wait_for(lambda: len(receiver.accepted) == 3, 20)
    again.stop()
    last = json.loads(receiver.accepted[-1][1])
    assert last["kind"] == "alert.decided" and last["alert"]["decision"] == "false_alert"
    assert len(receiver.accepted) == 3
