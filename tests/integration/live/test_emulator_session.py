"""End to end: demo sessions through ccxt's real ``bitget`` class against the emulator.

The emulator runs inside the session's parent (``emulator_driver.py``) on the session's
stepped replay clock, with the session's synthetic market as its price path.
"""

from __future__ import annotations

import collections
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers.emulator_sessions import GATEWAYS, assert_book_matches_journal, demo, drive
from live_helpers import SessionRun, positions_json

from aifap.watch.snapshots import SnapshotStore

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).parent / "emulator_driver.py"
PLACE = "/api/v2/mix/order/place-order"
def _weights(held, prices, equity, leverage):
    return {
        s: size * prices[s] / leverage / equity for s, size in held.items() if size and s in prices
    }


def _assert_targets_held(run: SessionRun) -> None:
    """After each cycle the exchange's positions match the strategy's targets."""
    cycles = [c for c in run.journal().cycles() if c.state == "done"]
    assert len(cycles) >= 4, [(c.cycle, c.state, c.reason) for c in run.journal().cycles()]
    for cycle in cycles:
        targets = {s: Decimal(t["weight"]) for s, t in json.loads(cycle.targets_json).items()}
        prices = {s: Decimal(p) for s, p in json.loads(cycle.prices_json).items()}
        held = positions_json(cycle.positions_after_json)
        weights = _weights(held, prices, cycle.equity, Decimal(run.config["leverage"]))
        for symbol in run.config["symbols"]:
            diff = abs(weights.get(symbol, Decimal(0)) - targets.get(symbol, Decimal(0)))
            assert diff <= Decimal("0.02"), (cycle.cycle, symbol, weights, targets)


def _assert_no_duplicates(state: dict[str, Any]) -> None:
    ids = collections.Counter(o["client_oid"] for o in state["orders"])
    assert ids, "nothing reached the exchange"
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1]


@GATEWAYS
def test_demo_session_against_the_emulator_holds_the_targets_every_cycle(session_run, gateway):
    run = demo(session_run, gateway)
    [state] = drive(run, [{}])
    assert state["code"] == 0, run.log()[-3000:]
    _assert_targets_held(run)
    _assert_no_duplicates(state)
    assert_book_matches_journal(run, state)
    assert state["demo_requests"]  # demo mode reached the exchange as demo trading
    stamps = [r.ts_ms for r in SnapshotStore(run.journal().engine, "sess").rows()]
    assert len(stamps) >= 18
    assert all(b - a == 300_000 for a, b in itertools.pairwise(stamps))
    journal_ids = {o.client_id for o in run.journal().orders()}
    assert {o["client_oid"] for o in state["orders"]} <= journal_ids


@GATEWAYS
def test_exchange_down_past_the_retry_budget_stops_then_a_restart_resumes(session_run, gateway):
    # the seed's 3 attempts, with a short back-off instead of waits of 0.5 s and more
    fast = {"max_attempts": 3, "initial_wait": 0.01, "max_wait": 0.05}
    run = demo(session_run, gateway, trading_duration="2h", retry=fast)
    down = {"how": "fail_randomly", "probability": 1.0, "kinds": {"server_error": 1}, "path": PLACE}
    first, second = drive(run, [{"faults": [down]}, {}])
    # the first run: alert, clean stop, non-zero exit
    assert first["code"] == 1
    assert first["status"] == "failed"
    assert "RetryExhaustedError" in first["reason"], first["reason"]
    assert any("RetryExhaustedError" in m for m in first["critical"]), first["critical"]
    # journal consistent: one cycle left executing, its orders not final, nothing placed
    assert first["orders"] == []
    stuck = [c for c, state in first["cycles"].items() if state == "executing"]
    assert len(stuck) == 1, first["cycles"]
    assert all(state in ("done", "skipped", "executing") for state in first["cycles"].values())
    assert first["journal_orders"]
    assert all(status in ("intended", "missing") for status, _ in first["journal_orders"].values())
    # the exchange is back: the restart looks each sent order up, sends it once, trades on
    assert second["code"] == 0, run.log()[-3000:]
    journal = run.journal()
    assert journal.cycle(int(stuck[0])).replayed
    assert all(o.status == "filled" for o in journal.orders(int(stuck[0])))
    _assert_no_duplicates(second)
    assert_book_matches_journal(run, second)
    assert len(second["orders"]) == len(journal.orders())


@GATEWAYS
def test_lost_responses_and_a_kill_after_accept_place_no_order_twice(session_run, gateway):
    run = demo(session_run, gateway, trading_duration="1h 30m")
    lost = {
        "how": "fail_randomly",
        "probability": 0.5,
        "kinds": {"lost": 1},
        "path": PLACE,
        "lost_as": 502,
    }
    first, second = drive(
        run,
        [{"faults": [lost], "env": {"AIFAP_LIVE_KILL_AT": "main.after_accept@2"}}, {}],
    )
    assert first["code"] == 1
    assert "lost" in first["faults"]  # orders executed whose response never came back
    assert "main process died" in first["reason"]
    assert second["code"] == 0, run.log()[-3000:]
    _assert_no_duplicates(second)
    assert_book_matches_journal(run, second)
    orders = run.journal().orders(2)
    assert orders
    assert all(o.sends == 1 for o in orders)  # looked up on restart, not resent
    assert run.journal().cycle(2).replayed
