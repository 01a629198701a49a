"""The exact integer futures book against the Decimal ledger, through ``aifap.backtest``.

Over random USDT-M markets (amount steps, contract sizes, ticks, minimums), leverage,
fees, thresholds, capital, prices on their grid with wicks, and strategy outputs (long
and short float weights, specs with SL/TP placed around the price the strategy sees,
numpy scalars, Decimals, no opinion, empty, now and then an invalid one), a run booked
in the integer book (``ledger='auto'``) and the same run in the Decimal ledger
(``ledger='decimal'``) must give the same orders, dropped legs, stop fills,
transactions, positions, equity and metrics, bit for bit, but for the realized PnL,
which the Decimal ledger takes from an entry price averaged to 28 digits (see
``test_spot_book``). Weights are generic, as there (no exact tie of weight × equity ×
leverage / price on an amount step after an averaged entry).
"""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest
from books import EXAMPLES, T0, assert_books_agree, assert_same, frame, replay, with_stops
from hypothesis import given, settings
from hypothesis import strategies as st

import aifap
from aifap.core.errors import StrategyError
from aifap.core.markets import MarketSpec, MarketType
from aifap.data.frames import FrameBarSource

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
STEPS = [D("0.001"), D("0.01"), D("0.1"), D(1), D("0.0001")]
SIZES = [D(1), D("0.01"), D(10), D("0.001")]
RATES = [0.0001, -0.0001, 0.00012345, -0.00000678, 0.0, 0.003]


def run(bars, markets, outputs, ledger, funding=None, rebalance_every="1m", **knobs):
    source = FrameBarSource(bars, markets=markets, market="futures", funding=funding)
    return aifap.backtest(
        replay(outputs), source, market="futures", rebalance_every=rebalance_every,
        progress=False, ledger=ledger, on_error="skip", **knobs,
    )  # fmt: skip


def market(symbol: str, **spec) -> MarketSpec:
    return MarketSpec(symbol, MarketType.FUTURES, symbol[:3], "USDT", max_leverage=20, **spec)


@st.composite
def outputs(draw, symbols):
    """A strategy output (or a function of the closes that returns one)."""
    kind = draw(st.sampled_from(["floats", "floats", "stops", "stops", "none", "empty", "odd"]))
    if kind == "none":
        return None
    if kind == "empty":
        return {}
    chosen = draw(st.lists(st.sampled_from(symbols), unique=True, min_size=1))
    raw = [draw(st.sampled_from([0.0, 1.0, -1.0, 2.0, -0.5])) for _ in chosen]
    raw = [x + draw(st.floats(0.001, 1)) * np.sign(x) for x in raw]
    total = sum(abs(x) for x in raw) or 1.0
    scale = draw(st.floats(0.3, 0.999))
    weights = {s: float(x / total * scale) for s, x in zip(chosen, raw, strict=True)}
    if kind == "stops":
        tp = draw(st.sampled_from([None, 0.002, 0.01, 0.05]))
        sl = draw(st.sampled_from([None, 0.001, 0.005, 0.03]))
        return with_stops(weights, tp, sl, draw(st.sampled_from([False, True, None])))
    if kind == "odd":  # numpy scalars, a Decimal, a wrong-side stop (an error, skipped)
        s = chosen[0]
        form = draw(st.sampled_from(["numpy", "decimal", "wrong"]))
        if form == "numpy":
            return {symbol: np.float64(w) for symbol, w in weights.items()}
        if form == "decimal":
            weights[s] = D(repr(weights[s])) - D("1E-19")
            return weights
        sign = 1.0 if weights[s] >= 0 else -1.0
        return lambda closes: {s: {"weight": weights[s], "stop_loss": closes[s] * (1 + sign)}}
    return weights


@st.composite
def cases(draw):
    n = draw(st.integers(1, 3))
    symbols = SYMBOLS[:n]
    rows = draw(st.integers(5, 40))
    markets, bars = {}, {}
    for s in symbols:
        digits = draw(st.sampled_from([0, 1, 2, 4]))
        markets[s] = market(
            s,
            amount_step=draw(st.sampled_from(STEPS)),
            price_step=draw(st.sampled_from([D(1).scaleb(-digits), D(5).scaleb(-digits - 1)])),
            contract_size=draw(st.sampled_from(SIZES)),
            min_amount=draw(st.sampled_from([D(0), D("0.01")])),
            min_notional=draw(st.sampled_from([D(0), D(1), D(5)])),
        )
        start = draw(st.sampled_from([3.0, 97.0, 1234.0, 60000.0]))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        walk = start * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
        tick = 10.0**digits
        closes = np.maximum(np.rint(walk * tick), 10.0) / tick
        opens = None
        if draw(st.booleans()):  # gaps: the next open away from the close planned at
            jump = np.exp(rng.normal(0, 0.01, rows))
            opens = np.maximum(np.rint(np.r_[closes[0], closes[:-1]] * jump * tick), 10.0) / tick
        bars[s] = bar = frame(closes, opens)
        high, low = np.rint(bar["high"].to_numpy() * tick), np.rint(bar["low"].to_numpy() * tick)
        wicks = np.rint(np.abs(rng.normal(0, 0.006, rows)) * closes * tick)
        bar["high"] = (high + wicks) / tick  # whole ticks: on the grid
        bar["low"] = (low - np.minimum(wicks, low - 1)) / tick
    funding = {}
    for s in symbols:  # funding settled now and then, at rates of up to 8 decimals
        stamps = draw(st.lists(st.integers(1, rows - 1), unique=True, max_size=4))
        rates = [draw(st.sampled_from(RATES)) for _ in stamps]
        index = pd.DatetimeIndex([T0 + pd.Timedelta(minutes=m) for m in sorted(stamps)])
        funding[s] = pd.Series(rates, index=index, dtype="float64")
    knobs = {
        "funding": funding,
        "fee_rate": draw(st.sampled_from([0.0, 0.0006, 0.0002])),
        "threshold": draw(st.sampled_from([0.0, 0.01, 0.05])),
        "capital": draw(st.sampled_from([100, 10_000, 1234.5])),
        "leverage": draw(st.sampled_from([1, 1, 3, 10])),
    }
    return bars, markets, [draw(outputs(symbols)) for _ in range(rows - 1)], knobs


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_the_integer_book_gives_the_decimal_ledgers_results(case):
    bars, markets, steps, knobs = case
    assert_books_agree(run, bars, markets, steps, knobs)


def test_stops_move_trigger_and_flip_as_on_the_ledger():
    """A long with stops, the stops moved without a trade, a stop-loss hit, a short."""
    markets = {"AAAUSDT": market("AAAUSDT", amount_step=D("0.001"), price_step=D("0.1"))}
    closes = np.array([100.0, 100.5, 100.7, 100.6, 96.0, 95.5, 97.0, 99.0, 99.5, 101.0, 103.0])
    bars = {"AAAUSDT": frame(closes)}
    steps = [
        with_stops({"AAAUSDT": 0.5}, 0.05, 0.03, alias=False),
        with_stops({"AAAUSDT": 0.5}, 0.05, 0.02, alias=False),  # within the threshold: moved
        None,
        None,  # the close at 96.0 crossed the stop-loss near 98.6: filled at the stop
        {"AAAUSDT": -0.4},
        with_stops({"AAAUSDT": -0.4}, 0.02, 0.01, alias=True),
        None,
        None,
        None,
        None,
    ]
    fast = run(bars, markets, steps, "auto", fee_rate=0.0006, threshold=0.02)
    exact = run(bars, markets, steps, "decimal", fee_rate=0.0006, threshold=0.02)
    assert fast.config["ledger"] == "integer"
    assert_same(fast, exact)
    reasons = fast.orders["reason"].tolist()
    assert reasons.count("stop_loss") == 2  # the long's, then the short's at 97.0 or above
    assert (fast.orders["side"] == "sell").sum() >= 2


def test_a_stop_on_a_bar_off_the_grid_hands_the_account_to_the_decimal_ledger():
    """A stop's bar must lie on the book's grid; one that does not ends the book's run."""
    markets = {"AAAUSDT": market("AAAUSDT", amount_step=D("0.001"), price_step=D("0.01"))}
    bars = {"AAAUSDT": frame(np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0]))}
    bars["AAAUSDT"].loc[bars["AAAUSDT"].index[3], "low"] = 90.000000001
    steps = [with_stops({"AAAUSDT": 0.5}, None, 0.05, alias=False)] + [None] * 4
    fast = run(bars, markets, steps, "auto", threshold=0.0)
    exact = run(bars, markets, steps, "decimal", threshold=0.0)
    assert fast.config["ledger"] == "integer, then decimal from 2024-01-01 00:03:00+00:00"
    assert_same(fast, exact)
    assert fast.orders["reason"].tolist() == ["rebalance", "stop_loss"]


@pytest.mark.parametrize(
    ("output", "rule"),
    [
        ({"AAAUSDT": 0.8, "BBBUSDT": -0.3}, "gross weight must be <= 1"),
        ({"AAAUSDT": {"weight": 0.5, "stop_loss": 11.0}}, "stop loss on a long must be < price"),
        ({"AAAUSDT": {"weight": -0.5, "take_profit": 11.0}}, "take profit on a short must be <"),
        (
            {"AAAUSDT": {"weight": 0.5, "stop_loss": 9.0, "presetStopLossPrice": 9.0}},
            "give only one of presetStopLossPrice / stop_loss",
        ),
        ({"AAAUSDT": {"weight": 0.5, "stop_loss": -1.0}}, "stop loss must be > 0"),
        ({"AAAUSDT": {"weight": 0.5, "size": 1.0}}, "spec keys must be among"),
        # a second spec with other keys than the first: read as itself
        (
            {
                "AAAUSDT": {"weight": 0.3, "stop_loss": 9.0},
                "BBBUSDT": {"weight": 0.3, "stop_loss": 9.0, "size": 1.0},
            },
            "spec keys must be among",
        ),
        (
            {
                "AAAUSDT": {"weight": 0.3, "stop_loss": 9.0, "take_profit": 11.0},
                "BBBUSDT": {"weight": 0.3, "stop_loss": 9.0, "presetStopLossPrice": 9.0},
            },
            "give only one of presetStopLossPrice / stop_loss",
        ),
        (
            {
                "AAAUSDT": {"weight": 0.3, "stop_loss": 9.0},
                "BBBUSDT": {"stop_loss": 9.0, "take_profit": 11.0},
            },
            "weight",
        ),
    ],
)
def test_invalid_outputs_are_refused_alike_on_both_books(output, rule):
    bars = {s: frame(np.full(4, 10.0)) for s in SYMBOLS[:2]}
    markets = {s: market(s) for s in bars}
    errors = []
    for ledger in ("auto", "decimal"):
        with pytest.raises(StrategyError) as caught:
            aifap.backtest(
                replay([output] * 3), FrameBarSource(bars, markets=markets), rebalance_every="1m",
                progress=False, ledger=ledger,
            )  # fmt: skip
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert rule in errors[0]


def test_a_leverage_above_a_markets_limit_is_refused_alike():
    bars = {"AAAUSDT": frame(np.full(4, 10.0))}
    markets = {"AAAUSDT": MarketSpec("AAAUSDT", MarketType.FUTURES, "AAA", "USDT", max_leverage=5)}
    errors = []
    for ledger in ("auto", "decimal"):
        with pytest.raises(Exception) as caught:
            aifap.backtest(
                replay([{"AAAUSDT": 0.5}] * 3), FrameBarSource(bars, markets=markets),
                rebalance_every="1m", progress=False, ledger=ledger, leverage=10,
            )  # fmt: skip
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert "leverage must be <= the market's maximum 5, was 10" in errors[0]


def test_funding_is_settled_in_the_book_and_a_rate_off_any_grid_keeps_the_ledger():
    markets = {"AAAUSDT": market("AAAUSDT", amount_step=D("0.001"), price_step=D("0.1"))}
    bars = {"AAAUSDT": frame(np.array([100.0, 100.5, 101.0, 99.5, 100.2, 100.9, 101.3, 100.0]))}
    steps = [{"AAAUSDT": 0.6}, None, {"AAAUSDT": -0.5}, None, None, None, None]
    for rate, book in ((0.00012345, "integer"), (0.1 + 0.2, "decimal")):
        stamps = pd.DatetimeIndex([T0 + pd.Timedelta(minutes=m) for m in (2, 5)])
        funding = {"AAAUSDT": pd.Series([rate, -rate], index=stamps)}
        fast = run(bars, markets, steps, "auto", funding=funding, threshold=0.0)
        exact = run(bars, markets, steps, "decimal", funding=funding, threshold=0.0)
        assert fast.config["ledger"] == book
        assert_same(fast, exact)
        assert fast.metrics["funding"] != 0.0


def test_funding_on_a_close_off_the_grid_hands_the_account_to_the_decimal_ledger():
    """Rebalancing every 5m, the rows between carry any price; funding reads the close."""
    markets = {"AAAUSDT": market("AAAUSDT", amount_step=D("0.001"), price_step=D("0.1"))}
    closes = np.full(16, 100.0)
    closes[7] = 100.000000001  # off every grid: neither planned nor filled at
    bars = {"AAAUSDT": frame(closes)}
    stamps = pd.DatetimeIndex([T0 + pd.Timedelta(minutes=8)])  # booked at row 7's close
    funding = {"AAAUSDT": pd.Series([0.0001], index=stamps)}
    steps = [{"AAAUSDT": 0.5}, None, None]
    knobs = {"funding": funding, "threshold": 0.0}
    fast = run(bars, markets, steps, "auto", rebalance_every="5m", **knobs)
    exact = run(bars, markets, steps, "decimal", rebalance_every="5m", **knobs)
    assert fast.config["ledger"] == "integer, then decimal from 2024-01-01 00:07:00+00:00"
    assert_same(fast, exact)
    assert fast.metrics["funding"] == pytest.approx(0.5 * 10_000 * 0.0001, rel=1e-3)


def test_an_account_worth_nothing_hands_over_to_the_ledger_which_drops_the_opens():
    """At 10× a 15 % fall takes the equity below 0: the ledger words the drop."""
    markets = {"AAAUSDT": market("AAAUSDT", amount_step=D("0.001"), price_step=D("0.1"))}
    bars = {"AAAUSDT": frame(np.array([100.0, 100.0, 85.0, 85.0, 84.0, 84.0]))}
    steps = [{"AAAUSDT": 0.9}, None, {"AAAUSDT": 0.5}, {"AAAUSDT": -0.5}, None]
    fast = run(bars, markets, steps, "auto", leverage=10, threshold=0.0)
    exact = run(bars, markets, steps, "decimal", leverage=10, threshold=0.0)
    assert fast.config["ledger"] == "integer, then decimal from 2024-01-01 00:03:00+00:00"
    assert_same(fast, exact)
    assert "equity must be > 0 to open" in " ".join(fast.orders["reason"])
