"""Recognition on the real public sets in ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from openlfr.evaluation.embeddings import embed_images
from openlfr.evaluation.lfw import pair_scores, read_pairs
from openlfr.vision import Face, FaceAnalyzer

pytestmark = pytest.mark.shared_data


def largest_face(analyzer: FaceAnalyzer, path: Path) -> Face:
    return analyzer.subject_face(analyzer.load(path), label=path.name, largest=True).face


def test_deepface_pairs_separate_same_from_different(shared_data: Path, pack_analyzer: FaceAnalyzer) -> None:
    analyzer = pack_analyzer
    folder = shared_data / "deepface_tests"
    rows = list(csv.DictReader((folder / "face-recognition-pivot.csv").open()))
    faces = cache(lambda name: largest_face(analyzer, folder / "images" / name))
    genuine, impostor = [], []
    for row in rows:
        a, b = (faces(Path(row[key]).name) for key in ("file_x", "file_y"))
        (genuine if row["decision"] == "Yes" else impostor).append(analyzer.compare(a, b))
    genuine, impostor = np.array(genuine), np.array(impostor)
    assert len(genuine) == len(impostor) == 140
    assert genuine.mean() - impostor.mean() > 0.45
    threshold = analyzer.settings.recognition.verify_threshold
    accuracy = (np.sum(genuine >= threshold) + np.sum(impostor < threshold)) / 280
    assert accuracy >= 0.97


def test_group_photos_have_their_people(shared_data: Path, pack_analyzer: FaceAnalyzer) -> None:
    analyzer = pack_analyzer
    folder = shared_data / "face_recognition_examples" / "examples"

    def usable(name: str) -> list[Face]:
        return [face for face in analyzer.analyze(analyzer.load(folder / name)) if analyzer.passes_gate(face)]

    assert len(usable("two_people.jpg")) == 2
    assert len(usable("knn_examples/test/kit_with_rose.jpg")) == 2
    assert len(usable("knn_examples/test/obama_and_biden.jpg")) >= 2


def test_same_person_across_resolutions_and_not_the_others(
    shared_data: Path, pack_analyzer: FaceAnalyzer
) -> None:
    analyzer = pack_analyzer
    folder = shared_data / "face_recognition_examples" / "examples"
    obama = largest_face(analyzer, folder / "obama.jpg")
    threshold = analyzer.settings.recognition.verify_threshold
    for variant in ("obama-1080p.jpg", "obama-720p.jpg", "obama-480p.jpg", "obama-240p.jpg", "obama2.jpg"):
        assert analyzer.compare(obama, largest_face(analyzer, folder / variant)) > threshold + 0.15, variant
    for stranger in ("biden.jpg", "lin-manuel-miranda.png", "alex-lacamoire.png"):
        assert analyzer.compare(obama, largest_face(analyzer, folder / stranger)) < threshold, stranger


def test_lfw_sample_accuracy_at_the_configured_threshold(
    shared_data: Path, pack_analyzer: FaceAnalyzer
) -> None:
    analyzer = pack_analyzer
    pairs = read_pairs(shared_data / "lfw" / "pairs.txt", shared_data / "lfw")
    fold = np.flatnonzero(pairs.folds == 0)
    chosen = np.concatenate([fold[:75], fold[300:375]])  # 75 genuine, 75 impostor pairs
    used = sorted(set(pairs.first[chosen]) | set(pairs.second[chosen]))
    embedded = embed_images(analyzer, [pairs.paths[i] for i in used])
    assert not embedded.missing
    templates = np.zeros((len(pairs.paths), analyzer.embedder.dimension), np.float32)
    templates[used] = embedded.templates(flip_fusion=False)
    scores = pair_scores(templates, pairs)[chosen]
    same = pairs.same[chosen]
    accuracy = np.mean((scores >= analyzer.settings.recognition.verify_threshold) == same)
    assert accuracy >= 0.97
