"""A real RTSP camera (GStreamer's server on 127.0.0.1) that dies mid-stream and comes back."""

from __future__ import annotations

import threading
import time

import pytest

from openlfr.demo.synthetic import ENROLLED_SUBJECT
from openlfr.live.alerts import CollectingSink
from openlfr.live.runner import LiveRunner
from openlfr.video import CameraReader, CameraState, parse_source
from tests.rtsp import RtspCamera, rtsp_available
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(rtsp_available() is not None, reason=str(rtsp_available()))


def test_engine_reconnects_after_the_server_dies_and_alerts_again(
    analyzer, demo_gallery, demo_material
) -> None:
    camera = RtspCamera(demo_material["frames"]).start()
    sink = CollectingSink()
    settings = analyzer.settings.live.model_copy(
        update={
            "cooldown": 0,
            "backoff_initial": 0.2,
            "backoff_max": 1.0,
            "open_timeout": 3,
            "read_timeout": 2,
        }
    )
    threads_before = threading.active_count()
    runner = LiveRunner(
        {"door": parse_source(camera.url, read_timeout=2, open_timeout=3)},
        analyzer,
        demo_gallery,
        sink,
        settings,
    )
    runner.start()
    try:
        assert wait_for(lambda: any(a.subject == ENROLLED_SUBJECT for a in sink.alerts), 40), runner.status()
        first_alerts = len(sink.alerts)

        camera.kill()  # the camera dies mid-stream
        assert wait_for(lambda: runner.status()[0].state == "reconnecting", 15), runner.status()
        assert runner.status()[0].last_error

        camera.start()  # and comes back on the same address
        assert wait_for(lambda: runner.status()[0].state == "live" and runner.status()[0].connects >= 2, 30)
        assert wait_for(lambda: len(sink.alerts) > first_alerts, 40), runner.status()
    finally:
        runner.stop()
        camera.kill()
    assert {a.subject for a in sink.alerts} == {ENROLLED_SUBJECT}
    status = runner.status()[0]
    assert status.metrics["errors"] == 0 and status.connects >= 2
    assert status.metrics["latency_ms_p95"] is not None
    assert wait_for(lambda: threading.active_count() <= threads_before, 5)  # no thread leak


def test_wrong_credentials_are_reported_and_right_ones_work(demo_material) -> None:
    camera = RtspCamera(demo_material["frames"], user="alice", password="s3cret").start()
    try:
        wrong = CameraReader(
            "cam", parse_source(camera.url.replace("rtsp://", "rtsp://alice:nope@")), backoff_initial=0.2
        ).start()
        right = CameraReader(
            "cam", parse_source(camera.url.replace("rtsp://", "rtsp://alice:s3cret@"))
        ).start()
        assert wait_for(lambda: wrong.state == CameraState.RECONNECTING, 10)
        assert wait_for(lambda: right.state == CameraState.LIVE, 15)
        assert "credentials" in (wrong.last_error or "") and "nope" not in (wrong.last_error or "")
        assert right.slot.get(timeout=5) is not None
        wrong.stop()
        right.stop()
    finally:
        camera.kill()


def test_udp_transport(demo_material) -> None:
    camera = RtspCamera(demo_material["frames"]).start()
    try:
        reader = CameraReader("udp", parse_source(camera.url, rtsp_transport="udp")).start()
        frame = None
        deadline = time.monotonic() + 15
        while frame is None and time.monotonic() < deadline:
            frame = reader.slot.get(timeout=1)
        reader.stop()
        assert frame is not None and frame.image.shape == (360, 640, 3)
    finally:
        camera.kill()
