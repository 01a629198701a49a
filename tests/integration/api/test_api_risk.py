"""A risk breach stops exactly that manager's traders: real paper sessions, launched
through the API by the local launcher, on the built-in market's replay clock.

Manager A's drawdown limit (0.01 %) is below what trading costs, so its traders' PV
falls through it within the first snapshots; manager B's (90 %) is not reached. The
risk check, reading the finwatchers' snapshots, stops A's two traders and leaves B's
running; the breach is audited and alerted, and A's traders cannot start again.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from aifap.api.app import create_app
from aifap.api.models import AuditEntry
from aifap.api.users import create_user
from aifap.data.synthetic import DEFAULT_END
from aifap.db import make_engine, session_factory
from aifap.exchange.emulator.server import ThreadedServer

PASSWORD = "risk-tests-password"
STRATEGY = str(Path(__file__).resolve().parents[3] / "strategies" / "momentum.py")
SESSION = {
    "clock": {
        "kind": "replay",
        "start": (DEFAULT_END - timedelta(days=3)).isoformat(),
        "speed": 1800,
    },
    "trading_duration": "2d",
    "finwatcher_interval": "30m",
}


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv("AIFAP_SECRET_KEY", "risk-tests-" + "r" * 40)
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    app = create_app(url, url, url, sessions_dir=tmp_path / "sessions", risk_interval=0,
                     stop_timeout=30)  # fmt: skip
    create_user(url, "root", PASSWORD, "supervisor")
    server = ThreadedServer(app)
    server.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120)
    token = client.post("/auth/token", data={"username": "root", "password": PASSWORD})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    traders: list[int] = []
    yield client, url, traders
    for trader in traders:  # whatever the test left running
        client.post(f"/traders/{trader}/stop")
    client.close()
    server.stop()


def hire(client, name, drawdown, on_breach="freeze"):
    made = client.post(
        "/managers",
        json={"username": name, "password": PASSWORD, "budget": "10000",
              "limits": {"max_drawdown": drawdown, "on_breach": on_breach}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return made.json()["id"]


def trader(client, manager, name):
    made = client.post(
        "/traders",
        json={"name": name, "strategy": STRATEGY, "allocation": "1000",
              "symbols": ["BTCUSDT", "ETHUSDT"], "rebalance_every": "1h",
              "config": {"window": 60, "lookback": 10, "frequency": "1h"},
              "manager_id": manager, "session": SESSION},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return made.json()["id"]


def open_positions(root: Path, trader_id: int) -> list:
    """Return the open positions of a paper trader's account, as its session's gateway sees them."""
    from datetime import datetime

    from aifap.exchange.factories import GatewayContext, open_gateway
    from aifap.live.config import load_config
    from aifap.live.heartbeat import read_heartbeat
    from aifap.live.wiring import open_bars

    workdir = root / f"trader-{trader_id}"
    config = load_config(workdir)
    at = datetime.fromisoformat(read_heartbeat(workdir)["sim_time"])
    gateway = open_gateway(config, GatewayContext(bars=open_bars(config), clock=lambda: at))
    try:
        return [p for p in gateway.positions() if p.size != 0]
    finally:
        gateway.close()


@pytest.mark.parametrize("on_breach", ["freeze", "flatten"])
def test_a_breach_stops_exactly_that_managers_traders(api, on_breach, tmp_path):
    client, url, started = api
    a = hire(client, "manager_a", "0.0001", on_breach)
    b = hire(client, "manager_b", "0.9")
    a_traders = [trader(client, a, "a_one"), trader(client, a, "a_two")]
    b_trader = trader(client, b, "b_one")
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
    if on_breach == "flatten":
        for t in a_traders:
            assert open_positions(tmp_path / "sessions", t) == []
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
