"""A trader on a gateway account, started through the API on the local launcher, trades
through the account's gateway service (``aifap serve gateway``, its own process, the only
one with the keys) against the project's Bitget emulator over HTTP.

The platform holds no key of the account: it stores the service's URL and account name,
and gives the session a token scoped ``gateway:<account>`` for its session id. The
session's config, environment, files and logs never contain a key; the emulator's
account has the session's fills, so its orders went through the service. The manager's
drawdown limit (0.01 %) is below what trading costs, so the risk check breaches it and,
with ``on_breach: flatten``, the API closes the positions through the same service with
a token of its own.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from helpers.api_server import served_api
from helpers.gateway_process import ACCOUNT, KEY, PASSPHRASE, SIGNING_KEY, served_gateway
from helpers.gateway_process import SECRET as KEY_SECRET
from helpers.replay_emulator import synthetic_emulator

from aifap.api.app import create_app
from aifap.auth.tokens import TokenVerifier
from aifap.data.synthetic import DEFAULT_END
from aifap.deploy.local import LocalSessionHandle

pytestmark = pytest.mark.slow

PASSWORD = "gateway-session-password"
STRATEGY = str(Path(__file__).resolve().parents[3] / "strategies" / "momentum.py")
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
START = DEFAULT_END - timedelta(days=3)
SPEED = 600
SECRETS = [KEY, KEY_SECRET, PASSPHRASE]  # the account's keys: only the service has them


@pytest.fixture
def exchange():
    """The Bitget emulator over HTTP, replaying the session's synthetic market."""
    emulator = synthetic_emulator(SYMBOLS, START, SPEED)
    emulator.add_account(KEY, KEY_SECRET, PASSPHRASE, balance="1000")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def gateway(exchange, tmp_path):
    """``aifap serve gateway`` for the emulator's account (it alone gets the keys)."""
    with served_gateway(tmp_path, exchange.url) as service:
        yield service


@pytest.fixture
def api(tmp_path, monkeypatch):
    """The platform API on the local launcher, signing with the gateway's key."""
    monkeypatch.setenv("AIFAP_SECRET_KEY", SIGNING_KEY)
    url = f"sqlite:///{tmp_path / 'platform.db'}"
    root = tmp_path / "sessions"
    app = create_app(url, url, url, sessions_dir=root, risk_interval=0, stop_timeout=30)
    with served_api(app, url, PASSWORD) as (client, started):
        yield client, root, started


def _session_processes(sid: str, workdir: Path) -> list[psutil.Process]:
    try:
        handle = LocalSessionHandle.attach(sid, workdir)
    except FileNotFoundError:  # its runner has not reported yet
        return []
    pids = {pid for pid in handle.status().pids.values() if pid}
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return processes


def test_a_gateway_accounts_session_trades_through_the_service_without_keys(
    api, exchange, gateway
):
    client, root, started = api
    manager = client.post(
        "/managers",
        json={"username": "manager_g", "password": PASSWORD, "budget": "5000",
              "limits": {"max_drawdown": "0.0001", "on_breach": "flatten"}},
    ).json()["id"]  # fmt: skip
    account = client.post(
        "/accounts",
        json={"venue": "bitget", "market": "futures", "demo": True, "gateway_url": gateway.url,
              "gateway_account": ACCOUNT, "manager_id": manager},
    )  # fmt: skip
    assert account.status_code == 201, account.text
    assert account.json()["gateway_url"] == gateway.url
    made = client.post(
        "/traders",
        json={"name": "via_gateway", "strategy": STRATEGY, "allocation": "1000",
              "symbols": SYMBOLS, "rebalance_every": "1h",
              "config": {"window": 60, "lookback": 10, "frequency": "1h"},
              "manager_id": manager, "account_id": account.json()["id"],
              "session": {"clock": {"kind": "replay", "start": START.isoformat(), "speed": SPEED},
                          "trading_duration": "2d", "finwatcher_interval": "30m"}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    trader, sid = made.json()["id"], made.json()["session_id"]
    answer = client.post(f"/traders/{trader}/start")
    assert answer.status_code == 200, answer.text
    started.append(trader)
    workdir = root / sid

    seen: dict[int, tuple[str, dict[str, str]]] = {}  # pid -> (command line, environment)
    deadline = time.monotonic() + 300
    breaches: list[dict] = []
    while not breaches:
        logs = client.get(f"/traders/{trader}/logs").json()["lines"]
        assert time.monotonic() < deadline, "\n".join(logs[-40:])
        for process in _session_processes(sid, workdir):
            try:
                seen[process.pid] = (" ".join(process.cmdline()), process.environ())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        time.sleep(1)
        checked = client.post("/risk/check")
        assert checked.status_code == 200, checked.text
        breaches = checked.json()
    started.remove(trader)

    assert [(b["manager_id"], b["action"], b["stopped"]) for b in breaches] == [
        (manager, "flatten", [trader])
    ]
    assert client.get(f"/traders/{trader}/status").json()["state"] in ("stopped", "dead")
    # the session traded at the exchange (its fees breached the limit) and the API closed
    # its positions, both through the service: neither has the account's keys
    view = exchange.ledger(KEY)
    assert view.fills
    assert {s: p.size for s, p in view.positions.items() if p.size} == {}
    # the flatten's client ids number minutes since 1970 (a session's: its cycles)
    flatten = [o for o in view.orders if int(o.client_oid.split("-")[0][2:]) > 10**6]
    assert flatten
    assert all(o.reduce_only for o in flatten)
    # the orders reached the exchange through the service (the session had no key)
    assert httpx.get(f"{gateway.url}/stats", timeout=10).json()["requests"] > 0
    # the session's config: the service and a token variable, no keys
    config = yaml.safe_load((workdir / "session.yaml").read_text())
    assert config["exchange"] == "remote"
    assert config["gateway_url"] == gateway.url
    assert config["account"] == ACCOUNT
    assert config["gateway_token_env"] == "AIFAP_GATEWAY_TOKEN"
    assert not any(config.get("credentials", {}).values())
    # its processes got a token on the account for this session, never a key
    assert seen, "no session process was sampled"
    tokens = {env.get("AIFAP_GATEWAY_TOKEN") for _, env in seen.values()} - {None}
    assert len(tokens) == 1
    claims = TokenVerifier(f"gateway:{ACCOUNT}", key=SIGNING_KEY)(tokens.pop())
    assert claims.session_id == sid
    texts = [(f"process {cmd}", f"{cmd} {env!r}") for cmd, env in seen.values()]
    texts += [(str(p), p.read_bytes().decode(errors="replace"))
              for p in workdir.rglob("*") if p.is_file()]  # fmt: skip
    assert any("session.log" in where for where, _ in texts)
    for where, text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} found in {where}"
    assert not any(name.startswith("AIFAP_ACCOUNT_") for _, env in seen.values() for name in env)
    for _, env in seen.values():  # nor the key that signs tokens and encrypts stored keys
        assert "AIFAP_SECRET_KEY" not in env
        assert SIGNING_KEY not in env.values()
