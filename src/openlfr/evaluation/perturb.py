"""Photos made harder in the ways real ones are: tight crops, small faces, rotation, compression,
blur, low light and occlusion. Each takes a clean photo and its face (box and landmarks, from
the clean photo) and returns a new picture whose subject is the central face.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import cv2
import numpy as np

FRAME = (1280, 720)  # a camera frame, for faces placed small in a large picture

Perturbation = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def tight(image: np.ndarray, box: np.ndarray, scale: float, width: int) -> np.ndarray:
    """The photo cropped to the face box scaled by ``scale`` about its centre (mirroring the photo
    where the crop runs past it), resized to ``width`` pixels wide."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * scale, (y2 - y1) * scale
    top, left, bottom, right = round(cy - h / 2), round(cx - w / 2), round(cy + h / 2), round(cx + w / 2)
    pad = max(0, -top, -left, bottom - image.shape[0], right - image.shape[1])
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    crop = padded[top + pad : bottom + pad, left + pad : right + pad]
    height = max(1, round(width * crop.shape[0] / crop.shape[1]))
    shrink = width < crop.shape[1]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def in_frame(image: np.ndarray, box: np.ndarray, face_width: float) -> np.ndarray:
    """The photo scaled so its face is ``face_width`` pixels wide, in the middle of a grey frame."""
    scale = face_width / max(float(box[2] - box[0]), 1.0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    width, height = FRAME
    matrix = np.array([[scale, 0, width / 2 - cx * scale], [0, scale, height / 2 - cy * scale]], np.float32)
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.warpAffine(
        image, matrix, FRAME, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=(110, 110, 110)
    )


def rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    centre = (image.shape[1] / 2, image.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    assert decoded is not None
    return decoded


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def low_light(image: np.ndarray, gain: float = 0.25, noise: float = 4.0, seed: int = 0) -> np.ndarray:
    """Darker by ``gain`` with sensor noise, as an unlit street at night."""
    rng = np.random.default_rng(seed)
    dark = image.astype(np.float32) * gain + rng.normal(0, noise, image.shape)
    return np.clip(dark, 0, 255).astype(np.uint8)


def occluded(image: np.ndarray, landmarks: np.ndarray, part: str) -> np.ndarray:
    """A dark band over the eyes (sunglasses) or a grey patch over the nose tip, mouth and chin (a mask)."""
    out = image.copy()
    points = np.asarray(landmarks, np.float32)
    eye_gap = float(np.linalg.norm(points[1] - points[0]))
    if part == "eyes":
        centre = points[:2].mean(axis=0)
        half_w, half_h = eye_gap * 1.0, eye_gap * 0.3
        colour = (20, 20, 20)
    else:
        top = float(points[2, 1]) + eye_gap * 0.1
        centre = np.array([points[3:, 0].mean(), top + eye_gap * 0.6])
        half_w, half_h = eye_gap * 1.0, eye_gap * 0.6
        colour = (200, 200, 205)
    x1, y1 = round(centre[0] - half_w), round(centre[1] - half_h)
    x2, y2 = round(centre[0] + half_w), round(centre[1] + half_h)
    cv2.rectangle(out, (max(x1, 0), max(y1, 0)), (x2, y2), colour, -1)
    return out


def _tight(image: np.ndarray, box: np.ndarray, points: np.ndarray, scale: float, width: int) -> np.ndarray:
    return tight(image, box, scale, width)


def _in_frame(image: np.ndarray, box: np.ndarray, points: np.ndarray, face: int) -> np.ndarray:
    return in_frame(image, box, face)


def _rotated(image: np.ndarray, box: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    return rotated(image, degrees)


def conditions() -> dict[str, Perturbation]:
    """Every perturbation of the robustness benchmark, by the name its table row shows."""
    table: dict[str, Perturbation] = {"clean": lambda image, box, points: image}
    for scale in (1.0, 1.1, 1.25, 1.5, 2.0):
        for width in (80, 160, 400):
            table[f"tight {scale:g}× box, {width} px wide"] = partial(_tight, scale=scale, width=width)
    for face in (24, 32, 48, 100, 200, 400):
        table[f"face {face} px wide in a {FRAME[0]}×{FRAME[1]} frame"] = partial(_in_frame, face=face)
    for degrees in (15, 30, 45, -45):
        table[f"rotated {degrees:+d}°"] = partial(_rotated, degrees=degrees)
    table["JPEG quality 20"] = lambda image, box, points: jpeg(image, 20)
    table["blur σ 2 px"] = lambda image, box, points: blurred(image, 2.0)
    table["blur σ 4 px"] = lambda image, box, points: blurred(image, 4.0)
    table["low light (×0.25, noise)"] = lambda image, box, points: low_light(image)
    table["eyes covered"] = lambda image, box, points: occluded(image, points, "eyes")
    table["mouth covered"] = lambda image, box, points: occluded(image, points, "mouth")
    return table
