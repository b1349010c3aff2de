"""Probe templates for a retrospective search: every face of a still, or one per track of a video.

A video is searched per person, not per frame: the live engine's own tracking and best-shot
policy runs over every frame, and each track's fused template becomes one probe, so a person
who walks through a clip is one query with the best view of them behind it.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from openlfr.errors import ImageTooLargeError, NoFaceError, VideoDecodeError
from openlfr.live.alerts import CollectingSink
from openlfr.live.engine import CameraEngine
from openlfr.video import parse_source
from openlfr.video.frames import Frame
from openlfr.video.sources import open_frames
from openlfr.vision import FaceAnalyzer
from openlfr.watchlist import Gallery

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".ts", ".m4v"}


@dataclass(frozen=True)
class Probe:
    """One person to search for: which face or track, where it was seen, and the template."""

    name: str
    seen: str
    template: np.ndarray


class _TrackCollector(CameraEngine):
    """The live engine with nobody to match: each track's fused template is kept when it ends."""

    def __init__(self, analyzer: FaceAnalyzer) -> None:
        empty = Gallery(analyzer.embedder.dimension)
        every_frame = analyzer.settings.live.model_copy(
            update={"detect_interval": 0.0}
        )  # no time budget here
        super().__init__("retrospective", analyzer, empty, CollectingSink(), every_frame)
        self.probes: list[Probe] = []
        self._first_seen: dict[int, float] = {}

    def process(self, frame, t=None):
        alerts = super().process(frame, t)
        for track_id in self.memories:
            self._first_seen.setdefault(track_id, frame.position)
        self._last = frame.position
        return alerts

    def _forget(self, track_id: int) -> None:
        memory = self.memories.get(track_id)
        if memory is not None and memory.embeddings:
            start = self._first_seen.get(track_id, 0.0)
            self.probes.append(
                Probe(
                    f"track {len(self.probes) + 1}",
                    f"{start:.1f}–{getattr(self, '_last', start):.1f} s",
                    memory.fused(),
                )
            )
        super()._forget(track_id)


VIDEO_CONTAINERS = {"mov", "mp4", "matroska", "webm", "avi", "mpegts", "flv", "h264", "hevc", "mpeg", "asf"}


@dataclass(frozen=True)
class VideoLimits:
    """What an uploaded video may cost: the size of its pictures, and how many of them."""

    max_pixels: int = 3840 * 2160
    max_frames: int = 25 * 600


def memory_frames(
    data: bytes, label: str = "the uploaded video", limits: VideoLimits | None = None
) -> Iterator[Frame]:
    """Every frame of a video held in memory (an upload), decoded from RAM: no temporary file.
    A picture larger than ``limits.max_pixels`` is refused from the stream's header, before any
    decoding, and the video is refused at its first frame past ``limits.max_frames``."""
    limits = limits or VideoLimits()
    try:  # no demuxer may open another file or address (a concat list, an HLS playlist…)
        container = av.open(io.BytesIO(data), mode="r", options={"protocol_whitelist": "pipe"})
    except Exception as exc:  # PyAV raises FFmpeg's many error types
        raise VideoDecodeError(f"{label}: not a video that can be decoded ({exc})") from None
    index = 0
    with container:
        if not set(container.format.name.split(",")) & VIDEO_CONTAINERS:
            raise VideoDecodeError(
                f"{label}: {container.format.name} is not a video file format openlfr reads"
            )
        if not container.streams.video:
            raise VideoDecodeError(f"{label}: has no video stream")
        stream = container.streams.video[0]
        stream.codec_context.options = {"max_pixels": str(limits.max_pixels)}  # checked before each picture
        width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
        if width * height > limits.max_pixels:
            raise ImageTooLargeError(
                f"{label}: {width}×{height} pictures are over the limit of {limits.max_pixels:,} pixels"
            )
        try:
            for decoded in container.decode(stream):
                if decoded.width * decoded.height > limits.max_pixels:  # a size change mid-stream
                    raise ImageTooLargeError(
                        f"{label}: a picture of {decoded.width}×{decoded.height} is over the limit"
                    )
                if index >= limits.max_frames:
                    raise ImageTooLargeError(f"{label}: longer than {limits.max_frames:,} frames")
                position = float(decoded.time) if decoded.time is not None else index / 25.0
                yield Frame(decoded.to_ndarray(format="bgr24"), index, position, time.time())
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                f"{label}: corrupt, truncated or with a picture over {limits.max_pixels:,} pixels "
                f"after {index} frame(s) ({exc})"
            ) from None
    if index == 0:
        raise VideoDecodeError(f"{label}: no frame could be decoded")


def video_probes(
    analyzer: FaceAnalyzer, video: Path | bytes, limits: VideoLimits | None = None
) -> list[Probe]:
    """One probe per track that got at least one good shot, in order of appearance (an upload in
    memory within ``limits``)."""
    collector = _TrackCollector(analyzer)
    if isinstance(video, bytes):
        frames = memory_frames(video, limits=limits)
    else:
        decoding = analyzer.settings.live.decode_device
        spec = parse_source(str(video), lossless=True, realtime=False, decode_device=decoding)
        frames = open_frames(spec, threading.Event())
    for frame in frames:
        collector.process(frame)
    collector.finish()
    return sorted(collector.probes, key=lambda p: float(p.seen.split("–")[0]))


FACE_CHOICES = ("dominant", "all", "largest")


def image_probes(analyzer: FaceAnalyzer, image: Path | bytes, faces: str = "dominant") -> list[Probe]:
    """Probes from a still: the face it is of (``dominant``: its only face or a clearly dominant
    one; refused when that is unclear), the ``largest``, or ``all`` that pass the quality gate."""
    if faces not in FACE_CHOICES:
        raise ValueError(f"faces must be one of {', '.join(FACE_CHOICES)}")
    label = image.name if isinstance(image, Path) else "the image"
    picture = analyzer.load(image)
    if faces == "all":
        found = [f for f in analyzer.analyze(picture, every_face=True) if analyzer.passes_gate(f)]
        found.sort(key=lambda f: -f.area)
    else:
        hint = "crop the picture to one person, or search the largest face or all faces (--faces)"
        found = [analyzer.subject_face(picture, label=label, largest=faces == "largest", hint=hint).face]
        found = [f for f in found if analyzer.passes_gate(f)]
    if not found:
        raise NoFaceError(f"{label}: no face of usable quality")
    return [
        Probe(f"face {i}", f"{face.where()}, {face.found_by} pass", face.embedding)
        for i, face in enumerate(found, start=1)
        if face.embedding is not None
    ]


def probes_for(analyzer: FaceAnalyzer, path: Path, faces: str = "dominant") -> list[Probe]:
    return (
        video_probes(analyzer, path)
        if path.suffix.lower() in VIDEO_SUFFIXES
        else image_probes(analyzer, path, faces)
    )
