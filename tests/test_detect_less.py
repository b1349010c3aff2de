"""Frames are converted only when looked at, and the detector may look at fewer of them
(``live.detect_interval``) without losing the person on the watchlist."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from openlfr.demo.synthetic import ENROLLED_SUBJECT
from openlfr.live.alerts import CollectingSink
from openlfr.live.engine import CameraEngine
from openlfr.video import parse_source
from openlfr.video.frames import DecodedPixels, Frame
from openlfr.video.sources import bgr_pixels, open_frames
from tests.test_engine import run_video


def decoded(path: Path, count: int) -> list:
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == count:
                return frames
    return frames


def test_the_decoders_scaled_picture_is_the_converted_one_shrunk(tmp_path: Path, players: np.ndarray) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        canvas = np.zeros((720, 1280, 3), np.uint8)
        canvas[: players.shape[0], : min(1280, players.shape[1])] = players[:720, :1280]
        for _ in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(canvas, format="bgr24")))
        out.mux(stream.encode())
    frame = decoded(path, 1)[0]
    lazy, eager = DecodedPixels(frame, bgr_pixels), bgr_pixels(frame)
    small = lazy.scaled(640, 360)
    assert small.shape == (360, 640, 3) and lazy._host is None  # nothing converted in full
    shrunk = cv2.resize(eager, (640, 360), interpolation=cv2.INTER_AREA)
    assert float(np.abs(small.astype(int) - shrunk).mean()) < 2.0
    np.testing.assert_array_equal(lazy.host(), eager)
    assert lazy.small() is small and lazy.shape == eager.shape


def test_a_frame_nobody_looks_at_is_never_converted(demo_material) -> None:
    seen = []
    stop = threading.Event()
    for frame in open_frames(parse_source(str(demo_material["video"]), lossless=True), stop):
        assert isinstance(frame.pixels, DecodedPixels) and frame.pixels._host is None
        seen.append(frame)
        if len(seen) == 3:
            break
    assert seen[0].image.shape == seen[0].pixels.shape  # converted when looked at


class CountingPixels(DecodedPixels):
    conversions = 0

    def host(self) -> np.ndarray:
        if self._host is None:
            CountingPixels.conversions += 1
        return super().host()

    def scaled(self, width: int, height: int) -> np.ndarray:
        CountingPixels.conversions += 1
        return super().scaled(width, height)


def test_between_detections_a_frame_costs_no_conversion(analyzer, demo_gallery, demo_material) -> None:
    frames = decoded(demo_material["video"], 40)
    rate = 10  # the demo camera's frames per second
    live = analyzer.settings.live.model_copy(update={"detect_interval": 0.25})
    engine = CameraEngine("cam", analyzer, demo_gallery, CollectingSink(), live)
    CountingPixels.conversions = 0
    for index, frame in enumerate(frames):
        engine.process(Frame(CountingPixels(frame, bgr_pixels), index, index / rate, 0.0))
    assert engine.metrics.frames == 40
    detected = len(range(0, 40, 3))  # every 0.3 s: the first frame at least 0.25 s after the last
    assert CountingPixels.conversions <= 2 * detected  # a scaled picture, and the whole one with faces


@pytest.mark.parametrize("interval", [0.0, 0.25])
def test_the_enrolled_person_is_found_whatever_the_detection_interval(
    analyzer, demo_gallery, demo_material, interval: float
) -> None:
    alerts, status = run_video(analyzer, demo_gallery, demo_material["video"], detect_interval=interval)
    assert [a.subject for a in alerts] == [ENROLLED_SUBJECT]
    assert status.metrics["errors"] == 0


def test_while_the_preview_is_watched_every_frame_is_detected(analyzer, demo_gallery, demo_material) -> None:
    frames = decoded(demo_material["video"], 12)
    live = analyzer.settings.live.model_copy(update={"detect_interval": 0.5})
    engine = CameraEngine("cam", analyzer, demo_gallery, CollectingSink(), live)
    engine.watch(seconds=60)
    views = []
    for index, frame in enumerate(frames):
        engine.process(Frame(DecodedPixels(frame, bgr_pixels), index, index / 10, 0.0))
        views.append(engine.last_view[0].index if engine.last_view else None)
    assert views == list(range(12))  # the preview never shows a frame older than the one just read
