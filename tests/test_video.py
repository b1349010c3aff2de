"""Sources and readers: every kind of input, and every way it can fail, reported per camera."""

from __future__ import annotations

import contextlib
import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from openlfr.redaction import redact_url as redact
from openlfr.video import CameraReader, CameraState, Frame, FrameSlot, parse_source, sources
from tests.waiting import wait_for


def drain(reader: CameraReader, limit: float = 30.0) -> list[Frame]:
    frames = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        frame = reader.slot.get(timeout=0.2)
        if frame is not None:
            frames.append(frame)
        elif reader.slot.closed:
            break
    return frames


def test_uri_kinds_and_password_redaction(tmp_path: Path) -> None:
    assert parse_source("rtsp://cam/1").kind == "rtsp"
    assert parse_source("https://host/live.m3u8").kind == "http"
    assert parse_source("/dev/video0").kind == "webcam"
    assert parse_source(str(tmp_path)).kind == "folder"
    assert parse_source("file:///x/y.mp4").uri == "/x/y.mp4"
    spec = parse_source("rtsp://admin:hunter2@10.0.0.5:554/stream")
    assert "hunter2" not in spec.display_uri and "admin" in spec.display_uri
    assert redact("rtsp://host/no-credentials") == "rtsp://host/no-credentials"


def test_lossless_file_gives_every_frame_in_order(demo_material) -> None:
    reader = CameraReader("file", parse_source(str(demo_material["video"]), lossless=True)).start()
    frames = drain(reader)
    reader.stop()
    assert [f.index for f in frames] == list(range(60))
    assert frames[0].image.shape == (360, 640, 3)
    assert reader.state == CameraState.ENDED and reader.slot.dropped == 0
    assert np.all(np.diff([f.position for f in frames]) > 0)


def test_slow_consumer_gets_newest_frame_and_drops_are_counted() -> None:
    slot = FrameSlot()
    for i in range(5):
        slot.put(Frame(np.zeros((2, 2, 3), np.uint8), i, i / 10, time.time()))
    newest = slot.get(timeout=0.1)
    assert newest is not None and newest.index == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0.05) is None


class SteppedClock:
    """time.monotonic for FrameSlot, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_frames_wait_in_order_up_to_max_lag_and_older_ones_are_dropped(monkeypatch) -> None:
    clock = SteppedClock()
    monkeypatch.setattr("openlfr.video.frames.time.monotonic", clock)
    slot = FrameSlot(max_lag=0.2)
    for i in range(10):  # 25 fps: frames 0.04 s apart; 0.2 s holds six of them
        slot.put(Frame(np.zeros((2, 2, 3), np.uint8), i, i / 25, time.time()))
        clock.now += 0.04
    waiting = [slot.get(timeout=0.05) for _ in range(6)]
    assert [f.index for f in waiting if f is not None] == [4, 5, 6, 7, 8, 9]
    assert slot.dropped == 4 and slot.get(timeout=0.05) is None


def test_a_wall_clock_set_back_or_forward_neither_keeps_nor_drops_frames(monkeypatch) -> None:
    """captured_at is the wall clock, which an NTP step moves; waiting is timed on arrival."""
    clock = SteppedClock()
    monkeypatch.setattr("openlfr.video.frames.time.monotonic", clock)
    slot = FrameSlot(max_lag=0.2)
    for i, wall in enumerate([5000.0, 4998.0, 4998.04, 8600.0, 8600.04]):  # back 2 s, then on 1 h
        slot.put(Frame(np.zeros((2, 2, 3), np.uint8), i, i / 25, wall))
        clock.now += 0.04
    assert slot.dropped == 0
    clock.now += 0.3  # then the engine stalls: the frames that waited too long go, whatever their stamps
    slot.put(Frame(np.zeros((2, 2, 3), np.uint8), 5, 5 / 25, 4000.0))
    assert slot.dropped == 5 and slot.get(timeout=0.05).index == 5


def test_max_lag_zero_keeps_only_the_newest_frame_even_at_the_same_instant(monkeypatch) -> None:
    monkeypatch.setattr("openlfr.video.frames.time.monotonic", SteppedClock())
    slot = FrameSlot(max_lag=0.0)
    for i in range(5):
        slot.put(Frame(np.zeros((2, 2, 3), np.uint8), i, 0.0, 100.0))
    newest = slot.get(timeout=0.05)
    assert newest is not None and newest.index == 4 and slot.dropped == 4


def test_however_long_max_lag_the_memory_held_by_waiting_frames_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr("openlfr.video.frames.time.monotonic", SteppedClock())
    slot = FrameSlot(max_lag=1.0)
    uhd = np.zeros((2160, 3840, 3), np.uint8)  # 24 MB each as BGR
    for i in range(10):  # all arrive at once: only memory bounds them
        slot.put(Frame(uhd, i, 0.0, 100.0))
    fits = FrameSlot.MOST_BYTES // uhd.nbytes
    assert slot.dropped == 10 - fits
    first = slot.get(timeout=0.05)
    assert first is not None and first.index == 10 - fits
    one = FrameSlot(max_lag=1.0)  # a frame bigger than the whole budget still gets through, alone
    huge = np.zeros((FrameSlot.MOST_BYTES + 1,), np.uint8)
    one.put(Frame(huge, 0, 0.0, 100.0))
    one.put(Frame(huge, 1, 0.0, 100.0))
    assert one.dropped == 1 and one.get(timeout=0.05).index == 1


def test_cameras_decode_without_frame_threads_and_files_read_flat_out_with_them(demo_material) -> None:
    """Frame threads hand each frame out a frame per thread late: only files, and cameras too big
    for one core, pay that."""
    video, hd, uhd = str(demo_material["video"]), 1920 * 1080, 3840 * 2160
    assert sources.decoder_threads(parse_source(video, realtime=True), hd) == "SLICE"
    assert sources.decoder_threads(parse_source("rtsp://127.0.0.1:1/cam"), hd) == "SLICE"
    assert sources.decoder_threads(parse_source("rtsp://127.0.0.1:1/cam"), uhd) == "AUTO"
    assert sources.decoder_threads(parse_source(video, lossless=True), hd) == "AUTO"


def test_realtime_pacing_plays_at_media_speed(demo_material) -> None:
    reader = CameraReader("paced", parse_source(str(demo_material["video"]), realtime=True)).start()
    started = time.monotonic()
    drain(reader)
    reader.stop()
    assert time.monotonic() - started > 4.5  # 60 frames at 10 fps


def test_looping_file_keeps_going(demo_material) -> None:
    reader = CameraReader("loop", parse_source(str(demo_material["video"]), loop=True, lossless=True)).start()
    frames = []
    while len(frames) < 130:
        frame = reader.slot.get(timeout=5)
        assert frame is not None
        frames.append(frame)
    reader.stop()
    assert [f.index for f in frames[58:63]] == [58, 59, 0, 1, 2]


def test_image_folder_skips_unreadable_files(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 30, 3), i * 50, np.uint8))
    (tmp_path / "3.png").write_bytes(b"broken")
    reader = CameraReader("folder", parse_source(str(tmp_path), lossless=True)).start()
    frames = drain(reader)
    assert len(frames) == 3 and reader.state == CameraState.ENDED


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        (b"", "not a video|no frame|Invalid"),
        (b"plain text, not a video\n" * 50, "not a video"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    reader = CameraReader("bad", parse_source(str(path))).start()
    assert wait_for(lambda: reader.state == CameraState.FAILED, 10)
    reader.stop()
    assert reader.last_error is not None
    assert any(word in reader.last_error for word in reason.split("|"))


def test_truncated_video_yields_what_it_has_then_ends(tmp_path: Path, demo_material) -> None:
    data = demo_material["video"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    reader = CameraReader("cut", parse_source(str(cut), lossless=True)).start()
    frames = drain(reader)
    reader.stop()
    # the moov atom sits at the end of this MP4, so a half file may hold no playable frame at all:
    # either it fails with a reason or it ends after the frames it has; it never hangs.
    assert reader.state in (CameraState.ENDED, CameraState.FAILED)
    if reader.state == CameraState.FAILED:
        assert reader.last_error and not frames
    else:
        assert 0 < len(frames) < 60


def test_unreachable_camera_retries_with_growing_backoff() -> None:
    with socket.socket() as sock:  # bound but not listening: refused, and no server can take the port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        reader = CameraReader(
            "gone",
            parse_source(f"rtsp://user:pw@127.0.0.1:{port}/x", open_timeout=2),
            backoff_initial=0.1,
            backoff_max=0.4,
        ).start()
        assert wait_for(lambda: reader.state == CameraState.RECONNECTING)
        time.sleep(1.5)
        status = reader.status()
    started = time.monotonic()
    reader.stop()
    assert time.monotonic() - started < 3
    assert "connection refused" in (status.last_error or "")
    assert "pw" not in (status.last_error or "")
    assert status.connects == 0


def test_stalled_stream_times_out_and_reconnects() -> None:
    """A server that accepts the connection and then never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    reader = CameraReader(
        "stalled",
        parse_source(f"rtsp://127.0.0.1:{port}/x", open_timeout=1, read_timeout=1),
        backoff_initial=0.1,
    ).start()
    try:
        assert wait_for(lambda: reader.state == CameraState.RECONNECTING and len(held) >= 2, 15)
        assert "timed out" in (reader.last_error or "")
    finally:
        started = time.monotonic()
        reader.stop()
        stop.set()
        thread.join(2)
        listener.close()
        for conn in held:
            conn.close()
    assert time.monotonic() - started < 4


def test_missing_webcam_is_reported_and_retried() -> None:
    reader = CameraReader("webcam", parse_source("/dev/video99"), backoff_initial=0.1).start()
    assert wait_for(lambda: reader.state == CameraState.RECONNECTING)
    reader.stop()
    assert "no such camera device" in (reader.last_error or "")


class _MjpegHandler(http.server.BaseHTTPRequestHandler):
    frames: ClassVar[list[bytes]] = []

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            for jpeg in self.frames:
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n")
                self.wfile.write(f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 for the test's duration; yields its base URL."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def read_frames(url: str, name: str, count: int) -> list[Frame]:
    """The first ``count`` frames a reader gets from ``url``, in order."""
    reader = CameraReader(name, parse_source(url, lossless=True), backoff_initial=5).start()
    frames = []
    try:
        while len(frames) < count:
            frame = reader.slot.get(timeout=10)
            assert frame is not None, reader.last_error
            frames.append(frame)
    finally:
        reader.stop()
    return frames


def test_http_mjpeg_stream(demo_material) -> None:
    files = sorted(demo_material["frames"].glob("*.jpg"))[:20]
    _MjpegHandler.frames = [f.read_bytes() for f in files]
    with http_server(_MjpegHandler) as base:
        frames = read_frames(f"{base}/stream.mjpg", "mjpeg", 15)
    assert frames[0].image.shape == (360, 640, 3)
    assert [f.index for f in frames] == list(range(15))


def remux(source: Path, target: Path, fmt: str, options: dict[str, str] | None = None) -> None:
    """Copy the H.264 packets of ``source`` into another container (MPEG-TS, HLS) without re-encoding."""
    import av

    with (
        av.open(str(source)) as reader,
        av.open(str(target), "w", format=fmt, options=options or {}) as writer,
    ):
        stream = reader.streams.video[0]
        out = writer.add_stream_from_template(stream)
        for packet in reader.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = out
            writer.mux(packet)


@pytest.mark.parametrize(
    ("name", "fmt", "options"),
    [("clip.ts", "mpegts", None), ("index.m3u8", "hls", {"hls_time": "2", "hls_list_size": "0"})],
)
def test_http_mpegts_and_hls(tmp_path: Path, demo_material, name: str, fmt: str, options) -> None:
    remux(demo_material["video"], tmp_path / name, fmt, options)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Quiet) as base:
        frames = read_frames(f"{base}/{name}", fmt, 50)
    assert frames[-1].image.shape == (360, 640, 3)
