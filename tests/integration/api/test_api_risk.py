"""A risk breach stops exactly that manager's traders: real demo sessions, launched
through the API by the local launcher, trading through ccxt's real ``bitget`` class over
HTTP against the project's Bitget emulator.

Each trader has its own exchange account, stored through ``POST /accounts`` (its keys
reach the session only in its environment) and funded at the emulator. The sessions and
the emulator replay the built-in synthetic market at the same speed (the emulator's
clock starts first, so it is ahead by the sessions' start-up, never behind). Manager A's
drawdown limit (0.01 %) is below what trading costs (the emulator's fees), so its
traders' PV falls through it within the first snapshots; manager B's (90 %) is not
reached. The risk check, reading the finwatchers' snapshots, stops A's two traders and
leaves B's running; with ``flatten`` the API closes their positions at the emulator with
the accounts' keys; the breach is audited and alerted, and A's traders cannot start again.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from helpers.api_server import served_api
from helpers.replay_emulator import synthetic_emulator
from sqlalchemy import select

from aifap.api.app import create_app
from aifap.api.models import AuditEntry
from aifap.data.synthetic import DEFAULT_END
from aifap.db import make_engine, session_factory

pytestmark = pytest.mark.slow

PASSWORD = "risk-tests-password"
STRATEGY = str(Path(__file__).resolve().parents[3] / "strategies" / "momentum.py")
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
START = DEFAULT_END - timedelta(days=3)
SPEED = 600
SESSION = {
    "clock": {"kind": "replay", "start": START.isoformat(), "speed": SPEED},
    "trading_duration": "2d",
    "finwatcher_interval": "30m",
}


@pytest.fixture
def exchange():
    """The Bitget emulator over HTTP, replaying the sessions' synthetic market."""
    emulator = synthetic_emulator(SYMBOLS, START, SPEED)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFAP_SECRET_KEY", "risk-tests-" + "r" * 40)
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    app = create_app(url, url, url, sessions_dir=tmp_path / "sessions", risk_interval=0,
                     stop_timeout=30)  # fmt: skip
    with served_api(app, url, PASSWORD) as (client, traders):
        yield client, url, traders


def hire(client, name, drawdown, on_breach="freeze"):
    made = client.post(
        "/managers",
        json={"username": name, "password": PASSWORD, "budget": "10000",
              "limits": {"max_drawdown": drawdown, "on_breach": on_breach}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return made.json()["id"]


def trader(client, exchange, manager, name):
    """Create a trader on an exchange account of its own at the emulator; return its id."""
    key, secret, passphrase = f"{name}-key", f"{name}-secret", f"{name}-pass"
    exchange.add_account(key, secret, passphrase, balance="1000")
    account = client.post(
        "/accounts",
        json={"venue": "bitget", "market": "futures", "api_key": key, "secret": secret,
              "passphrase": passphrase, "demo": True, "manager_id": manager},
    )  # fmt: skip
    assert account.status_code == 201, account.text
    made = client.post(
        "/traders",
        json={"name": name, "strategy": STRATEGY, "allocation": "1000", "symbols": SYMBOLS,
              "rebalance_every": "1h", "config": {"window": 60, "lookback": 10, "frequency": "1h"},
              "manager_id": manager, "account_id": account.json()["id"],
              "session": {**SESSION, "exchange_url": exchange.url}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    KEYS[made.json()["id"]] = key
    return made.json()["id"]


KEYS: dict[int, str] = {}  # trader id -> its account's key at the emulator


def open_positions(exchange, trader_id: int) -> dict[str, Decimal]:
    """Return the open positions of the trader's account at the emulator."""
    view = exchange.ledger(KEYS[trader_id])
    return {s: p.size for s, p in view.positions.items() if p.size != Decimal(0)}


@pytest.mark.parametrize("on_breach", ["freeze", "flatten"])
def test_a_breach_stops_exactly_that_managers_traders(api, exchange, on_breach):
    client, url, started = api
    a = hire(client, "manager_a", "0.0001", on_breach)
    b = hire(client, "manager_b", "0.9")
    a_traders = [trader(client, exchange, a, "a_one"), trader(client, exchange, a, "a_two")]
    b_trader = trader(client, exchange, b, "b_one")
    for t in [*a_traders, b_trader]:
        answer = client.post(f"/traders/{t}/start")
        assert answer.status_code == 200, answer.text
        started.append(t)

    deadline = time.monotonic() + 300
    breaches = []
    while not breaches:
        assert time.monotonic() < deadline, client.get(f"/traders/{a_traders[0]}/logs").text
        time.sleep(2)
        answer = client.post("/risk/check")
        assert answer.status_code == 200, answer.text
        breaches = answer.json()

    assert [x["manager_id"] for x in breaches] == [a]
    assert breaches[0]["action"] == on_breach
    assert sorted(breaches[0]["stopped"]) == sorted(a_traders)
    # the sessions traded at the emulator (the fees are what breached A's limit)
    assert all(exchange.ledger(KEYS[t]).fills for t in a_traders)
    if on_breach == "flatten":
        for t in a_traders:
            assert open_positions(exchange, t) == {}
    else:
        assert any(open_positions(exchange, t) for t in a_traders)  # frozen: kept
    assert breaches[0]["reason"].startswith("drawdown ")
    for t in a_traders:
        assert client.get(f"/traders/{t}").json()["state"] == "halted"
        assert client.get(f"/traders/{t}/status").json()["state"] in ("stopped", "dead")
        refused = client.post(f"/traders/{t}/start")
        assert refused.status_code == 409
        assert "breached" in refused.json()["detail"]
    assert client.get(f"/traders/{b_trader}").json()["state"] == "running"
    assert client.get(f"/traders/{b_trader}/status").json()["state"] in ("starting", "running")
    assert client.get(f"/managers/{a}").json()["breached"] == breaches[0]["reason"]
    assert client.get(f"/managers/{b}").json()["breached"] is None

    with session_factory(make_engine(url))() as db:
        audits = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "risk.breach")))
        outbox = db.execute(
            select(AuditEntry.id).where(AuditEntry.target == f"manager:{a}")
        ).all()
    assert [e.target for e in audits] == [f"manager:{a}"]
    assert outbox
    with make_engine(url).connect() as conn:
        from sqlalchemy import text

        alerts = conn.execute(
            text("SELECT payload FROM alert_outbox WHERE session_id = 'platform-risk'")
        ).scalars().all()
    assert any(f"manager {a}" in payload for payload in alerts)

    halted = client.post("/halt")
    assert halted.status_code == 200
    assert halted.json()["stopped"] == [b_trader]
    assert client.get(f"/traders/{b_trader}/status").json()["state"] in ("stopped", "dead")
