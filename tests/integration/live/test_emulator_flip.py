"""Flips (long to short) through ccxt against the emulator: both legs in one cycle, or a wait.

The session runs through ccxt's real ``bitget`` class against the emulator
(``emulator_driver.py``), through its own ccxt gateway and through the gateway service.
A close leg that fills at once is looked up filled and the open leg follows in the same
cycle. With partial fills set, every BTCUSDT market order fills 40% at once and the
rest at the next bar: the close leg of the flip is still partly filled when the
executor looks it up, so the open leg must not be sent in that cycle (skipped, alerted);
the next cycle plans again from the real (flat) position and opens the short.
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from helpers.emulator_sessions import GATEWAYS, assert_book_matches_journal, demo, drive
from live_helpers import positions_json

TARGET = Decimal("0.3")
FLIP_STRATEGY = '''
def flip(context, config_dict):
    """Hold BTCUSDT long in the first cycle, short from the second on."""
    n = context.state.get("n", 0)
    context.state["n"] = n + 1
    return {"BTCUSDT": 0.3 if n == 0 else -0.3}
'''


def _flip_run(session_run, tmp_path: Path, gateway: str) -> Any:
    strategy = tmp_path / "flip_strategy.py"
    strategy.write_text(FLIP_STRATEGY, encoding="utf-8")
    return demo(
        session_run,
        gateway,
        strategy=f"{strategy}:flip",
        strategy_name="flip",
        symbols=["BTCUSDT"],
        trading_duration="1h 15m",
    )


@pytest.mark.slow
@GATEWAYS
def test_open_leg_of_a_flip_waits_while_its_close_is_partly_filled(session_run, tmp_path, gateway):
    run = _flip_run(session_run, tmp_path, gateway)
    [state] = drive(run, [{"partial_fills": [{"ratio": 0.4, "symbol": "BTCUSDT"}]}])
    assert state["code"] == 0, run.log()[-3000:]
    journal = run.journal()

    # the flip cycle: the close was sent (and split), the open leg journaled as skipped
    flip_cycle = next(
        c.cycle for c in journal.cycles() if any(o.leg == "close" for o in journal.orders(c.cycle))
    )
    legs = {o.leg: o for o in journal.orders(flip_cycle)}
    assert set(legs) == {"close", "open"}, legs
    assert legs["close"].sends == 1
    skipped = legs["open"]
    assert (skipped.status, skipped.sends) == ("skipped", 0)
    assert "not fully filled" in (skipped.reason or "")
    # ... and never reached the exchange
    sent = {o["client_oid"] for o in state["orders"]}
    assert skipped.client_id not in sent
    assert legs["close"].client_id in sent
    close_fills = [f for f in state["fill_rows"] if f["client_oid"] == legs["close"].client_id]
    assert len(close_fills) == 2  # 40% at once, the rest at the next bar
    # an alert/event names the skipped leg
    events = journal.events("flip_skipped")
    assert len(events) == 1
    assert skipped.client_id in events[0].message
    assert events[0].cycle == flip_cycle

    # the next cycle re-planned from the real (flat) position and opened the short alone
    after = journal.orders(flip_cycle + 1)
    assert [(o.leg, o.side, o.sends, o.status) for o in after] == [("open", "sell", 1, "filled")]

    # by the end: short at the target, one order per client id, journal and exchange agree
    ids = collections.Counter(o["client_oid"] for o in state["orders"])
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1]
    assert Decimal(state["positions"]["BTCUSDT"]) == -after[0].amount
    assert state["open_orders"] == []
    last = [c for c in journal.cycles() if c.state == "done"][-1]
    assert last.cycle > flip_cycle + 1
    held = positions_json(last.positions_after_json)
    price = Decimal(json.loads(last.prices_json)["BTCUSDT"])
    weight = held["BTCUSDT"] * price / Decimal(run.config["leverage"]) / last.equity
    assert abs(weight + TARGET) <= Decimal("0.02"), weight
    assert_book_matches_journal(run, state)


@pytest.mark.slow
@GATEWAYS
def test_open_leg_of_a_flip_follows_its_filled_close_in_the_same_cycle(
    session_run, tmp_path, gateway
):
    run = _flip_run(session_run, tmp_path, gateway)
    [state] = drive(run, [{}])
    assert state["code"] == 0, run.log()[-3000:]
    journal = run.journal()
    assert not journal.events("flip_skipped")

    flip_cycle = next(
        c.cycle for c in journal.cycles() if any(o.leg == "close" for o in journal.orders(c.cycle))
    )
    legs = {o.leg: o for o in journal.orders(flip_cycle)}
    assert {leg: (o.status, o.sends) for leg, o in legs.items()} == {
        "close": ("filled", 1),
        "open": ("filled", 1),
    }
    sent = [o["client_oid"] for o in state["orders"]]
    assert sent.index(legs["close"].client_id) < sent.index(legs["open"].client_id)
    # short at the target right after the flip cycle, nothing traded after it
    cycle = journal.cycle(flip_cycle)
    assert cycle is not None
    held = positions_json(cycle.positions_after_json)
    assert held["BTCUSDT"] == -legs["open"].amount
    assert all(not journal.orders(c.cycle) for c in journal.cycles() if c.cycle > flip_cycle)
    ids = collections.Counter(sent)
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1]
    assert state["open_orders"] == []
    assert_book_matches_journal(run, state)
