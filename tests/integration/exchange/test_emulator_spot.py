"""Spot trading on the Bitget emulator through the real ``ccxt.bitget``."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

D = Decimal


@pytest.fixture
def spot(emulator, bitget):
    emulator.set_price("BTCUSDT", 50000)
    client = bitget(key="sam", default_type="spot")
    client.load_markets()
    return client


def test_market_buy_then_sell_reconciles(emulator, spot):
    spot.create_order("BTC/USDT", "market", "buy", 0.1, 50000)  # 5,000 USDT of BTC
    emulator.set_price("BTCUSDT", 52000)
    bought = emulator.ledger("sam").spot["BTC"]
    assert bought == D("0.0999")  # 0.1 BTC minus the 0.1% fee in BTC
    spot.create_order("BTC/USDT", "market", "sell", float(bought))
    ledger = emulator.ledger("sam")
    proceeds = bought * 52000
    assert ledger.spot.get("BTC", D(0)) == 0
    assert ledger.spot["USDT"] == D(10_000) - D(5_000) + proceeds - proceeds * D("0.001")
    trades = spot.fetch_my_trades("BTC/USDT")
    assert sorted(t["side"] for t in trades) == ["buy", "sell"]
    assert {t["fee"]["currency"] for t in trades} == {"BTC", "USDT"}
    assert D(str(spot.fetch_balance()["USDT"]["free"])) == ledger.spot["USDT"]


def test_limit_sell_freezes_the_coins_until_filled(emulator, spot):
    spot.create_order("BTC/USDT", "market", "buy", 0.02, 50000)
    order = spot.create_order("BTC/USDT", "limit", "sell", 0.01, 51000)
    balance = spot.fetch_balance()
    assert balance["BTC"]["used"] == 0.01
    assert [o["id"] for o in spot.fetch_open_orders("BTC/USDT")] == [order["id"]]
    emulator.set_price("BTCUSDT", 51500)
    assert spot.fetch_order(order["id"], "BTC/USDT")["status"] == "closed"
    assert emulator.ledger("sam").spot_frozen == {}


def test_spot_orders_beyond_the_balance_are_refused(emulator, spot):
    with pytest.raises(ccxt.InsufficientFunds):
        spot.create_order("BTC/USDT", "market", "sell", 1)
    with pytest.raises(ccxt.InsufficientFunds):
        spot.create_order("BTC/USDT", "market", "buy", 1, 50000)
    assert emulator.ledger("sam").orders == []


def test_a_market_buy_sized_in_usdt_is_filled_whatever_its_base_rounding(emulator, spot):
    emulator.set_price("BTCUSDT", 30001.7)  # 1234.56 USDT is no whole number of 1e-8 BTC
    order = spot.create_order("BTC/USDT", "market", "buy", 1234.56 / 30001.7, 30001.7)
    seen = spot.fetch_order(order["id"], "BTC/USDT")
    assert seen["status"] == "closed"
    assert spot.fetch_open_orders("BTC/USDT") == []
    bought = emulator.ledger("sam").spot["BTC"]
    assert D("0.0411") < bought < D("0.0412")  # 1234.56 / 30001.7 less the 0.1 % fee
