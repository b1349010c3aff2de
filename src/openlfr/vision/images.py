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
DEFAULT_MAX_DECODED_BYTES = 512 * 1024 * 1024
# Photo formats whose header states the picture's true size. Containers that hold other images
# (ICO, ICNS, MPO…) are not among them: Pillow decodes the image inside to learn its size.
HEADER_BYTES = 2**20  # a GIF's screen, palette and extensions before its first picture fit many times over
MAX_HEADER_SEGMENTS = 1000  # JPEG markers or PNG chunks before the size: photos have a few dozen
SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    *((f"P{n}".encode(), "PPM") for n in range(1, 7)),
)
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM")


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
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
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
    return decode_image(data, label=label, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)


def decoded_size(mode: str, width: int, height: int) -> int:
    """Bytes the picture takes once decoded (at least the 3 bytes a pixel of the BGR result):
    what decoding it would cost in memory, known from its header alone."""
    try:
        bands = Image.getmodebands(mode)
    except (KeyError, ValueError):
        bands = 4
    per_band = 2 if mode.startswith("I;16") else 4 if mode in ("I", "F", "I;32") else 1
    return width * height * max(bands * per_band, 3)


def photo_format(data: bytes) -> str | None:
    """Which of ``PHOTO_FORMATS`` the bytes say they are, from their signature alone."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((kind for magic, kind in SIGNATURES if data.startswith(magic)), None)


def _segments_before_pixels(data: bytes, kind: str) -> int:
    """How many JPEG markers or PNG chunks come before the picture's size (up to one more than
    ``MAX_HEADER_SEGMENTS``), by jumping from length to length: a file of millions of empty ones
    is told apart in microseconds, while a photo with megabytes of metadata in a few segments passes."""
    count, position = 0, 2 if kind == "JPEG" else 8
    while count <= MAX_HEADER_SEGMENTS and position + 8 <= len(data):
        if kind == "JPEG":
            marker = data[position + 1]
            if (
                data[position] != 0xFF
                or marker == 0xDA
                or (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC))
            ):
                return count  # the frame header (its size) or something for the decoder to judge
            standalone = marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD8
            position += (
                1
                if marker == 0xFF
                else 2
                if standalone
                else 2 + int.from_bytes(data[position + 2 : position + 4])
            )
        elif kind == "PNG":
            if data[position + 4 : position + 8] == b"IDAT":
                return count
            position += 12 + int.from_bytes(data[position : position + 4])
        else:
            return 0
        count += 1
    return count


def _header_runs_past(data: bytes, kind: str) -> bool:
    """Whether reading the header of ``data`` needs more than its first ``HEADER_BYTES``: the parser
    is given only those, and we look at how far it read."""
    head = io.BytesIO(data[:HEADER_BYTES])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the size is judged later, on the whole file
            Image.open(head, formats=(kind,)).size  # noqa: B018
    except Exception:
        pass
    return head.tell() >= HEADER_BYTES - 1


def check_image(
    data: bytes,
    *,
    label: str = "image",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> Image.Image:
    """The picture opened from its header only, refused if it is not one or would be too big
    decoded; nothing is decoded yet. A file built to be slow to parse is refused quickly: more
    than ``MAX_HEADER_SEGMENTS`` JPEG markers or PNG chunks before the size, or a GIF header past
    ``HEADER_BYTES``."""
    kind = photo_format(data)
    if kind is None:
        raise ImageDecodeError(f"{label}: not an image openlfr reads ({', '.join(PHOTO_FORMATS)})")
    if _segments_before_pixels(data, kind) > MAX_HEADER_SEGMENTS or (
        kind == "GIF" and len(data) > HEADER_BYTES and _header_runs_past(data, kind)
    ):
        raise ImageDecodeError(
            f"{label}: its header runs past {MAX_HEADER_SEGMENTS} segments or {HEADER_BYTES // 2**20} MiB, "
            "which no photo openlfr reads needs"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=(kind,))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            f"{label}: image dimensions are too large (decompression bomb guard)"
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{label}: not an image openlfr reads ({', '.join(PHOTO_FORMATS)})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"{label}: corrupt or truncated image ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{label}: {width}×{height} pixels is over the limit of {max_pixels:,} (refused before decoding)"
        )
    size = decoded_size(image.mode, width, height)
    if size > max_decoded_bytes:
        raise ImageTooLargeError(
            f"{label}: {width}×{height} {image.mode} would take {size / 2**20:,.0f} MiB decoded, over the "
            f"limit of {max_decoded_bytes / 2**20:,.0f} MiB (refused before decoding)"
        )
    return image


def decode_image(
    data: bytes,
    *,
    label: str = "image",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> np.ndarray:
    """Decode bytes already in memory; see :func:`load_image`."""
    image = check_image(data, label=label, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return _to_bgr(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            f"{label}: image dimensions are too large (decompression bomb guard)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"{label}: corrupt or truncated image ({exc})") from None


def _to_bgr(image: Image.Image) -> np.ndarray:
    """Any Pillow mode to 8-bit BGR."""
    mode = image.mode
    if mode.startswith("I;16"):  # 16-bit grey: the top byte, with no wide temporaries
        grey = (np.asarray(image).astype(np.uint16, copy=False) >> 8).astype(np.uint8)
        rgb = np.repeat(grey[:, :, None], 3, axis=2)
    elif mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
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


def decode_jpeg(data: bytes) -> np.ndarray:
    """A BGR image from JPEG bytes we wrote ourselves (a sealed crop); refused if they do not decode."""
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError("a stored JPEG does not decode")
    return image
