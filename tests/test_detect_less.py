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
    live = analyzer.settings.live.model_copy(update={"detect_interval": 0.2})
    engine = CameraEngine("cam", analyzer, demo_gallery, CollectingSink(), live)
    CountingPixels.conversions = 0
    for index, frame in enumerate(frames):
        engine.process(Frame(CountingPixels(frame, bgr_pixels), index, index / rate, 0.0))
    detected = len(range(0, 40, 2))  # every 0.2 s
    assert (engine.metrics.frames, engine.metrics.detected_frames) == (40, detected)
    assert CountingPixels.conversions <= 2 * detected  # a scaled picture, and the whole one with faces


@pytest.mark.parametrize("interval", [0.0, 0.2])
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


def test_an_interval_that_would_break_tracks_up_is_refused() -> None:
    """At 0.5 s a walking face's box no longer overlaps where its track was heading: every
    detection starts a new track and none gathers the shots an alert needs."""
    from openlfr.errors import ConfigError
    from openlfr.settings import load_settings

    with pytest.raises(ConfigError, match="detect_interval"):
        load_settings(live={"detect_interval": 0.5})


def test_retrospective_search_looks_at_every_frame_whatever_the_live_interval(
    analyzer, demo_material
) -> None:
    from openlfr.search.probes import video_probes
    from openlfr.settings import load_settings
    from openlfr.vision import FaceAnalyzer

    spaced = FaceAnalyzer(load_settings(live={"detect_interval": 0.2}), analyzer.pack)
    spaced.__dict__.update(detector=analyzer.detector, embedder=analyzer.embedder)  # the same models
    every, sparse = (
        video_probes(analyzer, demo_material["video"]),
        video_probes(spaced, demo_material["video"]),
    )
    assert [p.seen for p in every] == [p.seen for p in sparse] and every
    for a, b in zip(every, sparse, strict=True):
        np.testing.assert_allclose(a.template, b.template, atol=1e-6)


@pytest.mark.shared_data
def test_scene_cuts_are_counted_frame_to_frame_whatever_the_interval(analyzer, shared_data: Path) -> None:
    from openlfr.evaluation.trial import run_live
    from openlfr.watchlist import Gallery

    clip = shared_data / "videos" / "face_recognition_short_hamilton_clip.mp4"
    cuts = {}
    for interval in (0.0, 0.12):
        live = analyzer.settings.live.model_copy(update={"detect_interval": interval})
        _, metrics, _ = run_live(analyzer, clip, Gallery(analyzer.embedder.dimension), live, True)
        cuts[interval] = metrics["scene_cuts"]
    assert cuts[0.12] == cuts[0.0] == 3  # the clip's three cuts, no more
