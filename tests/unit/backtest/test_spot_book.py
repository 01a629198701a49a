"""The exact integer spot book against the Decimal ledger, through ``aifap.backtest``.

Over random spot markets (amount steps, minimums, price grids), fees, thresholds,
capital, prices on their grid and strategy outputs (plain floats, specs, Decimals, ints,
no opinion, empty, stops now and then), a run booked in the integer book
(``ledger='auto'``) and the same run in the Decimal ledger (``ledger='decimal'``) must
give the same orders, dropped legs, transactions, positions, equity and metrics, bit for
bit, but for the realized PnL of a sell, which the Decimal ledger takes from an entry
price averaged to 28 digits and the book from the exact cost (they agree to that
rounding). Plus the cases the float64 tests cannot decide, and runs the book refuses.

The random weights are generic: no weight × equity / price falls exactly on an amount
step. At such an exact tie the planner's rounding toward zero is decided by the last
digit of the equity, and the Decimal ledger's equity carries the rounding of its
averaged entry prices (after adding to a position at another price it can read
9899.999…9 where the account is worth exactly 9,900): it then buys one step less, or
drops a leg that rounds to 0, where the book, exact, does not. Ties on an exact account
(a fresh one, or positions opened once) are tested below, where both must agree.
"""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest
from books import EXAMPLES, assert_books_agree, assert_same, frame, replay, with_stops
from hypothesis import given, settings
from hypothesis import strategies as st

import aifap
from aifap.backtest.units import grid
from aifap.core.errors import StrategyError
from aifap.core.markets import MarketSpec, MarketType
from aifap.data.frames import FrameBarSource

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
STEPS = [D("0.00000001"), D("0.00001"), D("0.001"), D("0.1"), D("0.5"), D(1)]


def run(bars, markets, outputs, ledger, **knobs):
    source = FrameBarSource(bars, markets=markets, market="spot")
    return aifap.backtest(
        replay(outputs), source, market="spot", rebalance_every="1m", progress=False,
        ledger=ledger, on_error="skip", **knobs,
    )  # fmt: skip


@st.composite
def weights(draw, symbols):
    """A strategy output; weights generic (no exact ties: see the module docstring)."""
    kind = draw(st.sampled_from(["floats", "floats", "stops", "none", "empty", "mixed"]))
    if kind == "none":
        return None
    if kind == "empty":
        return {}
    chosen = draw(st.lists(st.sampled_from(symbols), unique=True, min_size=1))
    raw = [draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5])) for _ in chosen]
    raw = [x + draw(st.floats(0.001, 1)) * (x > 0) for x in raw]
    total = sum(raw) or 1.0
    scale = draw(st.floats(0.5, 0.999))
    out: dict = {s: x / total * scale for s, x in zip(chosen, raw, strict=True)}
    if kind == "stops":  # SL/TP around the price the strategy sees (either alias)
        tp = draw(st.sampled_from([None, 0.002, 0.01, 0.05]))
        sl = draw(st.sampled_from([None, 0.001, 0.005, 0.03]))
        return with_stops(out, tp, sl, draw(st.sampled_from([False, True, None])))
    if kind == "mixed":  # specs, Decimals, numpy scalars, now and then a TP
        s = chosen[0]
        form = draw(st.sampled_from(["spec", "decimal", "tp", "numpy"]))
        if form == "spec":
            out[s] = {"weight": out[s]}
        elif form == "numpy":  # pandas' .values, zipped: numpy scalars
            out = {symbol: np.float64(weight) for symbol, weight in out.items()}
        elif form == "decimal":  # not the repr of any float
            out[s] = D(repr(out[s])) - D("1E-19")
        else:
            out[s] = {"weight": out[s], "take_profit": 1e12}
    return out


@st.composite
def cases(draw):
    n = draw(st.integers(1, 3))
    symbols = SYMBOLS[:n]
    rows = draw(st.integers(5, 40))
    markets, bars = {}, {}
    for s in symbols:
        digits = draw(st.sampled_from([0, 1, 2, 4, 8]))
        markets[s] = MarketSpec(
            s,
            MarketType.SPOT,
            s[:3],
            "USDT",
            amount_step=draw(st.sampled_from(STEPS)),
            price_step=D(1).scaleb(-digits),
            min_amount=draw(st.sampled_from([D(0), D("0.01")])),
            min_notional=draw(st.sampled_from([D(0), D(1), D(5)])),
        )
        start = draw(st.sampled_from([0.5, 3.0, 97.0, 1234.0, 60000.0]))
        seed = draw(st.integers(0, 2**32 - 1))
        walk = start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, rows)))
        tick = 10.0**digits
        closes = np.maximum(np.rint(walk * tick), 1.0) / tick
        opens = None
        if draw(st.booleans()):  # gaps: the next open away from the close planned at
            jump = np.exp(np.random.default_rng(seed + 1).normal(0, 0.02, rows))
            opens = np.maximum(np.rint(np.r_[closes[0], closes[:-1]] * jump * tick), 1.0) / tick
        bars[s] = frame(closes, opens)
    outputs = [draw(weights(symbols)) for _ in range(rows - 1)]
    knobs = {
        "fee_rate": draw(st.sampled_from([0.0, 0.0006, 0.001])),
        "threshold": draw(st.sampled_from([0.0, 0.0, 0.01, 0.05])),
        "capital": draw(st.sampled_from([100, 10_000, 1234.5, 3])),
    }
    return bars, markets, outputs, knobs


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_the_integer_book_gives_the_decimal_ledgers_results(case):
    bars, markets, outputs, knobs = case
    assert_books_agree(run, bars, markets, outputs, knobs)


def test_amounts_on_a_whole_step_are_decided_exactly():
    """Weight 0.5 of 1000 at 10.00 is 50 steps of 1 exactly: float64 cannot tell 49 or 50."""
    markets = {
        s: MarketSpec(s, MarketType.SPOT, s[:3], "USDT", amount_step=D(1), price_step=D("0.01"))
        for s in SYMBOLS[:2]
    }
    bars = {s: frame(np.full(6, 10.0)) for s in markets}
    outputs = [{"AAAUSDT": 0.5, "BBBUSDT": 0.3}, {"AAAUSDT": 0.5, "BBBUSDT": 0.3}] + [None] * 3
    fast = run(bars, markets, outputs, "auto", capital=1000, fee_rate=0.0, threshold=0.0)
    exact = run(bars, markets, outputs, "decimal", capital=1000, fee_rate=0.0, threshold=0.0)
    assert fast.config["ledger"] == "integer"
    assert_same(fast, exact)
    assert fast.orders["amount"].tolist() == [50.0, 30.0]  # the second call: no trade at all


def test_a_spot_stop_is_kept_moved_and_triggered_in_the_book():
    """SL/TP on a holding: set with a buy, moved without a trade, filled at the stop."""
    markets = {"AAAUSDT": MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT")}
    prices = np.array([100.0, 101.5, 99.25, 98.0, 103.0, 104.5, 90.0, 91.0])
    bars = {"AAAUSDT": frame(prices)}
    outputs = [
        {"AAAUSDT": 0.7},
        {"AAAUSDT": 0.4},
        {"AAAUSDT": {"weight": 0.4, "stop_loss": 95.0}},  # within the threshold: moved
        None,
        {"AAAUSDT": {"weight": 0.9, "stop_loss": 95.0, "take_profit": 120.004}},  # a buy
    ]
    outputs += [None] * 2
    fast = run(bars, markets, outputs, "auto", fee_rate=0.001, threshold=0.05)
    exact = run(bars, markets, outputs, "decimal", fee_rate=0.001, threshold=0.05)
    assert fast.config["ledger"] == "integer"
    assert_same(fast, exact)
    stop = fast.orders[fast.orders["reason"] == "stop_loss"]
    assert stop["price"].tolist() == [95.0]  # the bar from 104.5 to 90 crossed it: at the stop
    assert fast.positions.iloc[-1].get("AAAUSDT", 0.0) == 0.0  # the whole holding sold


def test_stops_the_price_unit_cannot_hold_hand_the_account_to_the_ledger():
    """A tick of 1e-12 at a price of 50,000 needs 17 digits: that book takes no stops."""
    markets = {
        "AAAUSDT": MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT", price_step=D("1E-12"))
    }
    bars = {"AAAUSDT": frame(np.array([50_000.0, 50_100.0, 49_000.0, 48_000.0, 48_500.0]))}
    outputs = [{"AAAUSDT": 0.5}, {"AAAUSDT": {"weight": 0.5, "stop_loss": 48_500.0}}, None, None]
    fast = run(bars, markets, outputs, "auto", fee_rate=0.001, threshold=0.05)
    exact = run(bars, markets, outputs, "decimal", fee_rate=0.001, threshold=0.05)
    assert fast.config["ledger"] == "integer, then decimal from 2024-01-01 00:02:00+00:00"
    assert_same(fast, exact)
    assert "stop_loss" in set(fast.orders["reason"])


def test_prices_off_any_decimal_grid_stay_on_the_decimal_ledger():
    rng = np.random.default_rng(3)
    bars = {"AAAUSDT": frame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 20))))}
    result = aifap.backtest(
        replay([{"AAAUSDT": 0.5}] * 19), FrameBarSource(bars, market="spot"), market="spot",
        rebalance_every="1m", progress=False,
    )  # fmt: skip
    assert result.config["ledger"] == "decimal"
    assert result.metrics["trades"] > 0


@pytest.mark.parametrize(
    ("output", "rule"),
    [
        ({"AAAUSDT": -0.1}, "weight must be >= 0 on spot (no shorts)"),
        ({"ZZZUSDT": 0.1}, "symbol must be one of the session's markets"),
        ({"AAAUSDT": 0.8, "BBBUSDT": 0.3}, "gross weight must be <= 1"),
        ({"AAAUSDT": float("nan")}, "weight must be a finite number"),
        ({"AAAUSDT": 10**400}, "weight must be a finite number"),
    ],
)
def test_invalid_outputs_are_refused_alike_on_both_books(output, rule):
    bars = {s: frame(np.full(4, 10.0)) for s in SYMBOLS[:2]}
    errors = []
    for ledger in ("auto", "decimal"):
        with pytest.raises(StrategyError) as caught:
            aifap.backtest(
                replay([output] * 3), FrameBarSource(bars, market="spot"), market="spot",
                rebalance_every="1m", progress=False, ledger=ledger,
            )  # fmt: skip
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert rule in errors[0]


def test_grid_finds_the_fewest_decimals_that_hold_every_price():
    assert grid(np.array([1.0, 2.0, 300.0])) == 0
    assert grid(np.array([0.1, 0.25, 12.5])) == 2
    assert grid(np.array([60000.12, 0.00000001])) == 8
    assert grid(np.array([0.1 + 0.2])) is None  # 0.30000000000000004: no short decimal
    assert grid(np.array([1e16])) is None  # beyond 15 digits a float is no exact decimal
    assert grid(np.array([0.5, 0.123]), start=4) == 4


def test_the_portfolio_a_strategy_reads_is_the_ledgers():
    """context.portfolio from the book: the same balance, cash, holdings, marks and weights."""
    markets = {
        s: MarketSpec(s, MarketType.SPOT, s[:3], "USDT", amount_step=D("0.001"))
        for s in SYMBOLS[:2]
    }
    rng = np.random.default_rng(11)
    bars = {s: frame(np.rint(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 30))) * 100) / 100)
            for s in markets}  # fmt: skip
    seen: dict[str, list] = {"auto": [], "decimal": []}

    def strategy(ledger):
        def rule(context, config):
            book = context.portfolio
            seen[ledger].append(book)
            tilt = 0.6 if book.equity > 10_000 else 0.4
            return {"AAAUSDT": tilt, "BBBUSDT": 0.95 - tilt}

        return rule

    for ledger in seen:
        aifap.backtest(
            strategy(ledger), FrameBarSource(bars, markets=markets, market="spot"),
            market="spot", rebalance_every="1m", progress=False, ledger=ledger,
        )  # fmt: skip
    assert len(seen["auto"]) == len(seen["decimal"]) == 29
    for fast, exact in zip(seen["auto"], seen["decimal"], strict=True):
        assert fast.cash == exact.cash
        assert abs(fast.balance - exact.balance) <= D("1e-20")
        assert abs(fast.equity - exact.equity) <= D("1e-20")
        assert fast.positions.keys() == exact.positions.keys()
        for symbol, position in fast.positions.items():
            other = exact.positions[symbol]
            assert (position.size, position.mark_price) == (other.size, other.mark_price)
            assert abs(position.entry_price - other.entry_price) <= D("1e-24")
            assert abs(fast.weight(symbol) - exact.weight(symbol)) <= D("1e-24")


def test_at_a_tie_after_an_averaged_entry_the_book_buys_the_exact_amount():
    """The Decimal ledger's 28-digit entry price makes 9,900.000… read 9,899.999…: one step less.

    BBB bought at 0.50 then at 0.49 and sold at 0.49 leaves exactly 9,900 USDT; a weight
    of 1.0 on AAA at 1.00 buys 9,900 of it. The book does; the Decimal ledger, whose
    unrealized PnL used the averaged entry 0.4949…(28 digits), buys 9,899.99999999.
    """
    step = D("1E-8")
    markets = {
        "AAAUSDT": MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT", amount_step=step),
        "BBBUSDT": MarketSpec("BBBUSDT", MarketType.SPOT, "BBB", "USDT", amount_step=step),
    }
    bars = {
        "AAAUSDT": frame(np.full(5, 1.0)),
        "BBBUSDT": frame(np.array([0.5, 0.5, 0.49, 0.49, 0.5])),
    }
    outputs = [{"AAAUSDT": 0.0}, {"BBBUSDT": 0.5}, {"BBBUSDT": 1.0}, {"AAAUSDT": 1.0}]
    fast = run(bars, markets, outputs, "auto", capital=10_000, fee_rate=0.0, threshold=0.0)
    exact = run(bars, markets, outputs, "decimal", capital=10_000, fee_rate=0.0, threshold=0.0)
    assert fast.config["ledger"] == "integer"
    last = fast.orders.iloc[-1], exact.orders.iloc[-1]
    assert [row["symbol"] for row in last] == ["AAAUSDT", "AAAUSDT"]
    assert last[0]["amount"] == 9900.0
    assert last[1]["amount"] == 9899.99999999


def test_parse_takes_only_what_parse_targets_surely_accepts():
    """Plain numbers (numpy scalars too) are read without a Decimal; the rest goes to it."""
    from aifap.backtest.spotbook import SpotBook

    markets = {s: MarketSpec(s, MarketType.SPOT, s[:3], "USDT") for s in SYMBOLS[:2]}
    prices = np.full((3, 2), 10.0)
    book = SpotBook.build(list(markets), markets, D(1000), D("0.001"), prices, prices)
    assert book is not None
    limit = D(1)
    goals = book.parse({"BBBUSDT": np.float64(0.25), "AAAUSDT": 0.5}, limit)
    assert goals is not None
    assert (goals.weights, goals.targeted) == ([0.5, 0.25], [True, True])
    goals = book.parse({"AAAUSDT": 1}, limit)
    assert goals is not None
    assert (goals.weights, goals.targeted) == ([1.0, 0.0], [True, False])
    for refused in (
        {"AAAUSDT": True},  # a bool is no weight
        {"AAAUSDT": D("0.5")},  # a Decimal keeps its digits: parse_targets reads it
        {"AAAUSDT": -0.1},
        {"AAAUSDT": float("nan")},
        {"AAAUSDT": float("inf")},
        {"AAAUSDT": 0.6, "BBBUSDT": 0.5},  # gross above the limit
        {"ZZZUSDT": 0.1},
        {"AAAUSDT": {"weight": 0.1}},
        {},
        None,
    ):
        assert book.parse(refused, limit) is None, refused


def spot(symbol: str, step: str, minimum: str = "0") -> MarketSpec:
    return MarketSpec(
        symbol, MarketType.SPOT, symbol[:3], "USDT", amount_step=D(step), min_notional=D(minimum)
    )


def test_a_buy_capped_below_its_minimum_is_dropped_alike():
    """Dust counts in equity, not in cash: the last buy is capped, under its minimum, dropped."""
    markets = {
        "AAAUSDT": spot("AAAUSDT", "0.001"),
        "BBBUSDT": spot("BBBUSDT", "0.001", minimum="3.5"),
        "CCCUSDT": spot("CCCUSDT", "1"),
    }
    bars = {
        "AAAUSDT": frame(np.full(4, 10.0)),
        "BBBUSDT": frame(np.full(4, 1.0)),
        "CCCUSDT": frame(np.full(4, 1.0)),
    }
    outputs = [{"CCCUSDT": 0.1}, {"AAAUSDT": 0.96, "BBBUSDT": 0.04}, None]
    knobs = {"capital": 100, "fee_rate": 0.001, "threshold": 0.0}
    fast = run(bars, markets, outputs, "auto", **knobs)
    exact = run(bars, markets, outputs, "decimal", **knobs)
    assert fast.config["ledger"] == "integer"
    assert_same(fast, exact)
    reasons = fast.orders["reason"].tolist()
    assert any(r.startswith("dust: 0.99") for r in reasons)
    (capped,) = [r for r in reasons if r.startswith("spot buy capped at the cash")]
    assert capped == next(r for r in exact.orders["reason"] if r.startswith("spot buy capped"))
    assert "notional must be >= 3.5" in capped


def test_a_buy_the_cash_no_longer_covers_at_the_open_is_dropped_alike():
    """AAA opens 10 % above the close planned at: it takes all the cash, BBB gets none."""
    markets = {"AAAUSDT": spot("AAAUSDT", "0.001"), "BBBUSDT": spot("BBBUSDT", "1")}
    bars = {
        "AAAUSDT": frame(np.full(3, 10.0), opens=np.array([10.0, 11.0, 10.0])),
        "BBBUSDT": frame(np.full(3, 1.0)),
    }
    outputs = [{"AAAUSDT": 0.99, "BBBUSDT": 0.01}, None]
    knobs = {"capital": 100, "fee_rate": 0.0, "threshold": 0.0}
    fast = run(bars, markets, outputs, "auto", **knobs)
    exact = run(bars, markets, outputs, "decimal", **knobs)
    assert fast.config["ledger"] == "integer"
    assert_same(fast, exact)
    filled = fast.orders[fast.orders["status"] == "filled"]
    assert filled["amount"].tolist() == [9.09]  # 100 // 11 at the 0.001 step
    (dropped,) = fast.orders[fast.orders["status"] == "dropped"]["reason"]
    assert dropped.startswith("BBBUSDT: spot buy cost must be <= the free cash 0.01")
    assert dropped == exact.orders[exact.orders["status"] == "dropped"]["reason"].iloc[0]
