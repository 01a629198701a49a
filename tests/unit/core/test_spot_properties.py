"""Spot invariants over random markets, prices and weights (hypothesis).

Planner -> fill model -> ledger, cycle after cycle, with fills at a price other than
the planning price (the next bar's open, slippage): the cash never goes below zero,
no holding goes below zero, and both books of the ledger agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import example, given, settings
from hypothesis import strategies as st

from aifap.core.errors import InsufficientFundsError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import OrderRequest, Side
from aifap.core.planner import plan
from aifap.core.weights import TargetWeight

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
TOLERANCE = D("1e-12")  # the average entry price is a quotient rounded at 28 digits
# Marks drawn afresh each cycle (0.05 .. 90000) compound equity to 1e17 and beyond, where
# the 28-digit context rounds above 1e-12: the books then agree to 1e-24 of the equity.
RELATIVE = D("1e-24")


@st.composite
def spot_markets(draw):
    return {
        s: MarketSpec(
            s,
            MarketType.SPOT,
            s[:3],
            "USDT",
            amount_step=draw(st.sampled_from([D("0.00001"), D("0.001"), D("0.1"), D(1)])),
            min_amount=draw(st.sampled_from([D(0), D("0.01")])),
            min_notional=draw(st.sampled_from([D(0), D(1), D(5)])),
        )
        for s in SYMBOLS
    }


prices = st.decimals("0.05", "90000", places=2)
moves = st.decimals("0.95", "1.05", places=4)  # fill price / planning price


@st.composite
def cycles(draw):
    out = []
    for _ in range(draw(st.integers(1, 8))):
        raw = {s: draw(st.integers(0, 10)) for s in draw(st.sets(st.sampled_from(SYMBOLS)))}
        total = sum(raw.values())
        scale = max(total, draw(st.integers(1, 10))) if total else 1
        weights = {s: D(w) / scale for s, w in raw.items()}  # Σ ≤ 1, often exactly 1
        marks = {s: draw(prices) for s in SYMBOLS}
        fills = {s: (marks[s] * draw(moves)).quantize(D("0.01")) or D("0.01") for s in SYMBOLS}
        out.append((weights, marks, fills))
    return out


def _same_markets(step):
    return {s: MarketSpec(s, MarketType.SPOT, s[:3], "USDT", amount_step=step) for s in SYMBOLS}


def _px(a, b, c):
    return dict(zip(SYMBOLS, (D(a), D(b), D(c)), strict=True))


LO = "0.05"


@settings(max_examples=200, deadline=None)
@example(  # equity of 1e17: the books differ by 1e-10, rounding at 28 digits (found by hypothesis)
    markets=_same_markets(D("0.00001")),
    steps=[
        ({"CCCUSDT": D(1)}, _px(LO, LO, LO), _px(LO, LO, LO)),
        ({}, _px(LO, LO, "32.18"), _px(LO, LO, "30.57")),
        ({"CCCUSDT": D(1)}, _px(LO, LO, LO), _px(LO, LO, LO)),
        ({}, _px(LO, LO, "39127.31"), _px(LO, LO, "41083.68")),
        ({"BBBUSDT": D(1)}, _px("0.06", LO, LO), _px("0.06", LO, LO)),
        ({}, _px(LO, "411.64", "30.92"), _px(LO, "432.22", "32.47")),
    ],
    fee=D(0),
    bps=D("0.1"),
    capital=D("23038.59"),
)
@example(  # equity of 1e24: amounts and cash caps past 28 digits (see test_fills)
    markets=_same_markets(D("0.00001")),
    steps=[
        ({"AAAUSDT": D(1)}, _px(LO, LO, LO), _px(LO, LO, LO)),
        ({"BBBUSDT": D(1)}, _px("90000", LO, LO), _px("90000", LO, LO)),
        ({"CCCUSDT": D(1)}, _px(LO, "90000", LO), _px(LO, "90000", LO)),
        ({"AAAUSDT": D(1)}, _px("19.31", LO, "90000"), _px("19.31", LO, "90000")),
    ],
    fee=D("0.001"),
    bps=D("1.9"),
    capital=D("100000"),
)
@given(
    markets=spot_markets(),
    steps=cycles(),
    fee=st.decimals("0", "0.002", places=4),
    bps=st.decimals("0", "20", places=1),
    capital=st.decimals("10", "100000", places=2),
)
def test_spot_cash_and_holdings_never_go_below_zero(markets, steps, fee, bps, capital):
    model = FillModel(NotionalFee(fee), BpsSlippage(bps))
    book = Ledger(capital, markets)
    for cycle, (weights, marks, fills) in enumerate(steps):
        targets = {s: TargetWeight(s, w) for s, w in weights.items()}
        result = plan(targets, book.portfolio(), markets, marks, threshold=0, cycle=cycle)
        for order in result.orders:
            try:
                fill = model.market_fill(
                    order, markets[order.symbol], fills[order.symbol], T0, cash=book.cash
                )
            except InsufficientFundsError:
                continue
            assert fill.amount <= order.amount
            book.apply(fill)
            assert book.cash >= 0
            assert all(p.size > 0 for p in book.positions.values())
            equity = book.equity(fills)
            gap = abs(equity - book.cash - book.positions_value(fills))
            assert gap < TOLERANCE + abs(equity) * RELATIVE


@settings(max_examples=200, deadline=None)
@given(
    capital=st.decimals("10", "1000000", places=2),
    fill=prices,
    last=prices,
    fee=st.decimals("0", "0.002", places=4),
    step=st.sampled_from([D("1e-8"), D("0.0001"), D("0.01")]),
)
def test_spot_buy_and_hold_is_capital_times_one_minus_fee_times_last_over_fill(
    capital, fill, last, fee, step
):
    market = MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT", amount_step=step)
    book = Ledger(capital, {"AAAUSDT": market})
    result = plan(
        {"AAAUSDT": TargetWeight("AAAUSDT", D(1))},
        book.portfolio(),
        {"AAAUSDT": market},
        {"AAAUSDT": fill},
    )
    if not result.orders:  # not one step affordable
        assert capital < step * fill
        return
    (order,) = result.orders
    assert order.amount * fill <= capital < (order.amount + step) * fill
    model = FillModel(NotionalFee(fee))
    book.apply(model.market_fill(order, market, fill, T0, cash=book.cash))
    assert book.cash == capital - order.amount * fill >= 0  # the unspent step residual
    held = book.positions["AAAUSDT"].size
    assert held == order.amount * (1 - fee)
    equity = book.equity({"AAAUSDT": last})
    # exactly: the formula on the cash spent, plus the residual kept in cash
    residual = capital - order.amount * fill
    formula = capital * (1 - fee) * last / fill
    assert abs(equity - (formula - residual * ((1 - fee) * last / fill - 1))) < TOLERANCE * capital
    # to the cent when the step leaves at most a step's worth of cash unspent
    assert abs(equity - formula) <= step * fill * max(1, (1 - fee) * last / fill) + TOLERANCE


def test_a_spot_sell_larger_than_the_holding_is_never_planned():
    market = MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT", amount_step=D("0.001"))
    book = Ledger(1_000, {"AAAUSDT": market})
    model = FillModel(NotionalFee(D("0.001")))
    order = OrderRequest("b", "AAAUSDT", Side.BUY, D(1))
    book.apply(model.market_fill(order, market, D(999), T0, cash=book.cash))
    held = book.positions["AAAUSDT"].size  # 0.999
    result = plan(
        {"AAAUSDT": TargetWeight("AAAUSDT", D("0.1"))},
        book.portfolio(),
        {"AAAUSDT": market},
        {"AAAUSDT": D(999)},
    )
    (reduce,) = result.orders
    assert reduce.side is Side.SELL
    assert reduce.amount <= held
