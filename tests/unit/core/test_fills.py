"""The fill model: fees, slippage, SL/TP triggers (scalar and vectorized), funding."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from decimal import localcontext

import numpy as np
import pytest

from aifap.core.fills import (
    BpsSlippage,
    FeeModel,
    FillModel,
    NotionalFee,
    SlippageModel,
    affordable,
    first_stop_hits,
    funding_payment,
    stop_trigger,
)
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import FillReason, OrderRequest, Side
from aifap.core.portfolio import Position

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BTC = MarketSpec("BTCUSDT", MarketType.FUTURES, "BTC", "USDT", max_leverage=20)
CONTRACT = MarketSpec("ETHUSDT", MarketType.FUTURES, "ETH", "USDT", contract_size=D("0.1"))


def order(side=Side.BUY, amount="2"):
    return OrderRequest("id-1", "BTCUSDT", side, D(amount))


def test_default_models_satisfy_the_protocols():
    assert isinstance(NotionalFee(), FeeModel)
    assert isinstance(BpsSlippage(), SlippageModel)


def test_fee_is_rate_times_notional_including_contract_size():
    assert NotionalFee(D("0.0006")).fee(BTC, Side.BUY, D(2), D(100)) == D("0.1200")
    assert NotionalFee(D("0.001")).fee(CONTRACT, Side.SELL, D(10), D(2000)) == D("2.000")


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, D("100.1")), (Side.SELL, D("99.9"))])
def test_slippage_is_adverse(side, price):
    assert BpsSlippage(D(10)).fill_price(BTC, side, D(1), D(100)) == price


def test_negative_rates_are_rejected():
    with pytest.raises(ValueError, match=r"fee rate must be a finite number >= 0, was -0\.1"):
        NotionalFee(D("-0.1"))
    with pytest.raises(ValueError, match="slippage must be a finite number of bps >= 0"):
        BpsSlippage(D(-1))


def test_market_fill_at_reference_price_with_slippage_and_fee():
    model = FillModel(NotionalFee(D("0.001")), BpsSlippage(D(10)))
    fill = model.market_fill(order(Side.BUY, "2"), BTC, D(100), T0)
    assert (fill.price, fill.fee, fill.amount, fill.client_id) == (
        D("100.1"),
        D("0.2002"),
        D(2),
        "id-1",
    )
    assert fill.reason is FillReason.REBALANCE


@pytest.mark.parametrize(
    ("size", "sl", "tp", "bar", "expected"),
    [
        # long: (open, high, low)
        (1, 90, 110, (100, 105, 95), None),
        (1, 90, 110, (100, 111, 95), (FillReason.TAKE_PROFIT, 110)),
        (1, 90, 110, (100, 105, 89), (FillReason.STOP_LOSS, 90)),
        (1, 90, 110, (100, 111, 89), (FillReason.STOP_LOSS, 90)),  # both touched: SL first
        (1, 90, 110, (85, 95, 80), (FillReason.STOP_LOSS, 85)),  # gap down through SL: open
        (1, 90, 110, (115, 120, 100), (FillReason.TAKE_PROFIT, 115)),  # gap up through TP
        (1, 90, None, (100, 200, 91), None),
        (1, None, 110, (100, 109, 1), None),
        # short: SL above, TP below
        (-1, 110, 90, (100, 111, 95), (FillReason.STOP_LOSS, 110)),
        (-1, 110, 90, (100, 105, 89), (FillReason.TAKE_PROFIT, 90)),
        (-1, 110, 90, (100, 111, 89), (FillReason.STOP_LOSS, 110)),
        (-1, 110, 90, (112, 115, 108), (FillReason.STOP_LOSS, 112)),
        (-1, 110, 90, (88, 95, 85), (FillReason.TAKE_PROFIT, 88)),
        (0, 110, 90, (100, 200, 1), None),
    ],
)
def test_stop_trigger(size, sl, tp, bar, expected):
    assert stop_trigger(size, sl, tp, *bar) == expected


def test_first_stop_hits_matches_the_scalar_rule_per_column():
    high = np.array([[105, 101, 100], [111, 102, 100], [101, 120, 100]], dtype=float)
    low = np.array([[95, 99, 99], [96, 98, 99], [80, 90, 99]], dtype=float)
    sizes = np.array([1.0, -1.0, 1.0])
    sl = np.array([90.0, 110.0, np.nan])
    tp = np.array([110.0, np.nan, np.nan])
    assert first_stop_hits(sizes, sl, tp, high, low).tolist() == [1, 2, -1]
    assert first_stop_hits(sizes, sl, tp, high[:0], low[:0]).tolist() == [-1, -1, -1]


def test_stop_fill_closes_the_whole_position_with_slippage_and_fee():
    model = FillModel(NotionalFee(D("0.001")), BpsSlippage(D(10)))
    position = Position("BTCUSDT", D(-2), D(100), D(100))
    fill = model.stop_fill(position, BTC, FillReason.STOP_LOSS, D(110), T0)
    assert (fill.side, fill.amount, fill.price, fill.reason) == (
        Side.BUY,
        D(2),
        D("110.11"),
        FillReason.STOP_LOSS,
    )
    assert fill.fee == D("0.22022")


def test_funding_longs_pay_positive_rates_shorts_receive():
    assert funding_payment(D(2), D(1), D(100), D("0.0001")) == D("0.0200")
    assert funding_payment(D(-2), D(1), D(100), D("0.0001")) == D("-0.0200")
    assert funding_payment(D(2), D("0.1"), D(100), D("-0.001")) == D("-0.0200")


def test_affordable_past_28_digits_ends_and_returns_the_largest_step_that_fits():
    # cash / price needs 30 digits at the 1e-5 step: at the default 28 digits the
    # quotient rounded up, ``fits - step`` rounded back to ``fits`` and the loop never
    # ended (found by test_spot_properties: equity compounding over 0.05 -> 90000 marks)
    market = MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT", amount_step=D("0.00001"))
    cash, price = D("2678928332181973553231284.18"), D("19.3223184")
    fits = affordable(market, D("1e30"), price, cash)
    with localcontext(prec=60):  # exact products
        assert fits % market.amount_step == 0
        assert fits * price <= cash < (fits + market.amount_step) * price
    assert fits == D("138644249448967446537434.35777")
