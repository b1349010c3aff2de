"""Sign-in, sessions, CSRF, tokens, rate limits and security headers, against the real app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from openlfr.api.deps import SESSION_COOKIE
from openlfr.store.models import ApiToken, User, WebSession
from tests.api_support import PASSWORD, bearer, make_app, make_gov, token


@pytest.fixture
def setup(tmp_path, analyzer, clock):  # type: ignore[no-untyped-def]
    gov = make_gov(tmp_path, analyzer, clock, login_attempts=3)
    with TestClient(make_app(gov), base_url="https://testserver") as client:
        yield gov, client, clock


def login(client: TestClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", json={"username": username, "password": password})


def test_passwords_are_argon2id_and_only_token_hashes_are_stored(setup) -> None:
    gov, client, _ = setup
    response = login(client, "operator")
    assert response.status_code == 200
    cookie = client.cookies.get(SESSION_COOKIE)
    secret = token(gov, "auditor")
    with gov.store.session() as session:
        hashes = list(session.scalars(select(User.password_hash)))
        assert hashes and all(h.startswith("$argon2id$") for h in hashes)
        stored = [s.token_hash for s in session.scalars(select(WebSession))]
        assert cookie not in stored and len(stored) == 1
        assert secret not in [t.token_hash for t in session.scalars(select(ApiToken))]


def test_session_cookie_flags_and_csrf(setup) -> None:
    _, client, _ = setup
    response = login(client, "admin")
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "secure" in set_cookie and "samesite=strict" in set_cookie
    csrf = response.json()["csrf_token"]
    new_user = {"username": "newbie", "password": PASSWORD, "role": "operator"}
    missing = client.post("/api/users", json=new_user)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = client.post("/api/users", json=new_user, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    right = client.post("/api/users", json=new_user, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 201
    assert client.get("/api/users").status_code == 200  # reads need no CSRF token


def test_wrong_password_and_rate_limit(setup) -> None:
    _, client, _ = setup
    assert login(client, "operator", "wrong password!").status_code == 401
    assert login(client, "nobody", "wrong password!").json() == login(client, "operator", "nope").json()
    assert login(client, "operator", "still wrong").status_code == 401
    locked = login(client, "operator")  # third failure reached the limit of 3: even the right password waits
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert login(client, "auditor").status_code == 200  # other users are not locked out


def test_idle_and_absolute_session_expiry(setup) -> None:
    _, client, clock = setup
    login(client, "operator")
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/api/auth/me").status_code == 200
    clock.advance(minutes=31)
    expired = client.get("/api/auth/me")
    assert expired.status_code == 401 and "session has ended" in expired.json()["detail"]
    login(client, "operator")
    for _ in range(25):  # active all along, but 12 hours is the most a sign-in lasts
        clock.advance(minutes=29)
        client.get("/api/auth/me")
    assert client.get("/api/auth/me").status_code == 401


def test_logout_ends_the_session(setup) -> None:
    _, client, _ = setup
    csrf = login(client, "operator").json()["csrf_token"]
    cookie = client.cookies.get(SESSION_COOKIE)
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    client.cookies.set(SESSION_COOKIE, cookie, domain="testserver")
    assert client.get("/api/auth/me").status_code == 401


def test_tokens_revoked_expired_and_disabled_users(setup) -> None:
    gov, client, clock = setup
    secret = token(gov, "operator")
    assert client.get("/api/auth/me", headers=bearer(secret)).json()["role"] == "operator"
    refused = client.post("/api/tokens", json={"name": "forever"}, headers=bearer(secret))
    assert refused.status_code == 409 and "cannot make tokens" in refused.json()["detail"]
    csrf = login(client, "operator").json()["csrf_token"]  # a person signed in makes tokens
    created = client.post(
        "/api/tokens", json={"name": "cad", "days": 1}, headers={"X-CSRF-Token": csrf}
    ).json()
    client.cookies.clear()
    assert created["token"].startswith("olfr_")
    short = created["token"]
    assert client.get("/api/alerts", headers=bearer(short)).status_code == 200
    clock.advance(days=1, seconds=1)
    assert client.get("/api/alerts", headers=bearer(short)).status_code == 401
    revoked = client.delete(f"/api/tokens/{created['id']}", headers=bearer(secret))
    assert revoked.json()["revoked"] is True
    other = token(gov, "auditor")
    assert client.delete(f"/api/tokens/{created['id']}", headers=bearer(other)).status_code == 404
    own = client.get("/api/tokens", headers=bearer(secret)).json()
    revoke_self = client.delete(f"/api/tokens/{own[0]['id']}", headers=bearer(secret))
    assert revoke_self.status_code == 200
    after = client.get("/api/alerts", headers=bearer(secret))
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    admin = token(gov, "admin")
    auditor_id = next(
        u["id"] for u in client.get("/api/users", headers=bearer(admin)).json() if u["username"] == "auditor"
    )
    client.post(f"/api/users/{auditor_id}/disable", headers=bearer(admin))
    assert client.get("/api/audit", headers=bearer(other)).status_code == 401
    assert login(client, "auditor").status_code == 401
    assert client.get("/api/alerts", headers={"Authorization": "Basic abc"}).status_code == 401


def test_security_headers_everywhere(setup) -> None:
    _, client, _ = setup
    for path in ("/public", "/login", "/api/openapi.json", "/api/alerts", "/static/console.js"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
    assert client.get("/api/alerts").headers["cache-control"] == "no-store"


def test_console_pages_send_visitors_to_sign_in(setup) -> None:
    _, client, _ = setup
    response = client.get("/console/alerts", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/console/alerts"
    form = {"username": "operator", "password": PASSWORD, "next": "//evil.example/"}
    signed_in = client.post("/login", data=form, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/alerts"
    page = client.get("/console/alerts")
    assert page.status_code == 200 and 'name="csrf-token"' in page.text
    bad = client.post("/login", data=form | {"password": "wrong password"})
    assert "Wrong username or password" in bad.text


def test_a_password_is_changed_within_the_sign_in_limits(setup) -> None:
    gov, client, _ = setup
    csrf = login(client, "watchlist_manager").json()["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    script = token(gov, "watchlist_manager")
    new = "tidal orchid lantern 58 gravel"
    weak = client.post(
        "/api/auth/password", json={"current": PASSWORD, "new": "password123"}, headers=headers
    )
    assert weak.status_code == 409 and "choose another password" in weak.json()["detail"]
    for _ in range(gov.settings.api.login_attempts):
        wrong = client.post("/api/auth/password", json={"current": "guess " * 3, "new": new}, headers=headers)
        assert wrong.status_code == 401
    locked = client.post("/api/auth/password", json={"current": PASSWORD, "new": new}, headers=headers)
    assert locked.status_code == 429  # guessing the current password is a sign-in like any other
    assert client.get("/api/auth/me", headers=bearer(script)).status_code == 200
