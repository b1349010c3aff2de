"""Turn untrusted image files or bytes into BGR uint8 arrays, or a typed error.

Pillow reads the header first, so an oversized image (a decompression bomb) is refused
before a single pixel is decoded. EXIF rotation is applied, and greyscale, 16-bit, RGBA,
palette and CMYK images all come out as plain 8-bit BGR, which is what the models expect.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from openlfr.errors import (
    EmptyImageError,
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
)

DEFAULT_MAX_PIXELS = 64_000_000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def read_image_bytes(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a file's bytes with the checks that give a clear message for each failure."""
    path = Path(path)
    if not path.exists():
        raise ImageNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ImageNotFoundError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise EmptyImageError(f"{path}: the file is empty (0 bytes)")
    if size > max_bytes:
        raise ImageTooLargeError(f"{path}: {size} bytes is over the limit of {max_bytes} bytes")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageNotFoundError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_image(
    source: str | Path | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> np.ndarray:
    """Decode an image file (path) or its bytes into an (H, W, 3) BGR uint8 array."""
    if isinstance(source, bytes | bytearray | memoryview):
        data, label = bytes(source), "image"
        if not data:
            raise EmptyImageError("the image is empty (0 bytes)")
        if len(data) > max_bytes:
            raise ImageTooLargeError(f"{len(data)} bytes is over the limit of {max_bytes} bytes")
    else:
        data, label = read_image_bytes(source, max_bytes), str(source)
    return decode_image(data, label=label, max_pixels=max_pixels)


def decode_image(data: bytes, *, label: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode bytes already in memory; see :func:`load_image`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{label}: {width}×{height} pixels is over the limit of {max_pixels:,} "
                    "(refused before decoding)"
                )
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return _to_bgr(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            f"{label}: image dimensions are too large (decompression bomb guard)"
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{label}: not an image, or a format openlfr cannot read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"{label}: corrupt or truncated image ({exc})") from None


def _to_bgr(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to 8-bit BGR."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
    else:
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageDecodeError("decoded image has no pixels")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def encode_jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of a BGR image (for crops shown to people; biometric when it shows a face)."""
    import cv2

    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageDecodeError("could not encode the image as JPEG")
    return data.tobytes()
