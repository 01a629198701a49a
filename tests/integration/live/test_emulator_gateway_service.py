"""Sessions through the gateway service (``aifap serve gateway``) at the Bitget emulator.

The service runs in its own process with the account's keys
(``helpers/gateway_process.py``); the session holds a URL and a token. Killing the
service mid-cycle must cost nothing but time; the session's processes must never see
the keys.
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import nbformat
import pytest
from helpers.emulator_sessions import demo, drive
from helpers.gateway_process import KEY_ENV, SIGNING_KEY
from sqlalchemy import select

from aifap.alerts.messages import Alert, AlertKind
from aifap.alerts.outbox import AlertRow
from aifap.db import make_engine, session_factory
from aifap.live.recovery import expected_book

PLACE = "/api/v2/mix/order/place-order"

pytestmark = pytest.mark.slow

SECRETS = list(KEY_ENV.values())  # the account's key, secret and passphrase


def _assert_complete(run, state: dict[str, Any]) -> None:
    """No order twice at the exchange; every fill journaled once; the books agree."""
    ids = collections.Counter(o["client_oid"] for o in state["orders"])
    assert ids, "nothing reached the exchange"
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1]
    journal = run.journal()
    keys = collections.Counter(f.fill_key for f in journal.fills())
    assert max(keys.values()) == 1
    assert set(keys) == {f"t:{f['trade_id']}" for f in state["fill_rows"]}, "a fill unrecorded"
    actual = {s: Decimal(v) for s, v in state["positions"].items()}
    assert expected_book(journal, journal.session_row()) == actual
    assert all(c.state in ("done", "skipped") for c in journal.cycles())


def _alerts(run) -> list[Alert]:
    """Return the session's alerts in its outbox, oldest first."""
    engine = make_engine(f"sqlite:///{run.db}", fresh=True)
    with session_factory(engine)() as db:
        rows = db.scalars(select(AlertRow).where(AlertRow.session_id == run.config["session_id"]))
        return [Alert.from_json(json.loads(r.payload)) for r in sorted(rows, key=lambda r: r.id)]


def test_killing_the_gateway_service_mid_cycle_alerts_retries_and_costs_no_order(session_run):
    # a budget that outlasts a restart of the service (a few seconds; 20+ on a loaded machine)
    patient = {"max_attempts": 40, "initial_wait": 0.5, "max_wait": 2, "max_elapsed": 120}
    run = demo(
        session_run, "remote", trading_duration="1h", retry=patient, alert_channel="console"
    )
    slow = {"how": "latency", "seconds": 0.3, "path": PLACE}  # the kill lands mid-request
    [state] = drive(run, [{"faults": [slow], "kill_gateway": {"after_orders": 4, "down_s": 1}}])
    assert state["gateway_killed"] == 4  # cycle 2's first order was in flight
    assert state["code"] == 0, run.log()[-3000:]
    _assert_complete(run, state)
    log = run.log()
    assert "unreachable" in log  # the session said so
    assert "reachable again" in log
    cycle = run.journal().cycle(2)
    assert cycle.state == "done"
    assert all(o.status == "filled" for o in run.journal().orders(2))
    # the session alerted (the seed's Discord error format, through the outbox) ...
    down = [a for a in _alerts(run) if a.kind is AlertKind.ERROR and "gateway" in a.title]
    assert down, [a.title for a in _alerts(run)]
    assert down[0].rendered_title.startswith("🚨 [Futures] gateway Partial Failure")
    assert "Module: gateway" in down[0].lines
    assert any("unreachable" in line and "retrying" in line for line in down[0].lines)
    # ... journaled when it went and when it came back
    journal = run.journal()
    assert journal.events("gateway_unreachable")
    assert journal.events("gateway_reachable")
    assert SIGNING_KEY not in json.dumps([a.to_json() for a in _alerts(run)])


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_the_sessions_processes_never_see_the_keys(session_run):
    run = demo(session_run, "remote", trading_duration="45m")
    # as in production: the live template under papermill (its own kernel)
    [state] = drive(run, [{"papermill": 120}])
    assert state["code"] == 0, run.log()[-3000:]
    notebook = run.workdir / "session.ipynb"
    outputs = [o for c in nbformat.read(notebook, as_version=4).cells for o in c.get("outputs", [])]
    assert "cycles done" in json.dumps(outputs)  # the summary cell ran
    assert len(state["cycles"]) >= 3
    processes = state["session_processes"]
    assert processes, "no session process was sampled"
    seen = [(f"process {p['cmdline']}", repr(p["environ"]) + repr(p["cmdline"])) for p in processes]
    seen += [(str(p), p.read_bytes().decode(errors="replace")) for p in _files(run.workdir)]
    seen += [(str(p), p.read_bytes().decode(errors="replace")) for p in run.dir.glob("results*")]
    seen.append(("the session config", json.dumps(state["session_config"])))
    assert any("session.log" in where for where, _ in seen)
    assert any("session.ipynb" in where for where, _ in seen)  # the notebook output
    for where, text in seen:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} found in {where}"
    assert state["session_config"]["exchange"] == "remote"
    assert "gateway_token" in state["session_config"]
    assert "credentials" not in state["session_config"]
    # the service had them (its own log says where it serves, never the keys)
    gateway_log = (run.dir / "gateway.log").read_text()
    assert "serving gateway emu-acct" in gateway_log
    assert not any(secret in gateway_log for secret in SECRETS)
