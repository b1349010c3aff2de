"""Face quality: the measures an operator or auditor can understand, and one combined score.

Measures, per face:
- ``inter_eye``: pixels between the eye centres (resolution);
- ``detector_score``: SCRFD's confidence;
- ``sharpness``: variance of the Laplacian of the aligned 112×112 grey crop (blur and
  up-sampled small faces both score low);
- ``brightness``: mean grey level of the aligned crop, 0–255;
- ``yaw``, ``pitch``, ``roll`` in degrees, estimated from the five landmarks (rough but
  monotonic: enough to prefer a frontal shot).

Combined score, a weighted geometric mean so that one very poor factor sinks the face::

    q = s_size^0.30 · s_pose^0.25 · s_sharp^0.20 · s_light^0.10 · s_det^0.15

    s_size  = clip((inter_eye − 8) / (40 − 8), 0, 1)
    s_pose  = clip(1 − max(|yaw| / 60, |pitch| / 45), 0, 1)
    s_sharp = sharpness / (sharpness + 60)         (half-way at 60)
    s_light = clip(1 − (|brightness − 128| − 64) / 64, 0, 1)   (flat from 64 to 192)
    s_det   = clip((detector_score − 0.3) / (0.8 − 0.3), 0, 1)
"""

from __future__ import annotations

import cv2
import numpy as np

from openlfr.vision.types import Detections, FaceQuality

WEIGHTS = {"size": 0.30, "pose": 0.25, "sharp": 0.20, "light": 0.10, "det": 0.15}
# Where the nose tip sits between the eye line (0) and the mouth line (1) in a frontal face,
# read off the ArcFace template.
FRONTAL_NOSE_HEIGHT = 0.494
# Nose depth relative to the inter-eye distance and to the eye–mouth height; they turn the
# nose's sideways / vertical offset into an angle.
YAW_DEPTH_RATIO = 0.55
PITCH_DEPTH_RATIO = 0.33


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees from (N, 5, 2) landmarks.

    Roll is the angle of the eye line. After removing roll, yaw comes from how far the nose
    sits from the face's midline (in inter-eye units), pitch from how high the nose sits
    between the eye line and the mouth line. Positive yaw: nose towards the image's right.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    left_eye, right_eye, nose = points[:, 0], points[:, 1], points[:, 2]
    mouth = (points[:, 3] + points[:, 4]) / 2
    eye_vector = right_eye - left_eye
    roll = np.arctan2(eye_vector[:, 1], eye_vector[:, 0])
    cos, sin = np.cos(-roll), np.sin(-roll)

    def unroll(p: np.ndarray) -> np.ndarray:
        return np.stack([p[:, 0] * cos - p[:, 1] * sin, p[:, 0] * sin + p[:, 1] * cos], axis=1)

    le, re, no, mo = unroll(left_eye), unroll(right_eye), unroll(nose), unroll(mouth)
    eye_mid = (le + re) / 2
    inter_eye = np.maximum(np.linalg.norm(re - le, axis=1), 1e-6)
    midline_x = (eye_mid[:, 0] + mo[:, 0]) / 2
    yaw = np.arctan2((no[:, 0] - midline_x) / inter_eye, YAW_DEPTH_RATIO)
    height = np.maximum(mo[:, 1] - eye_mid[:, 1], 1e-6)
    nose_height = (no[:, 1] - eye_mid[:, 1]) / height
    pitch = np.arctan2(FRONTAL_NOSE_HEIGHT - nose_height, PITCH_DEPTH_RATIO)
    return np.degrees(np.stack([yaw, pitch, roll], axis=1))


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian over the inner part of each aligned crop."""
    values = np.empty(len(crops), np.float64)
    for i, crop in enumerate(crops):
        size = crop.shape[0]
        margin = size // 8
        grey = cv2.cvtColor(crop[margin : size - margin, margin : size - margin], cv2.COLOR_BGR2GRAY)
        values[i] = cv2.Laplacian(grey, cv2.CV_64F).var()
    return values


def brightness(crops: np.ndarray) -> np.ndarray:
    """Mean grey level of the inner part of each aligned crop."""
    size = crops.shape[1]
    margin = size // 8
    inner = crops[:, margin : size - margin, margin : size - margin].astype(np.float64)
    grey = inner @ np.array([0.114, 0.587, 0.299])
    return grey.mean(axis=(1, 2))


def combined_score(
    inter_eye: np.ndarray,
    pose: np.ndarray,
    sharp: np.ndarray,
    light: np.ndarray,
    detector_score: np.ndarray,
) -> np.ndarray:
    """The weighted geometric mean documented at the top of this module."""
    factors = {
        "size": np.clip((inter_eye - 8.0) / 32.0, 0, 1),
        "pose": np.clip(1 - np.maximum(np.abs(pose[:, 0]) / 60.0, np.abs(pose[:, 1]) / 45.0), 0, 1),
        "sharp": sharp / (sharp + 60.0),
        "light": np.clip(1 - (np.abs(light - 128.0) - 64.0) / 64.0, 0, 1),
        "det": np.clip((detector_score - 0.3) / 0.5, 0, 1),
    }
    score = np.ones_like(inter_eye, dtype=np.float64)
    for name, weight in WEIGHTS.items():
        score *= factors[name] ** weight
    return score


def assess(detections: Detections, crops: np.ndarray) -> list[FaceQuality]:
    """Quality of each detected face, given its aligned crop."""
    if len(detections) == 0:
        return []
    inter_eye = detections.inter_eye.astype(np.float64)
    pose = head_pose(detections.landmarks)
    sharp = sharpness(crops)
    light = brightness(crops)
    det = detections.scores.astype(np.float64)
    total = combined_score(inter_eye, pose, sharp, light, det)
    return [
        FaceQuality(
            inter_eye=float(inter_eye[i]),
            detector_score=float(det[i]),
            sharpness=float(sharp[i]),
            brightness=float(light[i]),
            yaw=float(pose[i, 0]),
            pitch=float(pose[i, 1]),
            roll=float(pose[i, 2]),
            score=float(total[i]),
        )
        for i in range(len(detections))
    ]


def passes_gate(quality: FaceQuality, min_quality: float, min_inter_eye: float) -> bool:
    """The configurable quality gate used before a face is enrolled or matched."""
    return quality.score >= min_quality and quality.inter_eye >= min_inter_eye
