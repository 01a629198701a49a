"""Futures trading on the Bitget emulator through the real ``ccxt.bitget``: positions,
SL/TP (preset and separate trigger orders), fees, funding and the ledger."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import numpy as np
import pandas as pd
import pytest

D = Decimal
BTC = "BTC/USDT:USDT"


@pytest.fixture
def exchange(emulator, bitget):
    client = bitget(key="alice")
    client.load_markets()
    return client


def fees_of(trades) -> Decimal:
    return sum((D(str(t["fee"]["cost"])) for t in trades), D(0))


def test_open_add_reduce_flip_close_reconciles_to_the_cent(emulator, exchange):
    steps = [  # price, side, amount, params
        (60000, "buy", 0.02, {"stopLoss": {"triggerPrice": 58000},
                              "takeProfit": {"triggerPrice": 66000}}),
        (61000, "buy", 0.02, {}),
        (62000, "sell", 0.01, {"reduceOnly": True}),
        (59000, "sell", 0.05, {}),  # closes 0.03 long, opens 0.02 short
        (58000, "buy", 0.02, {"reduceOnly": True}),
    ]
    sizes = []
    for price, side, amount, params in steps:
        emulator.set_price("BTCUSDT", price)
        order = exchange.create_order(BTC, "market", side, amount, params=params)
        assert exchange.fetch_order(order["id"], BTC)["status"] == "closed"
        positions = exchange.fetch_positions([BTC])
        sizes.append((positions[0]["side"], positions[0]["contracts"],
                      positions[0]["entryPrice"]) if positions else None)
    assert sizes == [("long", 0.02, 60000), ("long", 0.04, 60500), ("long", 0.03, 60500),
                     ("short", 0.02, 59000), None]

    trades = exchange.fetch_my_trades(BTC)
    ledger = emulator.ledger("alice")
    assert len(trades) == len(ledger.fills_of("BTCUSDT")) == 6  # the flip fills twice
    assert fees_of(trades) == ledger.fees("BTCUSDT") == D("4.29")
    assert ledger.realized_pnl == D(15) - D(45) + D(20)
    assert ledger.futures_wallet == D("9985.71")
    assert ledger.futures_drift() == 0
    assert D(str(exchange.fetch_balance()["USDT"]["total"])) == D("9985.71")
    profits = sum((D(t["info"]["profit"]) for t in trades), D(0))
    assert profits == ledger.realized_pnl
    # the long's preset TP/SL went away with the long
    assert ledger.open_plans() == []


def test_preset_stops_follow_the_order_and_fire_on_the_price(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    exchange.create_order(BTC, "market", "buy", 0.01,
                          params={"stopLoss": {"triggerPrice": 59000},
                                  "takeProfit": {"triggerPrice": 63000}})
    stops = exchange.fetch_open_orders(BTC, params={"trigger": True, "planType": "profit_loss"})
    assert sorted(o["triggerPrice"] for o in stops) == [59000, 63000]
    emulator.set_price("BTCUSDT", 58900)  # a jump past the stop fills at the new price
    assert exchange.fetch_positions([BTC]) == []
    ledger = emulator.ledger("alice")
    closing = ledger.fills_of("BTCUSDT")[-1]
    assert (closing.side, closing.price, closing.profit) == ("sell", D(58900), D(-11))
    assert ledger.open_plans() == []  # the take profit was cancelled with the position


def test_separate_trigger_orders_cover_the_whole_position(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    exchange.create_order(BTC, "market", "buy", 0.01)
    stop = exchange.create_order(BTC, "market", "sell", 0.01,
                                 params={"stopLossPrice": 58000, "reduceOnly": True})
    record = emulator.request_log.records("/api/v2/mix/order/place-tpsl-order")[-1]
    assert record.params["planType"] == "pos_loss"
    exchange.create_order(BTC, "market", "buy", 0.02)  # add after the stop was placed
    emulator.set_price("BTCUSDT", 57500)
    assert exchange.fetch_positions([BTC]) == []
    ledger = emulator.ledger("alice")
    assert ledger.fills_of("BTCUSDT")[-1].size == D("0.03")
    assert {p.order_id: p.status for p in ledger.plans}[stop["id"]] == "executed"


def test_stop_loss_fires_on_the_bar_path(make_emulator, bitget_for, emulator_clock):
    start = pd.Timestamp("2024-02-29T23:00:00Z")
    close = np.r_[np.full(60, 60000.0), np.linspace(60000, 57000, 60)]
    index = pd.date_range(start, periods=120, freq="1min", name="timestamp")
    frame = pd.DataFrame({"open": np.r_[close[0], close[:-1]], "high": close + 5,
                          "low": close - 5, "close": close, "volume": 1.0}, index=index)
    emu = make_emulator(bars={"BTCUSDT": frame})
    exchange = bitget_for(emu, key="bob")
    exchange.create_order(BTC, "market", "buy", 0.01, params={"stopLoss": {"triggerPrice":
                                                                            59000}})
    emulator_clock.advance(3600)
    emu.advance()
    ledger = emu.ledger("bob")
    assert ledger.positions == {}
    stop_fill = ledger.fills_of("BTCUSDT")[-1]
    assert stop_fill.price == D(59000)
    assert stop_fill.profit == D("-10")
    assert exchange.fetch_positions([BTC]) == []


def test_limit_order_rests_then_fills_when_crossed(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    order = exchange.create_order(BTC, "limit", "buy", 0.01, 59500, params={"clientOid": "lim-1"})
    assert [o["id"] for o in exchange.fetch_open_orders(BTC)] == [order["id"]]
    emulator.set_price("BTCUSDT", 59400)
    filled = exchange.fetch_order(order["id"], BTC)
    assert (filled["status"], filled["average"]) == ("closed", 59500)
    assert emulator.ledger("alice").fills[-1].scope == "maker"
    assert exchange.fetch_open_orders(BTC) == []


def test_cancel_and_lookup_by_client_id(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    order = exchange.create_order(BTC, "limit", "sell", 0.01, 61000,
                                  params={"clientOid": "sess1-c7-BTCUSDT-0"})
    found = exchange.fetch_order(None, BTC, params={"clientOid": "sess1-c7-BTCUSDT-0"})
    assert found["id"] == order["id"]
    exchange.cancel_order(order["id"], BTC)
    assert exchange.fetch_order(order["id"], BTC)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(order["id"], BTC)


def test_duplicate_client_id_is_refused(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "dup-1"})
    with pytest.raises(ccxt.ExchangeError, match="40786"):
        exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "dup-1"})
    assert len(emulator.ledger("alice").orders) == 1


def test_without_dedupe_only_open_orders_block_a_client_id(make_emulator, bitget_for):
    emu = make_emulator(dedupe_client_oids=False)
    exchange = bitget_for(emu, key="carol")
    emu.set_price("BTCUSDT", 60000)
    exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "again"})
    exchange.create_order(BTC, "market", "sell", 0.01, params={"clientOid": "again"})
    exchange.create_order(BTC, "limit", "buy", 0.01, 50000, params={"clientOid": "open-1"})
    with pytest.raises(ccxt.ExchangeError, match="40786"):
        exchange.create_order(BTC, "limit", "buy", 0.01, 50000, params={"clientOid": "open-1"})
    assert len(emu.ledger("carol").orders) == 3


@pytest.mark.parametrize("client_id", ["x" * 37, "has space", "semi;colon"])
def test_malformed_client_ids_are_refused(emulator, exchange, client_id):
    emulator.set_price("BTCUSDT", 60000)
    with pytest.raises(ccxt.BadRequest, match="clientOid"):
        exchange.create_order(BTC, "market", "buy", 0.01, params={"clientOid": client_id})
    assert emulator.ledger("alice").orders == []


def test_leverage_above_the_maximum_is_refused(emulator, exchange):
    exchange.set_leverage(20, BTC)
    with pytest.raises(ccxt.ExchangeError, match="40797"):
        exchange.set_leverage(126, BTC)
    assert emulator.ledger("alice").leverage == {"BTCUSDT": 20}


def test_orders_beyond_the_balance_or_below_the_minimum_are_refused(emulator, exchange):
    emulator.set_price("BTCUSDT", 60000)
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order(BTC, "market", "buy", 2)  # 120k notional, 12k margin at 10x
    emulator.set_price("XRPUSDT", "0.4")
    with pytest.raises(ccxt.InvalidOrder, match="45110"):
        exchange.create_order("XRP/USDT:USDT", "market", "buy", 10)  # 4 USDT < 5 USDT
    assert emulator.ledger("alice").orders == []
    assert [r.code for r in emulator.request_log.records("/api/v2/mix/order/place-order")] == [
        "40762", "45110"]


def test_funding_settles_every_eight_hours_per_symbol(emulator, exchange, emulator_clock):
    emulator.set_price("BTCUSDT", 60000)
    emulator.set_price("ETHUSDT", 3000)
    exchange.create_order(BTC, "market", "buy", 0.1)
    exchange.create_order("ETH/USDT:USDT", "market", "sell", 1)
    emulator_clock.advance(16 * 3600 + 60)  # 08:00 and 16:00
    emulator.advance()
    ledger = emulator.ledger("alice")
    assert ledger.funding_for("BTCUSDT") == D("-1.2")  # long pays 0.01% of 6000, twice
    assert ledger.funding_for("ETHUSDT") == D("0.6")  # short receives
    assert ledger.futures_drift() == 0
    positions = {p["symbol"]: p for p in exchange.fetch_positions()}
    assert D(positions[BTC]["info"]["totalFee"]) == D("-1.2")
    history = exchange.fetch_funding_history(BTC)
    assert sorted(D(str(h["amount"])) for h in history) == [D("-0.6"), D("-0.6")]


def test_fee_rate_and_markets_are_configurable(make_emulator, bitget_for):
    from aifap.core.markets import MarketSpec, MarketType
    from aifap.exchange.emulator import EmulatorMarket

    spec = MarketSpec("DOGEUSDT", MarketType.FUTURES, "DOGE", "USDT", amount_step=D(1),
                      price_step=D("0.00001"), min_amount=D(10), min_notional=D(5),
                      max_leverage=50)
    emu = make_emulator(markets=[EmulatorMarket.from_spec(spec, fallback_price=D("0.1"))],
                        taker_fee="0.001")
    exchange = bitget_for(emu, key="dana")
    exchange.load_markets()
    market = exchange.market("DOGE/USDT:USDT")
    assert (market["precision"]["amount"], market["precision"]["price"]) == (1, 0.00001)
    assert market["limits"]["leverage"]["max"] == 50
    emu.set_price("DOGEUSDT", "0.1")
    exchange.create_order("DOGE/USDT:USDT", "market", "buy", 100)
    assert emu.ledger("dana").fees() == D("0.01")  # 10 USDT at 0.1%
