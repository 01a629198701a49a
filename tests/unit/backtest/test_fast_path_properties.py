"""The backtester's fast path against the exact reference path (hypothesis).

Reference: the planner and ledger as they were before the fast path (frozen copies beside
this file), ``FillModel.market_fill`` and ``Ledger.apply`` per order: what paper and live
ran. Fast: the backtester's ``plan_book`` (``plan_legs`` with its threshold test in float64
first) + ``execute_orders`` (``Ledger.book``, no ``Fill`` or
``OrderRequest`` objects) with the client order ids derived afterwards from (session,
cycle, symbol, leg) as ``FillLog.client_ids`` does: what the backtester runs. Today's
``plan`` (what paper and live run now) must give the reference plans too.
Over random spot and futures markets (steps, minimums, contract sizes), weights, stops,
thresholds, leverage, fees, slippage and prices, cycle after cycle, both must give the
same orders, dropped legs, fills, fees and ledgers, down to each Decimal's representation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import fast_path_reference_ledger as reference_ledger
import fast_path_reference_planner as reference_planner
from hypothesis import given, settings
from hypothesis import strategies as st

from aifap.backtest.execute import execute_orders
from aifap.backtest.fastplan import plan_book
from aifap.core.errors import InsufficientFundsError
from aifap.core.fills import BpsSlippage, FillModel, NotionalFee
from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import client_order_id
from aifap.core.planner import STOPS, DroppedLeg, Plan, StopUpdate, order_request, plan
from aifap.core.portfolio import Position
from aifap.core.weights import TargetWeight

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")
STEPS = [D("0.00000001"), D("0.00001"), D("0.001"), D("0.1"), D(1)]


@st.composite
def markets(draw):
    kind = draw(st.sampled_from([MarketType.SPOT, MarketType.FUTURES]))
    futures = kind is MarketType.FUTURES
    return {
        s: MarketSpec(
            s,
            kind,
            s[:3],
            "USDT",
            amount_step=draw(st.sampled_from(STEPS)),
            price_step=draw(st.sampled_from([D("0.01"), D("0.0001"), D("0.00000001")])),
            min_amount=draw(st.sampled_from([D(0), D("0.01")])),
            min_notional=draw(st.sampled_from([D(0), D(1), D(5)])),
            contract_size=draw(st.sampled_from([D(1), D("0.01"), D(10)])) if futures else D(1),
            max_leverage=20 if futures else 1,
        )
        for s in SYMBOLS
    }


def price(value: float) -> D:
    return D(repr(value))  # as the backtester converts its float64 bars


prices = st.floats(0.05, 90_000, allow_nan=False).map(lambda v: float(f"{v:.6g}"))


@st.composite
def cycles(draw, futures: bool):
    out = []
    for _ in range(draw(st.integers(1, 6))):
        chosen = draw(st.lists(st.sampled_from(SYMBOLS), unique=True))
        low = -10 if futures else 0
        raw = {s: draw(st.integers(low, 10)) for s in chosen}
        total = sum(abs(w) for w in raw.values())
        scale = max(total, draw(st.integers(1, 10))) if total else 1
        marks = {s: draw(prices) for s in SYMBOLS}
        opens = {s: marks[s] * draw(st.sampled_from([1.0, 0.97, 1.003, 1.05])) for s in SYMBOLS}
        targets = {}
        for s, w in raw.items():
            weight = price(w / scale)  # a float weight through its repr, as parse_targets
            tp = sl = None
            if w and draw(st.booleans()):
                up, down = price(marks[s] * 1.05), price(marks[s] * 0.97)
                tp, sl = (up, down) if w > 0 else (down, up)
            targets[s] = TargetWeight(s, weight, take_profit=tp, stop_loss=sl)
        out.append((targets, {s: price(v) for s, v in marks.items()}, opens))
    return out


def reference_cycle(ledger, model, markets, targets, marks, opens, cycle, **knobs):
    result = reference_planner.plan(
        targets, ledger.portfolio(), markets, marks, cycle=cycle, **knobs
    )
    fills, dropped = [], []
    for order in result.orders:
        market = markets[order.symbol]
        cash = None if market.is_futures else ledger.cash
        try:
            fill = model.market_fill(order, market, price(opens[order.symbol]), T0, cash=cash)
        except InsufficientFundsError as exc:
            dropped.append(DroppedLeg(order.symbol, order.leg, order.signed_amount, str(exc)))
            continue
        booked = ledger.apply(fill, take_profit=order.take_profit, stop_loss=order.stop_loss)
        fills.append(
            (
                order.client_id,
                booked.symbol,
                booked.side,
                booked.amount,
                booked.price,
                booked.fee,
                booked.fee_quote,
                booked.realized_pnl,
            )
        )
    for update in result.stop_updates:
        ledger.set_stops(update.symbol, update.take_profit, update.stop_loss)
    return result, fills, dropped


def book_plan(ledger, markets, targets, marks, **knobs):
    """The backtester's planner, given the float copies the engine keeps."""
    sizes = {s: float(p.size) for s, p in ledger.positions.items()}
    floats = {s: float(m) for s, m in marks.items()}
    weights = {}  # as the strategy's output: a float, a spec with a float weight, or neither
    for i, (s, t) in enumerate(targets.items()):
        if i % 3 == 0:
            weights[s] = float(t.weight)
        elif i % 3 == 1:
            weights[s] = {"weight": float(t.weight), "take_profit": t.take_profit}
    return plan_book(targets, ledger, markets, marks, sizes, floats, weights, **knobs)


def fast_cycle(ledger, model, markets, targets, marks, opens, cycle, **knobs):
    gateways = plan(targets, ledger.portfolio(), markets, marks, cycle=cycle, **knobs)
    legs = book_plan(ledger, markets, targets, marks, **knobs)
    fill_prices = {o.symbol: price(opens[o.symbol]) for o in legs.legs}
    booked, dropped = execute_orders(legs.legs, ledger, model, markets, fill_prices)
    fills = [
        (
            client_order_id("backtest", cycle, b.order.symbol, b.order.leg),
            b.order.symbol,
            b.order.side,
            b.amount,
            b.price,
            b.fee,
            b.fee_quote,
            b.realized_pnl,
        )
        for b in booked
    ]
    for symbol, take_profit, stop_loss in legs.stops:
        ledger.set_stops(symbol, take_profit, stop_loss)
    derived = Plan(  # the legs with the ids the backtester derives for its orders frame
        orders=tuple(order_request(leg, "backtest", cycle) for leg in legs.legs),
        stop_updates=tuple(
            StopUpdate(client_order_id("backtest", cycle, s, STOPS), s, tp, sl)
            for s, tp, sl in legs.stops
        ),
        dropped=legs.dropped,
        equity=legs.equity,
        current_weights=gateways.current_weights,  # plan_book reports none
    )
    return (derived, gateways), fills, dropped


def book_state(ledger):
    return repr(
        (
            ledger.cash,
            ledger.fees,
            ledger.realized_pnl,
            ledger.funding,
            ledger.balance,
            sorted(ledger.positions.items()),
        )
    )


@given(
    specs=markets(),
    data=st.data(),
    fee=st.sampled_from([D(0), D("0.0006"), D("0.001")]),
    slip=st.sampled_from([D(0), D(5)]),
    threshold=st.sampled_from([D(0), D("0.01"), D("0.05")]),
    capital=st.sampled_from([D(10_000), D(1), D("123.45")]),
)
@settings(max_examples=300, deadline=None)
def test_fast_path_gives_the_reference_orders_fills_and_ledger(
    specs, data, fee, slip, threshold, capital
):
    futures = next(iter(specs.values())).is_futures
    leverage = data.draw(st.sampled_from([D(1), D(3)])) if futures else D(1)
    model = FillModel(NotionalFee(fee), BpsSlippage(slip))
    ref = reference_ledger.Ledger(capital, specs, leverage=leverage)
    fast = Ledger(capital, specs, leverage=leverage)
    knobs = {"leverage": leverage, "threshold": threshold}
    for cycle, (targets, marks, opens) in enumerate(data.draw(cycles(futures))):
        expected = reference_cycle(ref, model, specs, targets, marks, opens, cycle, **knobs)
        got = fast_cycle(fast, model, specs, targets, marks, opens, cycle, **knobs)
        derived, gateways = got[0]
        assert repr(derived) == repr(expected[0])  # orders, stop updates, drops, equity, weights
        assert repr(gateways) == repr(expected[0])  # plan(), as paper and live call it
        assert repr(got[1]) == repr(expected[1])  # fills: amount, price, fee, realized PnL
        assert repr(got[2]) == repr(expected[2])  # spot buys the cash no longer covers
        assert book_state(fast) == book_state(ref)


# a held position whose weight is a short decimal: size x mark / capital, entry = mark
HOLDINGS = [(D(10), D(100)), (D("2.5"), D(40)), (D(4), D(250)), (D("0.3"), D("33.5"))]


@st.composite
def boundary_books(draw):
    """Books whose targets sit at (or 1e-20 around) |target - current| = threshold."""
    futures = draw(st.booleans())
    kind = MarketType.FUTURES if futures else MarketType.SPOT
    specs = {
        s: MarketSpec(s, kind, s[:3], "USDT", amount_step=D("0.001"), max_leverage=20)
        for s in SYMBOLS
    }
    threshold = draw(st.sampled_from([D(0), D("0.01"), D("0.05"), D("0.001")]))
    nudge = draw(st.sampled_from([D(0), D("1e-20"), D("-1e-20"), D("1e-15"), D("-1e-15")]))
    ledger = Ledger(D(10_000), specs)
    targets, marks = {}, {}
    for symbol in SYMBOLS:
        size, mark = draw(st.sampled_from(HOLDINGS))
        marks[symbol] = mark
        if draw(st.booleans()):
            ledger.positions[symbol] = Position(symbol, size, mark, mark)
        current = size * mark / D(10_000) if symbol in ledger.positions else D(0)
        side = draw(st.sampled_from([1, -1]))
        goal = current + side * threshold + nudge
        if goal > 0 or (futures and goal != 0):
            targets[symbol] = TargetWeight(symbol, goal)
    ledger.cash = D(10_000) - sum(p.size * p.entry_price for p in ledger.positions.values())
    return specs, ledger, targets, marks, threshold


@st.composite
def long_boundary_books(draw):
    """28-digit sizes and entries, float marks, targets at current +- threshold in Decimal.

    The current weight is computed as the planner computes it, so |target - current| is
    the threshold to within the last of 28 digits: float64 cannot tell the side, and a
    float band narrower than its error would let it guess.
    """
    futures = draw(st.booleans())
    kind = MarketType.FUTURES if futures else MarketType.SPOT
    cs = draw(st.sampled_from([D(1), D("0.01"), D(10)])) if futures else D(1)
    specs = {
        s: MarketSpec(s, kind, s[:3], "USDT", amount_step=D("1e-8"), contract_size=cs)
        for s in SYMBOLS
    }
    threshold = draw(st.sampled_from([D(0), D("0.01"), D("0.001"), D("1e-6")]))
    ledger = Ledger(D(10_000), specs)
    marks = {s: price(draw(prices)) for s in SYMBOLS}
    for symbol in SYMBOLS:
        if draw(st.booleans()):
            notional = D(draw(st.integers(10**27, 2 * 10**30))) / D(10**27)  # 1 .. 2000 quote
            size = notional / (marks[symbol] * cs) / D(draw(st.integers(1, 3)))
            entry = marks[symbol] * D(draw(st.sampled_from(["0.999", "1", "1.0007"])))
            ledger.positions[symbol] = Position(symbol, size, entry, entry, D(1), cs)
    unrealized = D(0)  # at the marks, in the ledger's order, as the planner adds it
    for symbol, held in ledger.positions.items():
        unrealized += held.size * held.contract_size * (marks[symbol] - held.entry_price)
    equity = ledger.balance + unrealized
    targets = {}
    for symbol in SYMBOLS:
        held = ledger.positions.get(symbol)
        current = D(0)
        if held is not None:
            current = abs(held.size) * cs * marks[symbol] / D(1) / equity
        goal = current + draw(st.sampled_from([1, -1])) * threshold
        if goal > 0:
            targets[symbol] = TargetWeight(symbol, goal)
    return specs, ledger, targets, marks, threshold


@given(book=st.one_of(boundary_books(), long_boundary_books()))
@settings(max_examples=400, deadline=None)
def test_plan_book_decides_as_the_reference_at_the_threshold_boundary(book):
    specs, ledger, targets, marks, threshold = book
    knobs = {"leverage": D(1), "threshold": threshold}
    expected = reference_planner.plan(targets, ledger.portfolio(), specs, marks, **knobs)
    got = book_plan(ledger, specs, targets, marks, **knobs)
    derived = Plan(
        orders=tuple(order_request(leg, "backtest", 0) for leg in got.legs),
        stop_updates=tuple(
            StopUpdate(client_order_id("backtest", 0, s, STOPS), s, tp, sl)
            for s, tp, sl in got.stops
        ),
        dropped=got.dropped,
        equity=got.equity,
        current_weights=expected.current_weights,
    )
    assert repr(derived) == repr(expected)
