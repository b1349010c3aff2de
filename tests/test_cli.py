"""The command line: real exit codes per error type, JSON output, annotation drawn on the faces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.errors import (
    CameraError,
    ConfigError,
    DatasetError,
    EmptyImageError,
    ImageDecodeError,
    ImageNotFoundError,
    ImageTooLargeError,
    MultipleFacesError,
    NoFaceError,
)
from tests.support.images import png_claiming

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_exit_codes_are_distinct() -> None:
    codes = [
        e.exit_code
        for e in (
            ImageNotFoundError,
            EmptyImageError,
            ImageDecodeError,
            ImageTooLargeError,
            NoFaceError,
            MultipleFacesError,
            ConfigError,
        )
    ]
    assert len(set(codes)) == len(codes) and 0 not in codes


def test_detect_json_lists_every_face(samples) -> None:
    code, stdout, _ = run("detect", str(samples["players"]), str(samples["yaoming"]), "--json")
    assert code == 0
    report = json.loads(stdout)
    assert [len(entry["faces"]) >= 16 for entry in report] == [True, False]
    assert sum(face["passes_gate"] for face in report[0]["faces"]) == 15
    assert len(report[1]["faces"]) == 1
    face = report[1]["faces"][0]
    assert set(face["quality"]) == {
        "inter_eye",
        "detector_score",
        "sharpness",
        "brightness",
        "yaw",
        "pitch",
        "roll",
        "score",
    }
    assert len(face["landmarks"]) == 5
    assert "embedding" not in face


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, ImageNotFoundError),
        (b"", EmptyImageError),
        (b"GIF89a but not really", ImageDecodeError),
        (png_claiming(20000, 20000), ImageTooLargeError),
    ],
)
def test_bad_images_give_clear_message_and_own_exit_code(
    tmp_path: Path, content: bytes | None, error
) -> None:
    path = tmp_path / "input.png"
    if content is not None:
        path.write_bytes(content)
    code, _, stderr = run("detect", str(path))
    assert code == error.exit_code
    assert "error:" in stderr and "input.png" in stderr
    assert "Traceback" not in stderr


def test_one_bad_image_does_not_stop_the_others(tmp_path: Path, samples) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    code, stdout, _ = run("detect", str(bad), str(samples["yaoming"]), "--json")
    report = json.loads(stdout)
    assert code == ImageDecodeError.exit_code
    assert report[0]["exit_code"] == ImageDecodeError.exit_code
    assert len(report[1]["faces"]) == 1


def test_annotation_is_drawn_where_the_faces_are(tmp_path: Path, samples) -> None:
    target = tmp_path / "out.png"
    code, stdout, _ = run("detect", str(samples["gdp"]), "--json", "--annotate", str(target))
    assert code == 0
    original = cv2.imread(str(samples["gdp"]))
    drawn = cv2.imread(str(target))
    assert drawn.shape == original.shape
    changed = np.abs(drawn.astype(int) - original.astype(int)).sum(axis=2) > 60
    near_faces = np.zeros(changed.shape, bool)
    for face in json.loads(stdout)[0]["faces"]:
        x1, y1, x2, y2 = (int(v) for v in face["box"])
        near_faces[max(0, y1 - 30) : y2 + 5, max(0, x1 - 5) : x2 + 60] = True
        left_side = changed[y1 : y2 + 1, max(0, x1 - 1) : x1 + 2].any(axis=1)
        assert left_side.mean() > 0.8  # each box's left side is drawn
    assert changed[~near_faces].mean() < 0.001  # nothing drawn away from the faces


def test_compare_same_and_different(tmp_path: Path, samples, astronaut) -> None:
    mirrored = tmp_path / "astronaut_mirror.jpg"
    cv2.imwrite(str(mirrored), astronaut[:, ::-1])
    plain = tmp_path / "astronaut.png"
    cv2.imwrite(str(plain), astronaut)
    code, stdout, _ = run("compare", str(plain), str(mirrored), "--json")
    same = json.loads(stdout)
    assert code == 0 and same["same_person"] and same["similarity"] > 0.7
    code, stdout, _ = run("compare", str(plain), str(samples["yaoming"]), "--json")
    different = json.loads(stdout)
    assert code == 0 and not different["same_person"]
    assert different["threshold"] == same["threshold"]
    code, stdout, _ = run("compare", str(plain), str(samples["yaoming"]))
    assert "threshold" in stdout and "different people" in stdout


def test_compare_refuses_group_photos_and_faceless_images(tmp_path: Path, samples) -> None:
    code, _, stderr = run("compare", str(samples["gdp"]), str(samples["yaoming"]))
    assert code == MultipleFacesError.exit_code and "--largest" in stderr
    code, _, _ = run("compare", str(samples["gdp"]), str(samples["yaoming"]), "--largest")
    assert code == 0
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 200, np.uint8))
    code, _, stderr = run("compare", str(blank), str(samples["yaoming"]))
    assert code == NoFaceError.exit_code and "no face" in stderr


def test_models_shows_licence_and_checksums() -> None:
    code, stdout, _ = run("models")
    assert code == 0
    assert "NON-COMMERCIAL" in stdout and "scrfd_500m_bnkps.onnx" in stdout
    assert "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad" in stdout


def test_installed_script_exit_code_and_bad_settings(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("openlfr")
    env = dict(os.environ, OPENLFR_DETECTOR__SCORE_THRESHOLD="7")
    done = subprocess.run([str(script), "models"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == ConfigError.exit_code
    assert "detector.score_threshold" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(
        [str(script), "detect", str(tmp_path / "none.jpg")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == ImageNotFoundError.exit_code


def test_demo_finds_yao_ming(tmp_path: Path) -> None:
    code, stdout, _ = run("demo", "--output", str(tmp_path))
    assert code == 0
    assert "21 faces" in stdout and "15 pass" in stdout
    assert (tmp_path / "players.annotated.png").is_file()
    assert sum(line.rstrip(" │").endswith("match") for line in stdout.splitlines()) == 1
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [a["subject"] for a in alerts] == ["yao_ming"]
    assert "ALERT cam1" in stdout and "1 alert(s)" in stdout


def test_run_writes_alerts_and_reports_failed_cameras(tmp_path: Path, demo_material) -> None:
    jsonl = tmp_path / "alerts.jsonl"
    args = ["run", "--source", str(demo_material["video"]), "--watchlist", str(demo_material["watchlist"])]
    code, _, _ = run(*args, "--frame-by-frame", "--jsonl", str(jsonl))
    assert code == 0
    alerts = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [a["subject"] for a in alerts] == ["yao_ming"]
    assert "probe_jpeg_base64" not in alerts[0] and alerts[0]["threshold"] == 0.45
    code, _, stderr = run(
        "run", "--source", str(tmp_path / "none.mp4"), "--watchlist", str(demo_material["watchlist"])
    )
    assert code == CameraError.exit_code and "no such file" in " ".join(stderr.split())
    # Rich wraps long paths, so compare with whitespace folded
    code, _, stderr = run("run", "--source", str(demo_material["video"]), "--watchlist", str(tmp_path))
    assert code == DatasetError.exit_code and "no subject" in " ".join(stderr.split())
