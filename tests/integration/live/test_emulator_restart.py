"""Crash recovery against the Bitget emulator through ccxt's real ``bitget`` class.

The remaining restart cases of the live issue: a partial fill at the moment of the
kill, a fill that arrives while the session is down, and a position changed by hand
on the exchange while the session was down (refuse or adopt). The emulator runs in
the session's parent (``emulator_driver.py``) on the session's stepped replay clock.
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from typing import Any

import pytest
from helpers.emulator_sessions import GATEWAYS, demo, drive
from live_helpers import positions_json

from aifap.live.recovery import expected_book

pytestmark = pytest.mark.slow

PARTIAL = [{"ratio": 0.4}]  # every market order fills 40% at once, the rest a bar later


def _assert_no_duplicates(state: dict[str, Any]) -> None:
    ids = collections.Counter(o["client_oid"] for o in state["orders"])
    assert ids, "nothing reached the exchange"
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1]


def _assert_complete(run, state: dict[str, Any]) -> None:
    """Every fill at the exchange is journaled once; the books agree and balance."""
    journal = run.journal()
    keys = collections.Counter(f.fill_key for f in journal.fills())
    assert max(keys.values()) == 1
    assert set(keys) == {f"t:{f['trade_id']}" for f in state["fill_rows"]}, "a fill unrecorded"
    actual = {s: Decimal(v) for s, v in state["positions"].items()}
    assert expected_book(journal, journal.session_row()) == actual
    assert all(c.state in ("done", "skipped") for c in journal.cycles())
    assert Decimal(state["drift"]) == 0


def _assert_orders_complete(run, cycle: int) -> None:
    orders = run.journal().orders(cycle)
    assert orders
    assert all(o.sends == 1 for o in orders), [(o.client_id, o.sends) for o in orders]
    assert all(o.status == "filled" and o.filled == o.amount for o in orders), [
        (o.client_id, o.status, o.filled, o.amount) for o in orders
    ]


def _pieces(run, cycle: int) -> dict[str, list[Any]]:
    ids = {o.client_id for o in run.journal().orders(cycle)}
    pieces: dict[str, list[Any]] = collections.defaultdict(list)
    for fill in run.journal().fills():
        if fill.client_id in ids:
            pieces[fill.client_id].append(fill)
    return pieces


@GATEWAYS
def test_partial_fill_at_the_kill_restart_fills_the_rest_once(session_run, gateway):
    run = demo(session_run, gateway, trading_duration="1h 15m")
    kill = {"AIFAP_LIVE_KILL_AT": "main.after_accept@2"}
    first, second = drive(run, [{"partial_fills": PARTIAL, "env": kill}, {}])
    assert first["code"] == 1
    assert "main process died" in first["reason"]
    # the kill came while the exchange held cycle 2's orders partly filled
    cycle2 = {o.client_id for o in run.journal().orders(2)}
    assert cycle2
    assert set(first["open_orders"]) == cycle2
    assert first["cycles"]["2"] == "executing"

    assert second["code"] == 0, run.log()[-3000:]
    assert second["open_orders"] == []
    _assert_no_duplicates(second)
    _assert_complete(run, second)
    _assert_orders_complete(run, 2)  # looked up on restart, never resent, then completed
    assert run.journal().cycle(2).replayed
    pieces = _pieces(run, 2)
    assert set(pieces) == cycle2
    for client_id, fills in pieces.items():  # the part at once, the rest later: both journaled
        assert len(fills) == 2, client_id
        order = next(o for o in run.journal().orders(2) if o.client_id == client_id)
        assert sum((f.amount for f in fills), Decimal(0)) == order.amount


@GATEWAYS
def test_the_rest_of_a_partial_fill_arrives_while_the_session_is_down(session_run, gateway):
    run = demo(session_run, gateway, trading_duration="1h 15m")
    kill = {"AIFAP_LIVE_KILL_AT": "main.before_stops@2"}
    first, second = drive(
        run,
        [
            {"partial_fills": PARTIAL, "env": kill},
            {"before": [{"advance_minutes": 3}]},  # the exchange trades on while we are down
        ],
    )
    assert first["code"] == 1
    cycle2 = {o.client_id for o in run.journal().orders(2)}
    assert set(first["open_orders"]) == cycle2
    down_since = first["clock_ms"]
    while_down = [f for f in second["fill_rows"] if f["client_oid"] in cycle2
                  and f["ts"] > down_since]
    assert len(while_down) == len(cycle2), "each rest filled while the session was down"

    assert second["code"] == 0, run.log()[-3000:]
    assert "fills that arrived while the session was down" in run.log()
    _assert_no_duplicates(second)
    _assert_complete(run, second)
    _assert_orders_complete(run, 2)
    recorded = {f.fill_key for f in run.journal().fills()}
    assert {f"t:{f['trade_id']}" for f in while_down} <= recorded


def _weights(cycle, leverage: Decimal) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    targets = {s: Decimal(t["weight"]) for s, t in json.loads(cycle.targets_json).items()}
    prices = {s: Decimal(p) for s, p in json.loads(cycle.prices_json).items()}
    held = positions_json(cycle.positions_after_json)
    weights = {s: n * prices[s] / leverage / cycle.equity for s, n in held.items() if n}
    return targets, weights


@GATEWAYS
@pytest.mark.parametrize("policy", ["refuse", "adopt"])
def test_position_changed_by_hand_on_the_exchange_while_down(session_run, policy, gateway):
    run = demo(session_run, gateway, trading_duration="45m")
    by_hand = {"order": {"symbol": "BTC/USDT:USDT", "side": "buy", "amount": 0.01}}
    first, second = drive(
        run,
        [
            {},
            {
                "before": [by_hand],
                "config": {"on_foreign_position": policy, "trading_duration": "1h 30m"},
            },
        ],
    )
    assert first["code"] == 0, run.log()[-3000:]
    cycles_before = len(first["cycles"])
    journal = run.journal()
    row = journal.session_row()
    if policy == "refuse":
        assert second["code"] == 1
        assert "on_foreign_position=refuse" in row.reason
        assert "BTCUSDT" in row.reason
        assert any("on_foreign_position=refuse" in m for m in second["critical"])
        assert len(second["orders"]) == len(first["orders"]) + 1  # only the hand-placed one
        assert len(journal.cycles()) == cycles_before  # nothing traded
        assert row.baseline_epoch == 0
        return
    assert second["code"] == 0, run.log()[-3000:]
    assert journal.events("foreign_adopted")
    assert row.baseline_epoch == 1
    assert len(journal.cycles()) > cycles_before
    _assert_no_duplicates(second)
    _assert_complete(run, second)
    # the adopted 0.01 BTC became part of the book: every later cycle holds the targets
    leverage = Decimal(run.config["leverage"])
    later = [c for c in journal.cycles() if c.cycle > cycles_before and c.state == "done"]
    assert later
    for cycle in later:
        targets, weights = _weights(cycle, leverage)
        for symbol in run.config["symbols"]:
            diff = abs(weights.get(symbol, Decimal(0)) - targets.get(symbol, Decimal(0)))
            assert diff <= Decimal("0.02"), (cycle.cycle, symbol, weights, targets)


@GATEWAYS
def test_a_stop_loss_that_fires_while_down_is_recorded_as_the_sessions_own(session_run, gateway):
    from live_helpers import STRATEGIES

    run = demo(session_run, gateway, strategy=f"{STRATEGIES}:guarded", trading_duration="45m")
    first, second = drive(
        run,
        [
            {},
            {
                "before": [{"price_factor": ["BTCUSDT", 0.9]}],  # BTC gaps through its stop
                "config": {"trading_duration": "1h 30m"},  # on_foreign_position: refuse
            },
        ],
    )
    assert first["code"] == 0, run.log()[-3000:]
    assert "BTCUSDT" in first["positions"]
    ours = run.journal().client_ids()  # the stop's execution has an exchange-made id
    stops = [f for f in second["fill_rows"] if f["client_oid"] not in ours]
    assert stops, second["fill_rows"]
    assert all(f["side"] == "sell" for f in stops)
    # the restart recorded the stop's fill as the session's own, not as a foreign change
    assert second["code"] == 0, (second["reason"], run.log()[-3000:])
    journal = run.journal()
    assert not journal.events("foreign_adopted")
    recorded = {f.fill_key: f for f in journal.fills()}
    for fill in stops:
        assert recorded[f"t:{fill['trade_id']}"].ours
        # linked exactly: the trigger's history names the order it executed
        assert recorded[f"t:{fill['trade_id']}"].reason == "stop_loss"
    _assert_no_duplicates(second)
    _assert_complete(run, second)


@GATEWAYS
def test_a_close_by_hand_near_the_stop_while_down_is_not_taken_for_the_stop(session_run, gateway):
    from live_helpers import STRATEGIES

    run = demo(session_run, gateway, strategy=f"{STRATEGIES}:guarded", trading_duration="45m")
    # a reduce-only sell by hand while BTC sits 0.05 % above our stop: by price alone it
    # would pass for the stop's execution, but no trigger of ours executed it
    by_hand = {
        "order": {
            "symbol": "BTC/USDT:USDT",
            "side": "sell",
            "amount": 0.001,
            "reduceOnly": True,
            "at_stop": 1.0005,
        }
    }
    first, second = drive(
        run,
        [
            {},
            {
                "before": [by_hand],
                "config": {"trading_duration": "1h 30m"},  # on_foreign_position: refuse
            },
        ],
    )
    assert first["code"] == 0, run.log()[-3000:]
    assert "BTCUSDT" in first["positions"]
    assert len(second["orders"]) == len(first["orders"]) + 1  # the hand-placed one only
    assert second["code"] == 1, (second["reason"], run.log()[-3000:])
    row = run.journal().session_row()
    assert "on_foreign_position=refuse" in row.reason
    assert "BTCUSDT" in row.reason
    journal = run.journal()
    assert not journal.events("foreign_adopted")
    assert all(f.reason == "rebalance" for f in journal.fills())
