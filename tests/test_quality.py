"""Quality measures move the right way when a face is degraded, and the gate follows settings."""

from __future__ import annotations

import cv2
import numpy as np

from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer
from openlfr.vision.quality import combined_score, head_pose


def only_face(analyzer: FaceAnalyzer, image: np.ndarray):
    faces = analyzer.analyze(np.ascontiguousarray(image), embed=False)
    assert len(faces) == 1
    return faces[0]


def test_blur_lowers_sharpness_and_quality(analyzer: FaceAnalyzer, astronaut: np.ndarray) -> None:
    sharp = only_face(analyzer, astronaut).quality
    blurred = only_face(analyzer, cv2.GaussianBlur(astronaut, (0, 0), 4)).quality
    assert blurred.sharpness < sharp.sharpness / 4
    assert blurred.score < sharp.score


def test_smaller_face_has_fewer_eye_pixels_and_lower_quality(
    analyzer: FaceAnalyzer, astronaut: np.ndarray
) -> None:
    full = only_face(analyzer, astronaut).quality
    small = only_face(
        analyzer, cv2.resize(astronaut, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    ).quality
    assert abs(small.inter_eye - 0.3 * full.inter_eye) < 2
    assert small.score < full.score


def test_dark_face_loses_brightness_and_quality(analyzer: FaceAnalyzer, astronaut: np.ndarray) -> None:
    full = only_face(analyzer, astronaut).quality
    dark = only_face(analyzer, (astronaut * 0.2).astype(np.uint8)).quality
    assert dark.brightness < full.brightness * 0.3
    assert dark.score < full.score


def test_roll_follows_image_rotation(analyzer: FaceAnalyzer, yaoming: np.ndarray) -> None:
    upright = only_face(analyzer, yaoming).quality
    h, w = yaoming.shape[:2]
    tilted = cv2.warpAffine(
        yaoming, cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0), (w, h), borderMode=cv2.BORDER_REFLECT
    )
    turned = only_face(analyzer, tilted).quality
    # OpenCV's positive angle turns the picture anticlockwise, so the eye line's angle drops by 25°.
    assert abs((upright.roll - turned.roll) - 25) < 5


def test_mirror_flips_the_sign_of_yaw() -> None:
    frontal = np.array([[[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]]])
    turned = frontal.copy()
    turned[0, 2, 0] += 12  # nose moves towards the image's right
    mirrored = turned.copy()
    mirrored[..., 0] = 112 - mirrored[..., 0]
    mirrored = mirrored[:, [1, 0, 2, 4, 3]]
    yaw_front, yaw_turned, yaw_mirror = (head_pose(p)[0, 0] for p in (frontal, turned, mirrored))
    assert abs(yaw_front) < 1 and yaw_turned > 20 and abs(yaw_turned + yaw_mirror) < 1e-6


def test_profile_face_quality_is_below_frontal(analyzer: FaceAnalyzer, samples) -> None:
    gdp = analyzer.load(samples["gdp"])
    players = [face for face in analyzer.analyze(gdp, embed=False) if face.quality.inter_eye > 15]
    by_yaw = sorted(players, key=lambda face: abs(face.quality.yaw))
    assert abs(by_yaw[-1].quality.yaw) > 30  # the player turned to the side
    assert by_yaw[-1].quality.score < min(face.quality.score for face in by_yaw[:-1])


def test_combined_score_bounds() -> None:
    perfect = combined_score(
        np.array([80.0]), np.zeros((1, 3)), np.array([1e6]), np.array([128.0]), np.array([0.95])
    )
    hopeless = combined_score(
        np.array([4.0]), np.zeros((1, 3)), np.array([500.0]), np.array([128.0]), np.array([0.9])
    )
    assert 0.99 < perfect[0] <= 1.0
    assert hopeless[0] == 0.0


def test_gate_follows_settings(players: np.ndarray) -> None:
    lenient = FaceAnalyzer(load_settings(quality={"min_quality": 0.0, "min_inter_eye": 0}))
    strict = FaceAnalyzer(load_settings(quality={"min_quality": 0.0, "min_inter_eye": 19}))
    faces = lenient.analyze(players, embed=False)
    assert all(lenient.passes_gate(face) for face in faces)
    assert sum(strict.passes_gate(face) for face in faces) == sum(
        face.quality.inter_eye >= 19 for face in faces
    )
