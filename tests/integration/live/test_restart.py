"""Kill tests: SIGKILL a process (or the whole session) at named points, restart, reconcile."""

from __future__ import annotations

import os
import signal
import time
from decimal import Decimal

import pytest
from live_helpers import STRATEGIES, assert_no_duplicates, book_of_paper

from aifap.live.recovery import expected_book

pytestmark = pytest.mark.slow

WIDE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT"]


def _wide(session_run, **overrides):
    settings = {"strategy": f"{STRATEGIES}:wide", "symbols": WIDE, "leverage": 1,
                "trading_duration": "1h 15m", **overrides}
    return session_run(**settings)


def _assert_reconciled(run):
    assert_no_duplicates(run)
    journal = run.journal()
    _, fills = run.paper_rows()
    assert expected_book(journal, journal.session_row()) == book_of_paper(fills)
    assert len(journal.fills()) == len(fills), "a fill went unrecorded"
    assert all(c.state in ("done", "skipped") for c in journal.cycles())


@pytest.mark.parametrize("point", ["main.before_send@2", "main.between_batches@2",
                                   "main.after_accept@2", "strategy.after_plan@2",
                                   "main.before_stops@3"])
def test_killed_process_restart_places_no_order_twice(session_run, point):
    run = _wide(session_run)
    assert run.run(env={"AIFAP_LIVE_KILL_AT": point}) == 1
    role = point.split(".")[0]
    assert f"{role} process died (exit code -9)" in run.journal().session_row().reason
    cycle = int(point.rsplit("@", 1)[1])
    assert run.journal().cycle(cycle).state in ("planned", "executing")
    # the same environment: the kill point fired once and stays disarmed
    assert run.run(env={"AIFAP_LIVE_KILL_AT": point}) == 0, run.stderr
    journal = run.journal()
    assert journal.cycle(cycle).replayed
    assert journal.events("replayed")
    assert journal.session_row().runs == 2
    orders = journal.orders(cycle)
    assert len(orders) >= 6
    assert all(o.status == "filled" for o in orders), [(o.client_id, o.status) for o in orders]
    if point.startswith("main.after_accept"):
        # the exchange accepted batch 1 before the kill: it was looked up, not resent
        assert all(o.sends == 1 for o in orders)
    _assert_reconciled(run)


def test_whole_session_sigkill_then_restart(session_run):
    run = _wide(session_run, trading_duration="2h",
                clock={"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 1200})
    proc = run.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _orders(run) < 10:
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert run.journal().orders(), "the session never traded before the kill"
    assert run.journal().session_row().status == "running"  # it never got to say otherwise
    run.config["clock"]["speed"] = 0
    assert run.run() == 0, run.stderr
    _assert_reconciled(run)


def _orders(run):
    from sqlalchemy.exc import OperationalError

    try:
        return len(run.journal().orders())
    except OperationalError:  # not migrated yet
        return 0


def _trade_by_hand(run, amount="0.01"):
    from aifap.core.orders import OrderRequest, Side
    from aifap.core.timeconv import from_ms
    from aifap.data.sources import open_bar_source
    from aifap.exchange.paper import PaperGateway

    row = run.journal().session_row()
    now = from_ms(row.clock_ms)
    bars = open_bar_source(None, symbols=run.config["symbols"])
    gateway = PaperGateway(bars.markets(), bars, url=f"sqlite:///{run.db}", account="sess",
                           capital=10000, leverage=run.config["leverage"], clock=lambda: now)
    gateway.place_orders([OrderRequest("manual-1", "BTCUSDT", Side.BUY, Decimal(amount))])
    later = from_ms(row.clock_ms + 120_000)
    gateway.clock = lambda: later
    assert any(p.symbol == "BTCUSDT" for p in gateway.positions())


@pytest.mark.parametrize("policy", ["refuse", "adopt"])
def test_position_changed_by_hand_while_down(session_run, policy):
    run = session_run(trading_duration="45m")
    assert run.run() == 0, run.stderr
    before = len(run.journal().cycles())
    _trade_by_hand(run)
    run.config.update(on_foreign_position=policy, trading_duration="1h 30m")
    code = run.run()
    row = run.journal().session_row()
    if policy == "refuse":
        assert code == 1
        assert "on_foreign_position=refuse" in row.reason
        assert "BTCUSDT" in row.reason
        assert len(run.journal().cycles()) == before  # nothing traded
    else:
        assert code == 0, run.stderr
        assert run.journal().events("foreign_adopted")
        assert row.baseline_epoch == 1
        _, fills = run.paper_rows()
        assert expected_book(run.journal(), row) == book_of_paper(fills)
        assert len(run.journal().cycles()) > before
