"""A demo camera and watchlist made at run time from photos shipped inside the model package.

No data set is needed: the video pans across the team photo (Yao Ming stands in its back
row) and then zooms on the astronaut from scikit-image's sample data when it is installed.
The watchlist holds Yao Ming from a *different* photo (``yaoming.jpg``) plus the three
players of ``gdp.jpg``, who never appear in the video. The expected outcome is therefore
known: alerts for ``yao_ming`` and for nobody else.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from openlfr.models import sample_image_paths

WIDTH, HEIGHT, FPS = 640, 360, 10
ENROLLED_SUBJECT = "yao_ming"
# Face boxes of the three players in gdp.jpg (x1, y1, x2, y2) with generous margins.
GDP_PLAYERS = {
    "player_21": (100, 0, 225, 160),
    "player_20": (240, 20, 360, 200),
    "player_9": (320, 80, 440, 240),
}


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return image


def _view(image: np.ndarray, cx: float, cy: float, width: float) -> np.ndarray:
    """A WIDTH×HEIGHT view of ``image`` centred on (cx, cy) showing ``width`` source pixels across."""
    scale = WIDTH / width
    matrix = np.array([[scale, 0, WIDTH / 2 - cx * scale], [0, scale, HEIGHT / 2 - cy * scale]], np.float32)
    return cv2.warpAffine(
        image, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _astronaut() -> np.ndarray | None:
    try:
        from skimage import data
    except ImportError:
        return None
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def demo_frames(seconds_on_team: float = 4.0, seconds_on_astronaut: float = 2.0) -> Iterator[np.ndarray]:
    """BGR frames of the demo camera."""
    team = _read(sample_image_paths()["players"])
    steps = int(seconds_on_team * FPS)
    for i in range(steps):  # pan from the left of the back row to Yao Ming, zooming in slightly
        u = i / max(steps - 1, 1)
        yield _view(team, 420 + 320 * u, 230 - 40 * u, 560 - 120 * u)
    astronaut = _astronaut()
    if astronaut is not None:
        steps = int(seconds_on_astronaut * FPS)
        for i in range(steps):
            u = i / max(steps - 1, 1)
            yield _view(astronaut, 225, 140, 480 - 160 * u)


def write_video(path: Path, frames: Iterator[np.ndarray], fps: int = FPS, crf: int = 20) -> int:
    """Encode frames as H.264 in MP4 with PyAV (size from the first frame); returns the frame count."""
    count = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps, 1))
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(crf), "g": str(fps)}
        for image in frames:
            if count == 0:
                stream.height, stream.width = image.shape[:2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
            count += 1
        for packet in stream.encode(None):
            container.mux(packet)
    return count


def write_frames(folder: Path, frames: Iterator[np.ndarray]) -> int:
    """Write frames as a numbered JPEG sequence (what the test RTSP server loops)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for count, image in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"{count:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return count


def write_watchlist(folder: Path) -> Path:
    """The demo watchlist: Yao Ming from his portrait, and three players who never appear."""
    samples = sample_image_paths()
    (folder / ENROLLED_SUBJECT).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / ENROLLED_SUBJECT / "portrait.png"), _read(samples["yaoming"]))
    gdp = _read(samples["gdp"])
    for name, (x1, y1, x2, y2) in GDP_PLAYERS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        crop = cv2.resize(gdp[y1:y2, x1:x2], None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / name / "photo.png"), crop)
    return folder
