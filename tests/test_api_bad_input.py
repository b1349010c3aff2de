"""Bad input gets a clear 4xx, nothing is stored, and nothing leaks into error messages or temp files."""

from __future__ import annotations

import io
import json
import os
import tempfile

import cv2
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from openlfr.store.models import AuditEvent, Subject
from tests.api_support import PASSWORD, bearer, draft_deployment, make_app, make_gov, token

FORM = {
    "reference": "case-1",
    "category": "wanted_serious_violent",
    "reason": "warrant",
    "image_source": "custody",
}


@pytest.fixture
def setup(tmp_path, analyzer):  # type: ignore[no-untyped-def]
    gov = make_gov(tmp_path, analyzer, max_upload_bytes=2 * 1024 * 1024, max_upload_pixels=20_000_000)
    deployment_id = draft_deployment(gov)
    with TestClient(make_app(gov), base_url="https://testserver") as client:
        yield gov, client, deployment_id, bearer(token(gov, "watchlist_manager"))


def stored(gov) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with gov.store.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Subject)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
        )


def files_under(*folders) -> set[str]:  # type: ignore[no-untyped-def]
    return {
        os.path.join(root, name) for folder in folders for root, _, names in os.walk(folder) for name in names
    }


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def enrol(client, deployment_id, headers, content: bytes, filename: str = "photo.jpg", **form):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/deployments/{deployment_id}/subjects",
        data=FORM | form,
        files={"image": (filename, content, "image/jpeg")},
        headers=headers,
    )


def test_bad_uploads_are_refused_and_nothing_is_kept(setup, samples, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    gov, client, deployment_id, headers = setup
    private = tmp_path / "temp"  # this process's temporary files land here, and only its own
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    before, temp_before = stored(gov), files_under(tmp_path)
    bomb = png(20_000, 20_000)  # 400 megapixels in a few hundred kilobytes
    assert len(bomb) < 2 * 1024 * 1024
    cases = {
        "oversized": (enrol(client, deployment_id, headers, os.urandom(3 * 1024 * 1024)), 413, "too large"),
        "not an image": (enrol(client, deployment_id, headers, b"%PDF-1.7 not a photo" * 50), 415, "image"),
        "truncated": (
            enrol(client, deployment_id, headers, samples["yaoming"].read_bytes()[:600]),
            415,
            "image",
        ),
        "bomb": (enrol(client, deployment_id, headers, bomb), 413, "too large"),
        "traversal": (
            enrol(client, deployment_id, headers, samples["yaoming"].read_bytes(), "../../etc/cron.d/x.jpg"),
            422,
            "file name",
        ),
        "no file": (
            client.post(f"/api/deployments/{deployment_id}/subjects", data=FORM, headers=headers),
            422,
            "image",
        ),
        "group photo": (
            enrol(client, deployment_id, headers, samples["players"].read_bytes()),
            422,
            "none clearly the subject",
        ),
        "bad age": (
            enrol(client, deployment_id, headers, samples["yaoming"].read_bytes(), age="ten"),
            422,
            "whole number",
        ),
    }
    for name, (response, status, words) in cases.items():
        assert response.status_code == status, (name, response.status_code, response.text)
        assert words in response.json()["detail"], (name, response.json())
        assert "Traceback" not in response.text and str(tmp_path) not in response.text, name
    assert stored(gov) == before
    assert files_under(tmp_path) - temp_before == set()
    ok = enrol(client, deployment_id, headers, samples["yaoming"].read_bytes())
    assert ok.status_code == 201 and ok.json()["assessment"]["usable"] is True


def test_chunked_body_over_the_limit_is_cut_off(setup) -> None:
    _, client, deployment_id, headers = setup

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(40):
            yield b"x" * 100_000

    response = client.post(
        f"/api/deployments/{deployment_id}/subjects/check",
        content=chunks(),
        headers=headers | {"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert response.status_code == 413


def test_quality_feedback_before_enrolment(setup, samples, yaoming) -> None:
    gov, client, deployment_id, headers = setup
    before = stored(gov)
    check = f"/api/deployments/{deployment_id}/subjects/check"
    good = client.post(
        check, files={"image": ("a.jpg", samples["yaoming"].read_bytes())}, headers=headers
    ).json()
    assert good["usable"] and good["faces"] == 1 and good["quality"] > 0.5
    tiny = cv2.imencode(".jpg", cv2.resize(yaoming, None, fx=0.12, fy=0.12))[1].tobytes()
    small = client.post(check, files={"image": ("b.jpg", tiny)}, headers=headers).json()
    assert not small["usable"] and ("between the eyes" in small["problem"] or "no face" in small["problem"])
    group = client.post(
        check, files={"image": ("c.jpg", samples["players"].read_bytes())}, headers=headers
    ).json()
    assert not group["usable"] and group["faces"] > 1
    assert stored(gov) == before


def test_malformed_json_and_secrets_not_echoed(setup) -> None:
    gov, client, _, headers = setup
    broken = client.post(
        "/api/auth/login",
        content=b'{"username": "admin", "password": "hunter2-secret',
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 422 and "hunter2" not in broken.text
    wrong_type = client.post("/api/auth/login", json={"username": ["admin"], "password": "hunter2-secret"})
    assert wrong_type.status_code == 422 and "hunter2" not in wrong_type.text
    short = client.post(
        "/api/users",
        json={"username": "x", "password": "short-pw", "role": "operator"},
        headers=bearer(token(gov, "admin")),
    )
    assert short.status_code == 422 and "short-pw" not in short.text
    bad_role = client.post(
        "/api/users",
        json={"username": "x", "password": PASSWORD, "role": "superuser"},
        headers=bearer(token(gov, "admin")),
    )
    assert bad_role.status_code == 422
    not_json = client.post(
        "/api/deployments", content=b"\x00\xff\xfe", headers=headers | {"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and "body" in not_json.json()["detail"]
    unknown = client.get("/api/deployments/../../etc/passwd", headers=headers)
    assert unknown.status_code == 404
    assert json.loads(client.get("/api/alerts/nope", headers=bearer(token(gov, "operator"))).text)[
        "detail"
    ].startswith("no alertrecord")
