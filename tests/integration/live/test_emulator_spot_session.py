"""End to end: spot demo sessions through ccxt's real ``bitget`` class against the emulator.

Each test runs twice: the session's own ccxt gateway, and the gateway service
(``aifap serve gateway``) holding the keys.

The emulator charges spot as Bitget does (a buy's fee out of the coin received, a
sell's out of the USDT received, market buys sized in USDT). One strategy walks the
session through a buy-and-hold with all the cash, a hold, a rotation from BTC to XRP,
partial sells, a buy with the freed cash and full exits, then:

- no order is rejected (a rotation's buy is clipped to the USDT its sell really brought);
- every cycle's equity is the emulator's account at that instant, USDT + coins × price,
  to the cent (the coins count: a hold trades nothing);
- the journal's book (fills net of base-coin fees) is the emulator's coins exactly;
- a restart after a kill in the middle finds no foreign position and trades on.

XRP's amount step (1) is far below the 0.1 % fee of a 10 000 USDT buy, so a book
counting fill amounts gross of the fee would differ from the venue by many steps.
"""

from __future__ import annotations

import collections
import json
from decimal import Decimal
from typing import Any

import pytest
from helpers.emulator_sessions import GATEWAYS, demo
from helpers.emulator_sessions import drive as _drive
from live_helpers import STRATEGIES, SessionRun, positions_json

from aifap.live.recovery import expected_book

pytestmark = pytest.mark.slow

CENT = Decimal("0.01")
COIN = Decimal("1e-8")
ALLOCATION = Decimal(10_000)
BOOKS = [
    {"BTCUSDT": 1.0},  # 1: buy and hold with all the cash
    {"BTCUSDT": 1.0},  # 2: hold: nothing trades
    {"XRPUSDT": 1.0},  # 3: rotation: sell all the BTC, buy XRP with what it brought
    {"XRPUSDT": 0.6},  # 4: partial sell
    {"XRPUSDT": 0.6, "BTCUSDT": 0.4},  # 5: buy with the cash the partial sell freed
    {"XRPUSDT": 0.3},  # 6: partial sell of XRP, full exit of BTC (dust left)
    {},  # 7: full exit
]
TRADES = {  # cycle: the (symbol, side) of its orders, in plan order
    1: [("BTCUSDT", "buy")],
    2: [],
    3: [("BTCUSDT", "sell"), ("XRPUSDT", "buy")],
    4: [("XRPUSDT", "sell")],
    5: [("BTCUSDT", "buy")],
    6: [("BTCUSDT", "sell"), ("XRPUSDT", "sell")],
    7: [("XRPUSDT", "sell")],
}
BASES = {"BTCUSDT": "BTC", "XRPUSDT": "XRP"}


def _spot(session_run, gateway: str) -> SessionRun:
    run: SessionRun = demo(
        session_run,
        gateway,
        market="spot",
        leverage=1,
        symbols=["BTCUSDT", "XRPUSDT"],
        strategy=f"{STRATEGIES}:spot_tour",
        strategy_name="spot",
        config_dict={"books": BOOKS},
        allocation=int(ALLOCATION),
        trading_duration="2h",
        threshold="0.05",  # the weights' drift between cycles trades nothing
    )
    return run


def _account(fills: list[dict[str, Any]], before_ms: int | None = None) -> dict[str, Decimal]:
    """Return the emulator account (USDT and coins) its fills before ``before_ms`` leave."""
    coins: dict[str, Decimal] = collections.defaultdict(Decimal)
    coins["USDT"] = ALLOCATION
    for f in fills:
        if before_ms is not None and f["ts"] >= before_ms:
            continue
        base = BASES[f["symbol"]]
        size, quote, fee = (Decimal(f[k]) for k in ("size", "quote", "fee"))
        if f["side"] == "buy":
            coins["USDT"] -= quote
            coins[base] += size
        else:
            coins["USDT"] += quote
            coins[base] -= size
        coins[f["fee_coin"]] -= fee
    return dict(coins)


def _assert_spot_session(run: SessionRun, state: dict[str, Any]) -> None:
    journal = run.journal()
    cycles = {c.cycle: c for c in journal.cycles()}
    assert sorted(cycles) == list(range(1, 8)), [(c.cycle, c.state) for c in cycles.values()]
    assert all(c.state == "done" for c in cycles.values()), [
        (c.cycle, c.state, c.reason) for c in cycles.values()
    ]
    # every order went once, none was rejected, each filled
    orders = journal.orders()
    states = [(o.client_id, o.status, o.reason) for o in orders]
    assert all(o.status == "filled" for o in orders), states
    assert all(o.sends == 1 for o in orders)
    sent = collections.Counter(o["client_oid"] for o in state["orders"])
    assert max(sent.values()) == 1
    for cycle, trades in TRADES.items():
        assert [(o.symbol, o.side) for o in journal.orders(cycle)] == trades, cycle
    events = journal.events()
    kinds = {e.kind for e in events}
    assert not kinds & {"order_rejected", "foreign_adopted", "buy_skipped"}, kinds
    # the only failures are the kills of the restart test: no foreign position, no rejection
    failures = [e.message for e in events if e.level in ("error", "critical")]
    assert all("main process died" in m for m in failures), failures
    # every cycle's equity is the emulator's account at that instant, to the cent
    for number, cycle in cycles.items():
        account = _account(state["fill_rows"], cycle.started_ms)
        prices = {s: Decimal(p) for s, p in json.loads(cycle.prices_json).items()}
        value = account["USDT"] + sum(account.get(BASES[s], 0) * p for s, p in prices.items())
        assert abs(cycle.equity - value) < CENT, (number, cycle.equity, value)
        # the coins held after the cycle are the targets' weights of that equity
        held = positions_json(cycle.positions_after_json)
        targets = BOOKS[number - 1]
        for symbol in BASES:
            weight = held.get(symbol, Decimal(0)) * prices[symbol] / cycle.equity
            assert abs(weight - Decimal(str(targets.get(symbol, 0)))) < Decimal("0.05"), number
    # the journal's book is the emulator's coins (dust included), the USDT matches its fills
    final = _account(state["fill_rows"])
    spot = {coin: Decimal(v) for coin, v in state["spot"].items()}
    assert abs(spot["USDT"] - final["USDT"]) < CENT
    book = expected_book(journal, journal.session_row())
    for symbol, base in BASES.items():
        assert abs(book.get(symbol, Decimal(0)) - spot.get(base, Decimal(0))) < COIN, symbol
    assert spot["BTC"] < Decimal("0.001")  # dust below the amount step
    assert spot["XRP"] < 1


@GATEWAYS
def test_spot_session_buys_rotates_sells_and_exits_with_the_emulator_to_the_cent(
    session_run, gateway
):
    run = _spot(session_run, gateway)
    [state] = _drive(run, [{}])
    assert state["code"] == 0, run.log()[-3000:]
    _assert_spot_session(run, state)


@GATEWAYS
def test_spot_session_killed_mid_rotation_and_after_an_exit_restarts_without_foreign(
    session_run, gateway
):
    run = _spot(session_run, gateway)
    first, second, third = _drive(
        run,
        [
            # between the rotation's BTC sell and its XRP buy
            {"env": {"AIFAP_LIVE_KILL_AT": "main.between_batches@3"}},
            # cycle 7 planned (BTC dust left by cycle 6), nothing sent
            {"env": {"AIFAP_LIVE_KILL_AT": "main.before_send@7"}},
            {},
        ],
    )
    for killed in (first, second):
        assert killed["code"] == 1
        assert "main process died" in killed["reason"], killed["reason"]
    assert third["code"] == 0, run.log()[-3000:]
    journal = run.journal()
    assert journal.cycle(3).replayed
    assert journal.cycle(7).replayed
    _assert_spot_session(run, third)
