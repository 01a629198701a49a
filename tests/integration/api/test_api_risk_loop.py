"""The background risk loop of ``aifap serve api --risk-interval``: a real server process
(two workers) stops a breached manager's running trader by itself, without any request
asking it to check.

The trader's session is a real paper session launched through the API; its results get
two snapshots through the session's own token (PV falling 90 %, through the manager's
50 % drawdown limit). Nothing then calls ``/risk/check``: the loop of the one worker
holding the risk-loop lock finds the breach, stops the session, marks the trader halted
and the manager breached, audits once and alerts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from helpers.processes import wait_until_up
from sqlalchemy import select, text

from aifap.api.models import AuditEntry
from aifap.api.users import create_user
from aifap.auth.tokens import issue_token
from aifap.data.synthetic import DEFAULT_END
from aifap.db import make_engine, session_factory

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
SECRET = "risk-loop-tests-" + "l" * 40
PASSWORD = "risk-loop-password"
SESSION = {
    "clock": {"kind": "replay", "start": (DEFAULT_END - timedelta(days=3)).isoformat(),
              "speed": 60},
    "trading_duration": "2d",
}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    env = {**os.environ, "AIFAP_SECRET_KEY": SECRET, "AIFAP_DATABASE_URL": url,
           "AIFAP_DATA_DIR": str(tmp_path / "data"),
           "AIFAP_STRATEGIES_DIR": str(REPO / "strategies")}  # fmt: skip
    monkeypatch.setenv("AIFAP_SECRET_KEY", SECRET)  # create_user and the tokens below use it
    create_user(url, "root", PASSWORD, "supervisor")
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from aifap.cli import main; main()", "serve", "api",
         "--port", str(port), "--risk-interval", "1", "--workers", "2"],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_until_up(process, f"{base}/ready", (tmp_path / "server.log").read_text)
    client = httpx.Client(base_url=base, timeout=60)
    login = client.post("/auth/token", data={"username": "root", "password": PASSWORD})
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    try:
        yield client, url, tmp_path
    finally:
        client.post("/halt")
        client.close()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()


def test_the_loop_stops_a_breached_managers_trader_without_being_asked(server):
    client, url, tmp_path = server
    manager = client.post(
        "/managers",
        json={"username": "manager_a", "password": PASSWORD, "budget": "5000",
              "limits": {"max_drawdown": "0.5"}},
    ).json()["id"]  # fmt: skip
    made = client.post(
        "/traders",
        json={"name": "looped", "strategy": "strategies/momentum.py", "allocation": "1000",
              "symbols": ["BTCUSDT", "ETHUSDT"], "rebalance_every": "1h",
              "config": {"window": 60, "lookback": 10, "frequency": "1h"},
              "manager_id": manager, "session": SESSION},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    trader, sid = made.json()["id"], made.json()["session_id"]
    started = client.post(f"/traders/{trader}/start")
    assert started.status_code == 200, started.text
    time.sleep(3)  # several loop turns: within its limit, the trader keeps running
    assert client.get(f"/traders/{trader}").json()["state"] == "running"

    token = issue_token(f"session:{sid}", [f"results:{sid}"], ttl="1h", session_id=sid)
    for hour, pv in ((0, "1000"), (1, "100")):  # far ahead of the session's own snapshots
        wrote = client.post(
            f"/results/sessions/{sid}/snapshots",
            json={"timestamp": f"2100-01-01T0{hour}:00:00Z", "balance": pv, "pv": pv},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert wrote.status_code == 201, wrote.text

    deadline = time.monotonic() + 120
    while client.get(f"/traders/{trader}").json()["state"] != "halted":
        assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-3000:]
        time.sleep(0.5)

    assert client.get(f"/traders/{trader}/status").json()["state"] in ("stopped", "dead")
    breached = client.get(f"/managers/{manager}").json()["breached"]
    assert breached.startswith("drawdown 0.9000 > limit 0.5")
    time.sleep(3)  # more loop turns, in both workers: the breach is handled once
    with session_factory(make_engine(url))() as db:
        audits = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "risk.breach")))
    assert [(a.actor, a.target) for a in audits] == [("risk", f"manager:{manager}")]
    with make_engine(url).connect() as conn:
        alerts = conn.execute(
            text("SELECT payload FROM alert_outbox WHERE session_id = 'platform-risk'")
        ).scalars().all()
    assert any(f"manager {manager}" in payload for payload in alerts)


def status_requests(client) -> float:
    """Return what ``/metrics`` counts of ``GET /traders/{trader_id}/status`` answered 200."""
    wanted = (
        'aifap_api_requests_total{method="GET",route="/traders/{trader_id}/status",status="200"}'
    )
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_the_requests_of_every_worker(server):
    client, _, _ = server
    manager = client.post(
        "/managers", json={"username": "counted", "password": PASSWORD, "budget": "10"}
    ).json()["id"]
    made = client.post(
        "/traders",
        json={"name": "counted", "strategy": "strategies/momentum.py", "allocation": "1",
              "symbols": ["BTCUSDT"], "manager_id": manager},
    )  # fmt: skip
    before = status_requests(client)
    for _ in range(20):  # new connections: the kernel spreads them over both workers
        with httpx.Client(base_url=str(client.base_url), headers=client.headers) as fresh:
            assert fresh.get(f"/traders/{made.json()['id']}/status").status_code == 200
    for _ in range(4):  # whichever worker answers the scrape, it counts all 20
        assert status_requests(client) - before == 20
