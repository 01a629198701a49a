"""Partial fills on the Bitget emulator through the real ``ccxt.bitget``.

A partial-fill rule makes a futures market order fill part of its size at once
(``partially_filled``: open, in orders-pending, ``filled`` < ``amount``) and the rest at
the next price step; the fills list both pieces and the books stay balanced.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

D = Decimal
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


@pytest.fixture
def exchange(emulator, bitget):
    client = bitget(key="alice")
    client.load_markets()
    return client


def _size(exchange, symbol: str) -> Decimal:
    rows = exchange.fetch_positions([symbol])
    if not rows:
        return D(0)
    sign = 1 if rows[0]["side"] == "long" else -1
    return sign * D(str(rows[0]["contracts"]))


def test_a_market_order_fills_in_part_then_the_rest_on_the_next_bar(
    emulator, emulator_clock, exchange
):
    rule = emulator.partial_fills(0.4, symbol="BTCUSDT", count=1)
    placed = exchange.create_order(BTC, "market", "buy", 0.05, params={"clientOrderId": "p-1"})

    order = exchange.fetch_order(None, BTC, params={"clientOrderId": "p-1"})
    assert order["id"] == placed["id"]
    assert (order["status"], order["amount"], order["filled"]) == ("open", 0.05, 0.02)
    assert order["info"]["state"] == "partially_filled"
    pending = exchange.fetch_open_orders(BTC)
    assert [(o["id"], o["filled"]) for o in pending] == [(placed["id"], 0.02)]
    assert _size(exchange, BTC) == D("0.02")
    assert [t["amount"] for t in exchange.fetch_my_trades(BTC)] == [0.02]
    assert rule.fired == 1

    emulator_clock.advance(120)  # the next 1m bar closes: the rest executes
    emulator.advance()
    done = exchange.fetch_order(placed["id"], BTC)
    assert (done["status"], done["filled"]) == ("closed", 0.05)
    assert exchange.fetch_open_orders(BTC) == []
    trades = exchange.fetch_my_trades(BTC)
    assert sorted(t["amount"] for t in trades) == [0.02, 0.03]
    assert {t["order"] for t in trades} == {placed["id"]}
    assert {t["info"]["clientOid"] for t in trades} == {"p-1"}
    assert _size(exchange, BTC) == D("0.05")
    ledger = emulator.ledger("alice")
    assert ledger.futures_drift() == 0
    assert ledger.fees("BTCUSDT") == sum((f.fee for f in ledger.fills_of("BTCUSDT")), D(0))
    notional = sum((f.price * f.size for f in ledger.fills_of("BTCUSDT")), D(0))
    assert D(str(done["average"])) == pytest.approx(notional / D("0.05"))

    # the rule was for one order: the next one fills at once
    exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOrderId": "p-2"})
    second = exchange.fetch_order(None, BTC, params={"clientOrderId": "p-2"})
    assert (second["status"], second["filled"]) == ("closed", 0.01)


def test_a_reduce_only_close_fills_in_part_at_pinned_prices(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    exchange.create_order(BTC, "market", "buy", 0.04)
    emulator.partial_fills(0.5)
    close = exchange.create_order(BTC, "market", "sell", 0.04, params={"reduceOnly": True})
    assert exchange.fetch_order(close["id"], BTC)["filled"] == 0.02
    assert _size(exchange, BTC) == D("0.02")

    emulator.set_price("BTCUSDT", 61000)  # the next price step closes the rest there
    assert exchange.fetch_order(close["id"], BTC)["status"] == "closed"
    assert _size(exchange, BTC) == D(0)
    ledger = emulator.ledger("alice")
    closes = [f for f in ledger.fills_of("BTCUSDT") if f.trade_side == "close"]
    assert [(f.size, f.price, f.profit) for f in closes] == [
        (D("0.02"), D(60000), D(0)),
        (D("0.02"), D(61000), D(20)),
    ]
    assert ledger.realized_pnl == D(20)
    assert ledger.futures_drift() == 0


def test_a_global_rule_splits_every_symbol_but_not_a_size_too_small_to_split(
    emulator, emulator_clock, exchange
):
    emulator.partial_fills("0.5")
    eth = exchange.create_order(ETH, "market", "sell", 0.3)
    tiny = exchange.create_order(BTC, "market", "buy", 0.001)  # half rounds to 0
    assert exchange.fetch_order(eth["id"], ETH)["filled"] == pytest.approx(0.15)
    assert exchange.fetch_order(tiny["id"], BTC)["status"] == "closed"
    emulator_clock.advance(120)
    emulator.advance()
    assert exchange.fetch_order(eth["id"], ETH)["status"] == "closed"
    assert _size(exchange, ETH) == D("-0.3")
    emulator.partial_fills(None)
    assert emulator.engine.partials.rules == []


def test_a_partially_filled_order_can_be_cancelled_and_its_client_id_stays_taken(
    emulator, emulator_clock, exchange
):
    import ccxt

    emulator.partial_fills(0.4, count=1)
    placed = exchange.create_order(BTC, "market", "buy", 0.05, params={"clientOrderId": "c-1"})
    with pytest.raises(ccxt.ExchangeError):  # Bitget refuses a clientOid it has seen
        exchange.create_order(BTC, "market", "buy", 0.05, params={"clientOrderId": "c-1"})
    exchange.cancel_order(placed["id"], BTC)
    emulator_clock.advance(120)
    emulator.advance()
    order = exchange.fetch_order(placed["id"], BTC)
    assert (order["status"], order["filled"]) == ("canceled", 0.02)
    assert _size(exchange, BTC) == D("0.02")
    assert emulator.ledger("alice").futures_drift() == 0
