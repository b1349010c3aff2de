"""SCRFD detection on real photos shipped with the model package."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.settings import load_settings
from openlfr.vision import Detections, FaceAnalyzer


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = np.maximum(a[:2], b[:2])
    x2, y2 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return float(inter / (area(a) + area(b) - inter))


def matched(found: Detections, reference: Detections, min_iou: float = 0.7) -> int:
    """How many reference boxes have a found box overlapping them by at least min_iou."""
    return sum(any(iou(ref, box) >= min_iou for box in found.boxes) for ref in reference.boxes)


def test_team_photo_has_its_sixteen_people(analyzer: FaceAnalyzer, players: np.ndarray) -> None:
    faces = analyzer.analyze(players, embed=False)
    # 16 people in the line-up (11 standing, 5 crouching) with 15 px or more between the eyes;
    # every other detection is a tiny face in the crowd behind them.
    line_up = [face for face in faces if face.quality.inter_eye >= 15]
    assert len(line_up) == 16
    assert all(face.quality.inter_eye < 10 for face in faces if face.quality.inter_eye < 15)
    # The gate (16 px, quality 0.35) keeps the 15 sharp line-up faces and drops the man cut by the edge.
    usable = [face for face in faces if analyzer.passes_gate(face)]
    assert len(usable) == 15
    assert all(face in line_up for face in usable)


def test_three_players_and_one_portrait(analyzer: FaceAnalyzer, samples, yaoming: np.ndarray) -> None:
    gdp = analyzer.load(samples["gdp"])
    assert sum(analyzer.passes_gate(face) for face in analyzer.analyze(gdp, embed=False)) == 3
    assert len(analyzer.detect(yaoming)) == 1


def test_astronaut_face_is_where_it_is(analyzer: FaceAnalyzer, astronaut: np.ndarray) -> None:
    detections = analyzer.detect(astronaut)
    assert len(detections) == 1
    x1, y1, x2, y2 = detections.boxes[0]
    assert 150 < x1 < 210 and 230 < x2 < 300 and 30 < y1 < 90 and 150 < y2 < 210
    left_eye, right_eye, nose = detections.landmarks[0, :3]
    assert left_eye[0] < nose[0] < right_eye[0]
    assert nose[1] > max(left_eye[1], right_eye[1])


def test_landmarks_lie_inside_their_boxes(analyzer: FaceAnalyzer, players: np.ndarray) -> None:
    detections = analyzer.detect(players)
    boxes, points = detections.boxes, detections.landmarks
    margin = 0.15 * (boxes[:, 2:] - boxes[:, :2])[:, None, :]
    assert np.all(points >= boxes[:, None, :2] - margin)
    assert np.all(points <= boxes[:, None, 2:] + margin)


@pytest.mark.parametrize("size", [(320, 320), (640, 480), (1280, 736)])
def test_any_input_size_finds_the_team(
    size: tuple[int, int], analyzer: FaceAnalyzer, players: np.ndarray
) -> None:
    reference = analyzer.detect(players)
    big = reference[reference.inter_eye > 15]
    other = FaceAnalyzer(load_settings(detector={"input_size": size}))
    found = other.detect(players)
    assert matched(found, big) >= len(big) - (3 if size == (320, 320) else 0)


def test_batch_equals_one_by_one(players: np.ndarray, yaoming: np.ndarray, astronaut) -> None:
    square = FaceAnalyzer(load_settings(detector={"fit_aspect": False}))  # same network shape either way
    images = [players, yaoming, astronaut]
    batched = square.detector.detect_batch(images)
    for image, result in zip(images, batched, strict=True):
        single = square.detect(image)
        assert len(single) == len(result)
        np.testing.assert_allclose(np.sort(single.boxes, axis=0), np.sort(result.boxes, axis=0), atol=1e-3)


def test_fitting_the_aspect_ratio_finds_the_same_faces(analyzer: FaceAnalyzer, players: np.ndarray) -> None:
    square = FaceAnalyzer(load_settings(detector={"fit_aspect": False})).detect(players)
    fitted = analyzer.detect(players)
    assert analyzer.detector.network_size([players]) == (640, 416)
    confident = square[square.scores > 0.7]
    assert matched(fitted, confident, min_iou=0.9) == len(confident)


def test_score_threshold_and_min_size_are_honoured(players: np.ndarray) -> None:
    strict = FaceAnalyzer(load_settings(detector={"score_threshold": 0.8})).detect(players)
    assert len(strict) > 0 and strict.scores.min() >= 0.8
    loose = FaceAnalyzer(load_settings(detector={"score_threshold": 0.3})).detect(players)
    assert len(loose) > len(strict)
    big_only = FaceAnalyzer(load_settings(detector={"min_face_size": 35})).detect(players)
    sides = np.minimum(
        big_only.boxes[:, 2] - big_only.boxes[:, 0], big_only.boxes[:, 3] - big_only.boxes[:, 1]
    )
    assert len(big_only) >= 16 and sides.min() >= 35


def test_blank_and_tiny_images_have_no_faces(analyzer: FaceAnalyzer) -> None:
    assert len(analyzer.detect(np.full((480, 640, 3), 127, np.uint8))) == 0
    assert len(analyzer.detect(np.zeros((1, 1, 3), np.uint8))) == 0
    assert len(analyzer.detect(np.zeros((3000, 20, 3), np.uint8))) == 0
