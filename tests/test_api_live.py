"""The whole service on a real video: engine → stored alert → WebSocket → adjudication → report."""

from __future__ import annotations

import json
import re

import cv2
import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from openlfr.demo.service import prepare_demo
from openlfr.demo.synthetic import ENROLLED_SUBJECT
from tests.api_support import bearer, live_server, make_app, make_gov, token
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def receive_until(socket, predicate, limit: float = 90.0) -> list[dict]:  # type: ignore[no-untyped-def]
    """Messages until one satisfies ``predicate`` (all of them, in arrival order)."""
    messages = []
    while True:
        message = json.loads(socket.recv(timeout=limit))
        messages.append(message)
        if predicate(message):
            return messages


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory, analyzer):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("service")
    gov = make_gov(folder, analyzer, users=False, supervise_seconds=0.5)
    setup = prepare_demo(gov, folder / "demo")
    with live_server(make_app(gov, run_engines=True)) as url:
        yield gov, setup, url


def test_alert_arrives_is_adjudicated_and_reported(demo_service) -> None:
    gov, setup, url = demo_service
    assert ENROLLED_SUBJECT in setup.enrolled
    operator, auditor = bearer(token(gov, "operator")), bearer(token(gov, "auditor"))
    ws_url = url.replace("http", "ws") + "/api/alerts/ws?since=0"
    with connect(ws_url, additional_headers=operator) as socket:
        first = receive_until(socket, lambda m: m["kind"] == "alert.created")[-1]
    alert = first["alert"]
    assert alert["subject"] == ENROLLED_SUBJECT and alert["score"] >= alert["threshold"]
    assert "probe" not in json.dumps(first).lower().replace("images_available", "")

    with httpx.Client(base_url=url) as client:
        probe = client.get(f"/api/alerts/{alert['id']}/probe.jpg", headers=operator)
        reference = client.get(f"/api/alerts/{alert['id']}/reference.jpg", headers=operator)
        for response in (probe, reference):
            assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
            assert cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR).shape[0] > 50
        assert client.get(f"/api/alerts/{alert['id']}/probe.jpg", headers=auditor).status_code == 403
        assert client.get(f"/api/alerts/{alert['id']}", headers=auditor).json()["subject"] == ENROLLED_SUBJECT

        with connect(
            url.replace("http", "ws") + f"/api/alerts/ws?since={first['seq']}", additional_headers=auditor
        ) as socket:
            decided = client.post(
                f"/api/alerts/{alert['id']}/decision", json={"decision": "confirmed_match"}, headers=operator
            )
            assert decided.status_code == 200
            update = receive_until(socket, lambda m: m["alert"]["id"] == alert["id"])[-1]
        assert update["kind"] == "alert.decided" and update["alert"]["decision"] == "confirmed_match"
        assert update["seq"] > first["seq"]

        # a client that reconnects from 0 is sent everything again, in order
        with connect(ws_url, additional_headers=operator) as socket:
            replay = receive_until(socket, lambda m: m["seq"] == update["seq"])
        assert [m["seq"] for m in replay] == sorted(m["seq"] for m in replay)
        assert {m["kind"] for m in replay} >= {"alert.created", "alert.decided"}
        assert all(m["alert"]["subject"] == ENROLLED_SUBJECT for m in replay)  # nobody else alerted

        report = client.get(f"/api/deployments/{setup.deployment_id}/report", headers=auditor).json()
        assert report["confirmed_alerts"] == 1
        audit = client.get("/api/audit?limit=1000", headers=auditor).json()
        viewed = [e for e in audit if e["action"] == "alert.view_probe" and e["object_id"] == alert["id"]]
        assert [e["actor"] for e in viewed] == ["operator"]
        started = next(e for e in audit if e["action"] == "service.start")
        assert started["details"]["settings"]["live"]["alert_threshold"] == gov.settings.live.alert_threshold
        assert started["details"]["settings"]["master_key"] is None


def test_camera_health_and_blurred_preview(demo_service) -> None:
    gov, setup, url = demo_service
    operator, admin = bearer(token(gov, "operator")), bearer(token(gov, "admin"))
    with httpx.Client(base_url=url) as client:
        cameras = client.get("/api/cameras", headers=admin).json()
        (camera,) = cameras["running"][setup.deployment_id]
        assert camera["name"] == "cam1" and camera["state"] == "live"
        snapshot = client.get(f"/api/cameras/{setup.deployment_id}/cam1/snapshot.jpg", headers=operator)
        assert snapshot.status_code == 200
        frame = cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR)
        assert frame.shape[1] >= 320
        assert (
            client.get(f"/api/cameras/{setup.deployment_id}/cam1/snapshot.jpg", headers=admin).status_code
            == 403
        )
        with client.stream(
            "GET", f"/api/cameras/{setup.deployment_id}/cam1/preview.mjpg", headers=operator
        ) as stream:
            assert stream.headers["content-type"].startswith("multipart/x-mixed-replace")
            head = next(stream.iter_bytes())
            assert head.startswith(b"--openlfrframe") and b"image/jpeg" in head


def test_the_looping_demo_is_one_alert_with_its_sightings(demo_service) -> None:
    """Yao Ming passes again on every loop of the demo clip: his alert gains sightings, no new alert."""
    gov, setup, url = demo_service
    operator = bearer(token(gov, "operator"))
    with httpx.Client(base_url=url) as client:

        def his_alerts() -> list[dict]:
            query = f"/api/alerts?deployment_id={setup.deployment_id}"
            return client.get(query, headers=operator).json()["alerts"]

        assert wait_for(lambda: any(a["sightings"] >= 2 for a in his_alerts()), 90)
        (alert,) = his_alerts()
        assert alert["subject"] == ENROLLED_SUBJECT and alert["last_seen_at"] > alert["raised_at"]
        sightings = client.get(f"/api/alerts/{alert['id']}/sightings", headers=operator).json()
        assert len(sightings) >= 2 and sightings[0]["id"] == alert["id"]
        assert [s["seen_at"] for s in sightings] == sorted(s["seen_at"] for s in sightings)
    with connect(url.replace("http", "ws") + "/api/alerts/ws?since=0", additional_headers=operator) as socket:
        kinds = receive_until(socket, lambda m: m["kind"] == "alert.sighting")
    assert {m["alert"]["id"] for m in kinds} == {alert["id"]}


def test_prometheus_scrapes_the_running_camera_and_nothing_personal(demo_service) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    gov, setup, url = demo_service
    admin, operator = bearer(token(gov, "admin")), bearer(token(gov, "operator"))
    with httpx.Client(base_url=url) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=operator).status_code == 403
        alerted = re.compile(r'openlfr_camera_alerts_total\{[^}]*camera="cam1"[^}]*\} [1-9]')
        assert wait_for(lambda: alerted.search(client.get("/metrics", headers=admin).text), 90)
        scraped = client.get("/metrics", headers=admin)
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    camera = {"deployment": setup.deployment_id, "camera": "cam1"}

    def value(family: str, suffix: str = "", **labels: str) -> float:
        wanted = camera | labels
        return next(
            s.value
            for s in families[family].samples
            if s.name == family + suffix and all(s.labels.get(k) == v for k, v in wanted.items())
        )

    assert value("openlfr_camera_up") == 1.0 and value("openlfr_camera_decode_fps") > 0
    assert value("openlfr_camera_frames_processed", "_total") > 0
    assert value("openlfr_camera_alerts", "_total") >= 1  # the demo's enrolled walker
    detect = value("openlfr_stage_seconds", "_count", stage="detect")
    assert detect > 0 and value("openlfr_stage_seconds", "_bucket", stage="detect", le="+Inf") == detect
    assert value("openlfr_alert_latency_seconds", "_count") >= 1
    assert any(s.labels == {"result": "ok"} for s in families["openlfr_purge_runs"].samples)
    assert "openlfr_spool_alerts" in families and "openlfr_websocket_clients" in families
    assert families["openlfr_database_up"].samples[0].value == 1.0
    assert {s.labels["decision"] for s in families["openlfr_alerts_stored"].samples} <= {
        "undecided",
        "confirmed_match",
        "false_alert",
        "not_engaged",
        "unable_to_locate",
    }
    assert ENROLLED_SUBJECT not in scraped.text and "yao" not in scraped.text.lower()  # no subject, no name


def test_ending_the_deployment_stops_its_engine(demo_service) -> None:
    gov, setup, url = demo_service
    operator = bearer(token(gov, "operator"))
    with httpx.Client(base_url=url) as client:
        ended = client.post(
            f"/api/deployments/{setup.deployment_id}/end", json={"reason": "test over"}, headers=operator
        )
        assert ended.json()["state"] == "ended"
        assert wait_for(
            lambda: setup.deployment_id not in client.get("/api/cameras", headers=operator).json()["running"],
            15,
        )
        assert (
            client.get(f"/api/deployments/{setup.deployment_id}", headers=operator).json()["faces_seen"] > 0
        )
