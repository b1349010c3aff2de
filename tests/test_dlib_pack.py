"""The licence-clean dlib pack on real LFW faces (skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.evaluation.embeddings import embed_images
from openlfr.evaluation.lfw import read_pairs

pytestmark = pytest.mark.shared_data


def test_dlib_separates_same_and_different_people(shared_data: Path) -> None:
    from openlfr.vision.dlib_pack import DlibFaceModel

    pairs = read_pairs(shared_data / "lfw" / "pairs.txt", shared_data / "lfw")
    same = np.flatnonzero(pairs.same)[:6]
    different = np.flatnonzero(~pairs.same)[:6]
    chosen = np.concatenate([same, different])
    images = sorted({int(i) for p in chosen for i in (pairs.first[p], pairs.second[p])})
    embedded = embed_images(DlibFaceModel(), [pairs.paths[i] for i in images])
    assert embedded.plain.shape[1] == 128 and not embedded.missing
    templates = dict(zip(images, embedded.templates(False), strict=True))
    score = lambda p: float(templates[int(pairs.first[p])] @ templates[int(pairs.second[p])])  # noqa: E731
    assert min(score(p) for p in same) > max(score(p) for p in different)


def test_dlib_pack_reports_a_missing_install_clearly(monkeypatch) -> None:
    import importlib.util

    from openlfr.errors import ModelPackError
    from openlfr.vision import dlib_pack

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "face_recognition_models" else real(name, *a),
    )
    with pytest.raises(ModelPackError, match="openlfr\\[dlib\\]"):
        dlib_pack.dlib_model_dir()
