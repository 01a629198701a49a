"""ccxt trades -> our ``Fill``: the fee as the venue charged it, and its value in quote."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from aifap.core.orders import Side
from aifap.exchange.ccxt import gateway_convert as convert


def trade(symbol: str, side: str, fee: dict[str, object] | None) -> dict[str, object]:
    return {"symbol": symbol, "side": side, "amount": 0.5, "price": 60000.5,
            "timestamp": 1_700_000_000_000, "id": "t1", "order": "o1",
            "clientOrderId": "c1", "fee": fee, "info": {}}


def test_a_spot_buy_fee_in_the_base_keeps_its_coin_and_is_valued_at_the_price():
    fill = convert.fill(trade("BTC/USDT", "buy", {"cost": 0.0005, "currency": "BTC"}), "USDT")
    assert (fill.side, fill.amount, fill.fee, fill.fee_currency) == (
        Side.BUY, D("0.5"), D("0.0005"), "BTC")
    assert fill.fee_quote == fill.fee_value == D("0.0005") * D("60000.5")


def test_a_quote_fee_stays_as_it_was():
    fill = convert.fill(trade("BTC/USDT:USDT", "sell", {"cost": -18.0, "currency": "USDT"}), "USDT")
    assert (fill.fee, fill.fee_currency, fill.fee_quote, fill.fee_value) == (
        D(18), "USDT", None, D(18))


def test_no_fee_is_a_zero_quote_fee():
    fill = convert.fill(trade("BTC/USDT", "sell", None), "USDT")
    assert (fill.fee, fill.fee_currency, fill.fee_value) == (D(0), "USDT", D(0))


def test_a_fee_in_a_third_coin_is_kept_and_valued_at_zero_with_a_warning(
    caplog: pytest.LogCaptureFixture,
):
    fill = convert.fill(trade("BTC/USDT", "buy", {"cost": 0.01, "currency": "BNB"}), "USDT")
    assert (fill.fee, fill.fee_currency, fill.fee_value) == (D("0.01"), "BNB", D(0))
    assert "cannot be valued in USDT" in caplog.text
