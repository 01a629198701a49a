"""Planner invariants over random books and targets (hypothesis)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from aifap.core.markets import MarketSpec, MarketType
from aifap.core.planner import plan
from aifap.core.portfolio import Portfolio, Position
from aifap.core.weights import TargetWeight

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")


@st.composite
def markets(draw):
    out = {}
    for s in SYMBOLS:
        out[s] = MarketSpec(
            s,
            MarketType.FUTURES,
            s[:3],
            "USDT",
            amount_step=draw(st.sampled_from([D("0.001"), D("0.1"), D(1)])),
            min_amount=draw(st.sampled_from([D(0), D("0.01"), D(2)])),
            min_notional=draw(st.sampled_from([D(0), D(5), D(100)])),
            contract_size=draw(st.sampled_from([D(1), D("0.1"), D(10)])),
            max_leverage=20,
        )
    return out


prices = st.decimals("0.01", "50000", places=2)


@st.composite
def cases(draw):
    specs = draw(markets())
    marks = {s: draw(prices) for s in SYMBOLS}
    positions = {}
    for s in draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4)):
        steps = draw(st.integers(-500, 500).filter(bool))
        positions[s] = Position(
            s,
            steps * specs[s].amount_step,
            draw(prices),
            marks[s],
            leverage=D(2),
            contract_size=specs[s].contract_size,
        )
    targets = {}
    for s in draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=4)):
        targets[s] = TargetWeight(s, draw(st.decimals("-0.5", "0.5", places=3)))
    balance = draw(st.decimals("100", "100000", places=2))
    return specs, marks, Portfolio(balance, positions), targets


@settings(max_examples=300, deadline=None)
@given(
    case=cases(),
    threshold=st.sampled_from([D(0), D("0.01"), D("0.05")]),
    leverage=st.sampled_from([1, 2, 5]),
)
def test_plan_invariants(case, threshold, leverage):
    specs, marks, book, targets = case
    result = plan(targets, book, specs, marks, leverage=leverage, threshold=threshold)
    reduces = [o.reduce_only for o in result.orders]
    assert reduces == sorted(reduces, reverse=True), "closes and reductions come first"
    for order in result.orders:
        spec = specs[order.symbol]
        assert order.amount > 0
        assert order.amount % spec.amount_step == 0 or order.leg == "close"
        if not order.reduce_only:
            assert spec.below_minimum(order.amount, marks[order.symbol]) is None
            assert order.amount >= spec.min_amount
            assert order.amount * spec.contract_size * marks[order.symbol] >= spec.min_notional
    for symbol, position in book.positions.items():
        target = targets.get(symbol)
        if target is None or target.weight == 0:
            (close,) = [o for o in result.orders if o.symbol == symbol]
            assert close.reduce_only
            assert close.leg == "close"
            assert close.signed_amount == -position.size
    ids = [o.client_id for o in result.orders]
    assert len(ids) == len(set(ids))
    # a reduce-only order never takes a position past zero
    for order in result.orders:
        if order.reduce_only and order.leg != "close":
            assert order.amount <= abs(book.positions[order.symbol].size)
