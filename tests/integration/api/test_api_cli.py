"""``aifap admin create-supervisor`` / ``create-viewer`` bootstrap logins; ``aifap serve api``
serves the platform API (a real process on a free port)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest
from helpers.processes import wait_until_up
from sqlalchemy import select
from typer.testing import CliRunner

from aifap.api.models import AuditEntry, User
from aifap.cli import app
from aifap.db import make_engine, session_factory

PASSWORD = "bootstrap-password-1"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("AIFAP_SECRET_KEY", "cli-tests-" + "c" * 40)
    monkeypatch.setenv("AIFAP_ADMIN_PASSWORD", PASSWORD)


def users(url):
    with session_factory(make_engine(url))() as db:
        return {u.username: u for u in db.scalars(select(User))}


def test_create_supervisor_bootstraps_an_empty_database(db_url, env):
    result = CliRunner().invoke(
        app, ["admin", "create-supervisor", "--username", "root", "--db", db_url]
    )
    assert result.exit_code == 0, result.output
    assert "supervisor root created" in result.output
    assert PASSWORD not in result.output
    found = users(db_url)["root"]
    assert found.role == "supervisor"
    assert PASSWORD not in found.password_hash
    assert found.password_hash.startswith("$argon2id$")
    with session_factory(make_engine(db_url))() as db:
        assert db.scalar(select(AuditEntry.action)) == "user.create"
    again = CliRunner().invoke(
        app, ["admin", "create-supervisor", "--username", "root", "--db", db_url]
    )
    assert again.exit_code != 0
    assert "taken" in str(again.exception)


def test_the_password_is_prompted_twice_without_the_variable(db_url, env, monkeypatch):
    monkeypatch.delenv("AIFAP_ADMIN_PASSWORD")
    result = CliRunner().invoke(
        app,
        ["admin", "create-viewer", "--username", "auditor", "--db", db_url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert users(db_url)["auditor"].role == "viewer"
    short = CliRunner().invoke(
        app,
        ["admin", "create-viewer", "--username", "short", "--db", db_url],
        input="abc\nabc\n",
    )
    assert short.exit_code != 0
    assert "at least 8" in str(short.exception)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_api_answers_health_and_a_login(tmp_path, env):
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    made = CliRunner().invoke(
        app, ["admin", "create-supervisor", "--username", "root", "--db", url]
    )
    assert made.exit_code == 0, made.output
    port = free_port()
    child_env = {**os.environ, "AIFAP_DATABASE_URL": url, "AIFAP_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from aifap.cli import main; main()", "serve", "api",
         "--port", str(port), "--risk-interval", "5"],
        env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(process, f"{base}/health", lambda: process.stdout.read().decode())
        assert httpx.get(f"{base}/ready").json()["status"] == "ok"
        login = httpx.post(f"{base}/auth/token", data={"username": "root", "password": PASSWORD})
        assert login.status_code == 200
        assert set(login.json()) == {"access_token", "refresh_token", "token_type"}
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert PASSWORD not in output
