"""Logins over HTTP: the password flow, refresh rotation, logout, lockout, bad tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aifap.api.app import create_app
from aifap.api.users import create_user
from aifap.auth.tokens import issue_token
from aifap.exchange.emulator.server import ThreadedServer

PASSWORD = "correct-horse-battery"


@pytest.fixture
def client(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AIFAP_SECRET_KEY", "auth-tests-" + "s" * 40)
    app = create_app(
        db_url, db_url, db_url, sessions_dir=tmp_path, risk_interval=0,
        max_failures=3, lockout="2s", access_ttl="2s",
    )  # fmt: skip
    create_user(db_url, "root", PASSWORD, "supervisor")
    server = ThreadedServer(app)
    server.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as http:
        yield http
    server.stop()


def login(client, password=PASSWORD, username="root"):
    return client.post("/auth/token", data={"username": username, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_password_flow_answers_an_access_and_a_refresh_token(client):
    answer = login(client)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "refresh_token", "token_type"}
    assert body["token_type"] == "bearer"
    assert client.get("/managers", headers=bearer(body["access_token"])).status_code == 200
    # a refresh token is not an access token
    assert client.get("/managers", headers=bearer(body["refresh_token"])).status_code == 401


def test_refresh_rotates_and_a_used_refresh_token_is_refused(client):
    first = login(client).json()
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401
    assert client.get("/managers", headers=bearer(second.json()["access_token"])).status_code == 200


def test_logout_revokes_the_access_and_the_refresh_token(client):
    pair = login(client).json()
    out = client.post(
        "/auth/logout",
        headers=bearer(pair["access_token"]),
        json={"refresh_token": pair["refresh_token"]},
    )
    assert out.status_code == 200, out.text
    assert client.get("/managers", headers=bearer(pair["access_token"])).status_code == 401
    refused = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refused.status_code == 401
    assert login(client).status_code == 200  # a new login works


def test_repeated_failures_lock_the_login_until_the_lockout_passes(client):
    for _ in range(3):
        assert login(client, "wrong-password").status_code == 401
    locked = login(client)
    assert locked.status_code == 423
    assert "locked" in locked.json()["detail"]
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while login(client).status_code == 423:
        assert datetime.now(UTC) < deadline, "the lockout never ended"
    assert login(client).status_code == 200


def test_unknown_users_and_wrong_passwords_answer_the_same(client):
    unknown = login(client, username="nobody")
    wrong = login(client, "not-the-password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.headers["www-authenticate"] == "Bearer"


def test_expired_forged_and_missing_tokens_answer_401(client):
    token = login(client).json()["access_token"]
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while client.get("/managers", headers=bearer(token)).status_code == 200:
        assert datetime.now(UTC) < deadline, "the 2 s access token never expired"
    assert client.get("/managers", headers=bearer(token)).status_code == 401
    forged = issue_token("user:1", ["platform:user"], ttl="1h", key="another-key-" + "x" * 40)
    assert client.get("/managers", headers=bearer(forged)).status_code == 401
    assert client.get("/managers").status_code == 401
    assert client.get("/managers", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_service_token_without_a_session_is_refused(client):
    token = issue_token("cron", ["results:*"], ttl="1h")
    assert client.get("/traders", headers=bearer(token)).status_code == 401


def test_health_ready_and_metrics_need_no_token(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    login(client, "wrong-password")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'route="/auth/token",status="401"' in metrics.text
