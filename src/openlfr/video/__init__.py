"""Video sources, decoding, the newest-frame hand-over and reconnection. Knows nothing else of openlfr."""

from openlfr.video.frames import Frame, FrameSlot
from openlfr.video.reader import CameraReader, CameraState, ReaderStatus
from openlfr.video.sources import SourceError, SourceSpec, parse_source

__all__ = [
    "CameraReader",
    "CameraState",
    "Frame",
    "FrameSlot",
    "ReaderStatus",
    "SourceError",
    "SourceSpec",
    "parse_source",
]
