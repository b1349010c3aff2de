"""Stills whatever the face's size: tight crops, small faces in big photos, several faces, cut-off faces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.errors import LowQualityFaceError, MultipleFacesError, NoFaceError
from openlfr.evaluation.perturb import tight
from tests.cli_support import sign_in

runner = CliRunner()


@pytest.fixture(scope="module")
def portraits(analyzer, yaoming, astronaut, players) -> list[np.ndarray]:
    """Yao Ming, the astronaut and three players: whole photos in which one face is the subject."""
    chosen = [yaoming, astronaut]
    for face in sorted(analyzer.analyze(players, embed=False), key=lambda f: -f.area)[:3]:
        chosen.append(tight(players, face.box, 3.0, 300))
    return chosen


def test_tight_crops_are_found_with_the_same_template(analyzer, portraits) -> None:
    missed_directly = 0
    for photo in portraits:
        whole = analyzer.subject_face(photo, largest=True).face
        for scale in (1.0, 1.1, 1.25, 1.5, 2.0):
            for width in (80, 160, 400):
                crop = tight(photo, whole.box, scale, width)
                faces = analyzer.analyze(crop)
                assert len(faces) >= 1, (scale, width)
                face = max(faces, key=lambda f: f.area)
                missed_directly += len(analyzer.detect(crop)) == 0
                if scale >= 1.25 and width >= 160:  # the whole face is in the picture, at a usable size
                    assert float(face.embedding @ whole.embedding) >= 0.95, (scale, width, face.found_by)
    assert missed_directly >= 20  # the cases the direct pass alone cannot find are here


def test_a_tight_custody_photo_enrols_and_alerts(analyzer, yaoming, demo_material, tmp_path: Path) -> None:
    box = analyzer.subject_face(yaoming).face.box
    watchlist = tmp_path / "watchlist" / "yao_ming"
    watchlist.mkdir(parents=True)
    cv2.imwrite(str(watchlist / "custody.png"), tight(yaoming, box, 1.1, 160))
    alerts = tmp_path / "alerts.jsonl"
    result = runner.invoke(
        app,
        [
            "run",
            "--watchlist",
            str(tmp_path / "watchlist"),
            "--source",
            str(demo_material["video"]),
            "--frame-by-frame",
            "--jsonl",
            str(alerts),
        ],
    )
    assert result.exit_code == 0, result.output
    raised = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert raised and {a["subject"] for a in raised} == {"yao_ming"}


def test_a_small_face_in_a_large_photo_is_found_in_tiles(analyzer, yaoming) -> None:
    face = analyzer.subject_face(yaoming).face
    scale = 26 / (face.box[2] - face.box[0])
    small = cv2.resize(yaoming, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((1080, 1920, 3), 110, np.uint8)
    canvas[700 : 700 + small.shape[0], 1500 : 1500 + small.shape[1]] = small
    assert len(analyzer.detect(canvas)) == 0  # shrunk into the network's input it is below sight
    found = analyzer.analyze(canvas)
    assert len(found) == 1 and found[0].found_by == "tiled"
    x1, y1, x2, y2 = found[0].box
    assert 1500 <= x1 < x2 <= 1500 + small.shape[1] + 2 and 700 <= y1 < y2 <= 700 + small.shape[0] + 2


def with_background_face(main: np.ndarray, other: np.ndarray, other_width: int) -> np.ndarray:
    """``main`` on a wider canvas with ``other`` pasted small in its top right corner."""
    canvas = cv2.copyMakeBorder(
        main, 20, 20, 0, main.shape[1] + 20, cv2.BORDER_CONSTANT, value=(120, 120, 120)
    )
    small = cv2.resize(other, (other_width, round(other_width * other.shape[0] / other.shape[1])))
    canvas[10 : 10 + small.shape[0], -other_width - 10 : -10] = small
    return canvas


def test_compare_uses_the_dominant_face_and_names_the_others(
    analyzer, yaoming, astronaut, tmp_path: Path
) -> None:
    her = tight(astronaut, analyzer.subject_face(astronaut).face.box, 2.0, 90)
    street = tmp_path / "street.png"
    cv2.imwrite(str(street), with_background_face(yaoming, her, 90))
    result = runner.invoke(app, ["compare", str(street), str(tmp_path / "street.png"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["same_person"] and len(report["a"]["others"]) == 1
    used, other = report["a"]["used"]["box"], report["a"]["others"][0]["box"]
    assert used[2] < yaoming.shape[1] + 1 and other[0] > yaoming.shape[1]  # his face used, hers named
    plain = runner.invoke(app, ["compare", str(street), str(street)])
    assert "1 other face(s) left aside" in plain.stdout

    even = tmp_path / "even.png"  # two faces of about the same size: genuinely ambiguous
    cv2.imwrite(str(even), with_background_face(yaoming, yaoming, yaoming.shape[1]))
    refused = runner.invoke(app, ["compare", str(even), str(street)])
    assert refused.exit_code == MultipleFacesError.exit_code
    message = " ".join(refused.stderr.split())
    assert "none clearly the subject" in message and "face 1 at" in message and "face 2 at" in message
    assert runner.invoke(app, ["compare", str(even), str(street), "--largest"]).exit_code == 0


def test_faces_no_one_can_use_are_refused_clearly(analyzer, yaoming) -> None:
    face = analyzer.subject_face(yaoming).face
    middle = int((face.box[0] + face.box[2]) / 2)
    half = np.ascontiguousarray(yaoming[:, :middle])  # the picture ends at the nose
    found = analyzer.analyze(half)
    assert all(f.cut_off for f in found) and not any(analyzer.passes_gate(f) for f in found)
    with pytest.raises((LowQualityFaceError, NoFaceError), match=r"cut off|no face"):
        analyzer.subject_face(half)
    with pytest.raises(NoFaceError, match="tried: direct, padded, tiled, low score"):
        analyzer.subject_face(np.zeros((480, 640, 3), np.uint8))
    assert analyzer.analyze(cv2.resize(yaoming, (24, 30))) == []  # far below the detector's smallest face


def test_gallery_built_from_a_csv_is_searched(
    analyzer, samples, yaoming, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    from openlfr.settings import get_settings

    get_settings.cache_clear()
    try:
        sign_in("custodian", "watchlist_manager")
        folder = tmp_path / "photos"
        folder.mkdir()
        box = analyzer.subject_face(yaoming).face.box
        cv2.imwrite(str(folder / "yao.png"), tight(yaoming, box, 1.0, 120))  # a face chip, as exported
        cv2.imwrite(str(folder / "wall.jpg"), np.full((300, 300, 3), 180, np.uint8))
        register = tmp_path / "register.csv"
        with register.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label"])
            writer.writerow(["photos/yao.png", "PNC-1"])
            writer.writerow(["photos/wall.jpg", ""])  # no label, and no face
        built = runner.invoke(app, ["gallery", "build", "custody", str(register)])
        assert built.exit_code == 0, built.output
        assert "1 templates of 1 people" in built.stdout
        assert "wall.jpg" in built.stderr.replace("\n", "")
        sign_in("det", "operator")
        found = runner.invoke(
            app, ["search", str(samples["yaoming"]), "--gallery", "custody", "--reason", "case 9"]
        )
        assert found.exit_code == 0, found.output
        assert "PNC-1" in found.stdout
    finally:
        get_settings.cache_clear()


def test_photos_turned_sideways_or_upside_down_give_the_upright_template(
    analyzer, yaoming, astronaut
) -> None:
    for photo in (yaoming, astronaut):
        upright = analyzer.subject_face(photo).face
        for turns in (1, 2, 3):  # a scan or phone photo with no EXIF orientation to say so
            turned = np.ascontiguousarray(np.rot90(photo, turns))
            face = analyzer.subject_face(turned).face
            assert f"turned {90 * (4 - turns) % 360}°" in face.found_by or turns != 2, face.found_by
            assert float(face.embedding @ upright.embedding) > 0.9, (turns, face.found_by)


def test_a_face_with_its_eyes_above_the_picture_is_cut_off(analyzer, yaoming) -> None:
    face = analyzer.subject_face(yaoming).face
    top = int((face.landmarks[:, 1].min() + face.landmarks[:, 1].max()) / 2)  # between eyes and mouth
    cut = np.ascontiguousarray(yaoming[top:])
    found = analyzer.analyze(cut)
    assert found and all(f.cut_off for f in found) and not any(analyzer.passes_gate(f) for f in found)
    with pytest.raises(LowQualityFaceError, match="cut off"):
        analyzer.subject_face(cut)


def smiley(size: int = 260) -> np.ndarray:
    """A drawn face: the detector half-believes it."""
    image = np.full((size, size, 3), 225, np.uint8)
    cv2.ellipse(image, (size // 2, size // 2), (85, 100), 0, 0, 360, (110, 160, 205), -1)
    for x in (size // 2 - 30, size // 2 + 30):
        cv2.circle(image, (x, size // 2 - 25), 12, (30, 30, 30), -1)
    cv2.line(image, (size // 2, size // 2 - 10), (size // 2 - 5, size // 2 + 20), (80, 100, 160), 3)
    cv2.ellipse(image, (size // 2, size // 2 + 45), (30, 12), 0, 0, 180, (60, 60, 150), 4)
    return cv2.GaussianBlur(image, (0, 0), 1.5)


def test_a_drawn_face_is_never_enrolled(analyzer, tmp_path: Path) -> None:
    drawn = smiley()
    for face in analyzer.analyze(drawn):
        assert face.doubtful or face.score < analyzer.settings.governance.enrol_min_detector_score
    folder = tmp_path / "watchlist" / "cartoon"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "drawn.png"), drawn)
    from openlfr.watchlist.folder import reference_face

    face, reason = reference_face(analyzer, drawn)
    assert face is None and ("sure" in reason or "no face" in reason or "gate" in reason), reason


def test_every_face_of_a_large_photo_is_searched_even_beside_a_big_one(analyzer, yaoming, astronaut) -> None:
    her = analyzer.subject_face(astronaut).face
    small = tight(astronaut, her.box, 2.0, 52)  # her face about 26 px wide
    canvas = np.full((2400, 3200, 3), 120, np.uint8)
    canvas[100 : 100 + yaoming.shape[0], 100 : 100 + yaoming.shape[1]] = yaoming
    canvas[2000 : 2000 + small.shape[0], 2800 : 2800 + small.shape[1]] = small
    assert len(analyzer.analyze(canvas, embed=False)) == 1  # one big face: no need to tile for a subject
    everyone = analyzer.analyze(canvas, embed=False, every_face=True)
    assert len(everyone) == 2 and {f.found_by for f in everyone} == {"direct", "tiled"}


def test_odd_register_csvs_get_clear_errors(analyzer, yaoming, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "data"))
    from openlfr.settings import get_settings

    get_settings.cache_clear()
    try:
        sign_in("custodian", "watchlist_manager")
        cv2.imwrite(str(tmp_path / "yao.png"), yaoming)
        cases = {
            "short.csv": (b"label,path\njolie\n", "line 2: no path"),
            "latin1.csv": (b"path,label\n\xff\xfe.jpg,x\n", "not UTF-8"),
        }
        for name, (content, expected) in cases.items():
            (tmp_path / name).write_bytes(content)
            result = runner.invoke(app, ["gallery", "build", "g", str(tmp_path / name)])
            assert result.exit_code != 0 and expected in " ".join(result.stderr.split()), result.output
            assert "Traceback" not in result.output
        (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfpath,label\nyao.png,W1\n")  # a spreadsheet's CSV
        built = runner.invoke(app, ["gallery", "build", "g", str(tmp_path / "bom.csv")])
        assert built.exit_code == 0 and "1 templates of 1 people" in built.stdout, built.output
        (tmp_path / "none.csv").write_bytes(b"path,label\nmissing.png,W2\n")
        failed = runner.invoke(app, ["gallery", "build", "g", str(tmp_path / "none.csv")])
        assert failed.exit_code != 0 and "left as it was" in " ".join(failed.stderr.split())
        listed = runner.invoke(app, ["gallery", "list"])
        assert "│ g " in listed.stdout and " 1 " in listed.stdout  # the earlier gallery is kept
    finally:
        get_settings.cache_clear()
