"""A platform API over real HTTP with a small org: a supervisor, managers A and B (each
with an account and a trader whose session has results), viewers and a session token.

The org is built once per module and database backend (SQLite file, throwaway
PostgreSQL); password hashing (argon2) makes a fresh org per test too slow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aifap.api.app import create_app
from aifap.api.users import create_user
from aifap.auth.tokens import issue_token
from aifap.exchange.emulator.server import ThreadedServer
from aifap.testing.results import write_session

SECRET = "platform-tests-" + "k" * 40
PASSWORD = "correct-horse-battery"
KEYS = {"a": ("A-API-KEY-0123456789", "A-SECRET-abcdefghij", "A-PASS-zyxw"),
        "b": ("B-API-KEY-9876543210", "B-SECRET-jihgfedcba", "B-PASS-wxyz")}  # fmt: skip


@pytest.fixture(scope="session")
def account_keys() -> dict[str, tuple[str, str, str]]:
    """The org's accounts' (api key, secret, passphrase) by manager side."""
    return KEYS


@pytest.fixture(scope="session", autouse=True)
def _platform_secret() -> Iterator[None]:
    """Every API test signs and encrypts under one key (AIFAP_SECRET_KEY)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIFAP_SECRET_KEY", SECRET)
        yield


@dataclass
class Org:
    """The running API, its URL and the org's ids and tokens."""

    client: httpx.Client
    url: str
    db_url: str
    root: Path
    tokens: dict[str, str | None] = field(default_factory=dict)
    managers: dict[str, int] = field(default_factory=dict)
    traders: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request as ``role`` (``none``: without a token)."""
        token = self.tokens[role]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, headers=headers, **kwargs)


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """Return the token answer of a login (asserting it succeeded)."""
    answer = client.post("/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def build_org(client: httpx.Client, db_url: str, root: Path, url: str) -> Org:
    """Create the org through the API (and the CLI's user function); return it."""
    create_user(db_url, "root", PASSWORD, "supervisor")
    org = Org(client=client, url=url, db_url=db_url, root=root)
    org.tokens["supervisor"] = login(client, "root")["access_token"]
    org.tokens["none"] = None
    for side in ("a", "b"):
        made = org.call(
            "supervisor", "POST", "/managers",
            json={"username": f"manager_{side}", "password": PASSWORD, "budget": "50000",
                  "limits": {"max_drawdown": "0.5"}},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        org.managers[side] = made.json()["id"]
        api_key, secret, passphrase = KEYS[side]
        account = org.call(
            "supervisor", "POST", "/accounts",
            json={"venue": "bitget", "api_key": api_key, "secret": secret,
                  "passphrase": passphrase, "manager_id": org.managers[side]},
        )  # fmt: skip
        assert account.status_code == 201, account.text
        org.accounts[side] = account.json()["id"]
        trader = org.call(
            "supervisor", "POST", "/traders",
            json={"name": f"trader_{side}", "strategy": "strategies/momentum.py",
                  "allocation": "1000", "symbols": ["BTCUSDT", "ETHUSDT"],
                  "manager_id": org.managers[side], "account_id": org.accounts[side]},
        )  # fmt: skip
        assert trader.status_code == 201, trader.text
        org.traders[side] = trader.json()["id"]
        org.sessions[side] = trader.json()["session_id"]
        write_session(db_url, org.sessions[side], days=0.5, interval=timedelta(hours=1))
    org.tokens["manager"] = login(client, "manager_a")["access_token"]
    create_user(db_url, "viewer_all", PASSWORD, "viewer")
    create_user(db_url, "viewer_a", PASSWORD, "viewer", org.managers["a"])
    org.tokens["viewer_all"] = login(client, "viewer_all")["access_token"]
    org.tokens["viewer_a"] = login(client, "viewer_a")["access_token"]
    sid = org.sessions["a"]
    org.tokens["service"] = issue_token(
        f"session:{sid}", [f"config:{sid}", f"results:{sid}"], ttl="1h", session_id=sid
    )
    return org


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def api_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database for one module's API (the platform and results share it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api') / 'platform.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    from aifap.db import make_engine

    make_engine(url).dispose()
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def org(api_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """The API served over HTTP with the org built through it."""
    os.environ.setdefault("AIFAP_SECRET_KEY", SECRET)
    root = tmp_path_factory.mktemp("sessions")
    app = create_app(api_db_url, api_db_url, api_db_url, sessions_dir=root, risk_interval=0)
    server = ThreadedServer(app)
    server.start()
    url = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=url, timeout=60) as client:
        yield build_org(client, api_db_url, root, url)
    server.stop()
