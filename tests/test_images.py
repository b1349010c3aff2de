"""Untrusted image input: every bad file gets a typed error; odd-but-valid formats decode to BGR."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openlfr.errors import (
    EmptyImageError,
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
)
from openlfr.vision import load_image
from tests.support.images import png_claiming


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="no such file"):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(ImageNotFoundError, match="not a regular file"):
        load_image(tmp_path)


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyImageError):
        load_image(empty)


def test_text_file_is_not_an_image(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageDecodeError, match="not an image"):
        load_image(text)


def test_truncated_jpeg(samples: dict[str, Path], tmp_path: Path) -> None:
    data = samples["players"].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageDecodeError, match=r"truncated|corrupt"):
        load_image(cut)


def test_decompression_bomb_refused_before_decoding() -> None:
    bomb = png_claiming(20000, 20000)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLargeError, match=r"20000×20000|too large"):
        load_image(bomb)


def test_pixel_limit_is_configurable(yaoming: np.ndarray) -> None:
    data = encode(Image.fromarray(yaoming[:, :, ::-1]), "PNG")
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_pixels=1000)
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_bytes=10)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16"])
def test_unusual_modes_decode_to_bgr(mode: str, yaoming: np.ndarray) -> None:
    rgb = Image.fromarray(yaoming[:, :, ::-1])
    if mode == "I;16":
        values = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        source = Image.fromarray(values)
        assert source.mode.startswith("I;16")
        data = encode(source, "PNG")
    elif mode == "CMYK":
        data = encode(rgb.convert("CMYK"), "JPEG", quality=95)
    else:
        data = encode(rgb.convert(mode), "PNG")
    decoded = load_image(data)
    assert decoded.dtype == np.uint8
    assert decoded.shape == yaoming.shape
    grey_expected = np.asarray(rgb.convert("L"), dtype=np.float64)
    grey_decoded = decoded.astype(np.float64) @ np.array([0.114, 0.587, 0.299])
    assert np.corrcoef(grey_expected.ravel(), grey_decoded.ravel())[0, 1] > 0.95


def test_transparent_pixels_become_white() -> None:
    image = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    decoded = load_image(encode(image, "PNG"))
    assert (decoded == 255).all()


def test_exif_orientation_is_applied(yaoming: np.ndarray) -> None:
    rgb = Image.fromarray(yaoming[:, :, ::-1])
    stored = rgb.transpose(Image.Transpose.ROTATE_90)  # as a sideways camera would store it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    decoded = load_image(encode(stored, "JPEG", quality=95, exif=exif))
    assert decoded.shape == yaoming.shape
    assert np.abs(decoded.astype(int) - yaoming.astype(int)).mean() < 6


def ico_holding(png: bytes) -> bytes:
    """A Windows icon whose one entry is ``png``: Pillow would decode the whole PNG to read its size."""
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


@pytest.mark.parametrize("check", ["load", "header"])
def test_icons_are_not_photos_and_are_refused_before_decoding(check: str) -> None:
    from openlfr.vision.images import check_image

    bomb = ico_holding(png_claiming(20000, 20000))
    read = load_image if check == "load" else check_image
    with pytest.raises(ImageDecodeError, match="not an image openlfr reads"):
        read(bomb)
    icon = encode(Image.new("RGB", (64, 64), "red"), "ICO")
    with pytest.raises(ImageDecodeError, match="not an image openlfr reads"):
        read(icon)


def test_a_header_built_to_be_slow_is_refused_and_a_big_real_photo_is_not() -> None:
    from openlfr.vision.images import HEADER_BYTES, check_image

    markers = b"\xff\xd8" + b"\xff\xfe\x00\x02" * (3 * 2**20 // 4) + b"\xff\xd9"  # 3 MiB of empty comments
    chunk = struct.pack(">I", 0) + b"aaAa" + struct.pack(">I", zlib.crc32(b"aaAa"))
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)
    chunks = (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    ) + chunk * (3 * 2**20 // len(chunk))
    for slow in (markers, chunks):
        with pytest.raises(ImageDecodeError, match="header runs past"):
            check_image(slow)
    noise = np.random.default_rng(1).integers(0, 255, (1600, 1600, 3), np.uint8)
    photo = encode(Image.fromarray(noise), "JPEG", quality=95)
    assert len(photo) > HEADER_BYTES
    assert check_image(photo).size == (1600, 1600)
    tiff = encode(Image.fromarray(noise), "TIFF")  # its directory may follow the pixels
    assert len(tiff) > HEADER_BYTES and check_image(tiff).size == (1600, 1600)
