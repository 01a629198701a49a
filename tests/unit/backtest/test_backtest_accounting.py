"""The backtester on hand-computed cases: timing, fees, stops, shorts, leverage, flips, funding."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

import aifap
from aifap.core.errors import InvalidTargetError, StrategyError
from aifap.core.markets import MarketSpec, MarketType
from aifap.data.frames import FrameBarSource

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")


def frame(rows):
    """Bars from (open, high, low, close) tuples, one a minute from T0."""
    arr = np.array(rows, dtype=float)
    index = pd.date_range(T0, periods=len(rows), freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3], "volume": 1.0},
        index=index,
    )


def flat(n, price=100.0):
    return [(price, price, price, price)] * n


def spec(symbol="AAAUSDT", market=MarketType.FUTURES, **kw):
    kw.setdefault("amount_step", D("0.001"))
    kw.setdefault("price_step", D("0.01"))
    return MarketSpec(
        symbol, market, symbol[:3], "USDT", max_leverage=20 if market == "futures" else 1, **kw
    )


def source(rows, market=MarketType.FUTURES, funding=None, **kw):
    return FrameBarSource(
        {"AAAUSDT": frame(rows)},
        markets={"AAAUSDT": spec(market=market, **kw)},
        funding=funding,
        market=market,
    )


def once(target, then=None):
    """A strategy returning ``target`` on its first call, ``then`` afterwards."""
    calls = []

    def strategy(context, config):
        calls.append(context.now)
        return target if len(calls) == 1 else then

    strategy.calls = calls
    return strategy


def run(strategy, rows, **kw):
    src = kw.pop("data", None) or source(
        rows, **{k: kw.pop(k) for k in ("funding", "market") if k in kw}
    )
    kw.setdefault("fee_rate", 0)
    kw.setdefault("progress", False)
    market = getattr(src, "_market", MarketType.FUTURES)
    return aifap.backtest(strategy, src, market=market.value, **kw)


def test_strategy_sees_bars_through_the_rebalance_close_and_fills_next_open():
    seen = []

    def strategy(context, config):
        h = context.get_history("AAAUSDT", 3)
        seen.append((context.now, h.index[-1], h.iloc[-1]))
        return {"AAAUSDT": 1.0} if len(seen) == 1 else None

    rows = [(100 + i, 100 + i, 100 + i, 100 + i) for i in range(12)]
    result = run(strategy, rows, capital=1000)
    # first rebalance: bar 00:04 closes at 00:05; its close (104) is the last price seen
    assert seen[0] == (T0 + pd.Timedelta(minutes=5), T0 + pd.Timedelta(minutes=4), 104.0)
    assert seen[1][0] == T0 + pd.Timedelta(minutes=10)
    txn = result.transactions
    assert list(txn.index) == [T0 + pd.Timedelta(minutes=5)]  # the open of bar 00:05
    assert txn["price"].iloc[0] == 105.0  # filled at the next bar's open
    assert txn["amount"].iloc[0] == pytest.approx(9.615)  # 1000 / 104 rounded down to 0.001


def test_fee_and_equity_curve_by_hand():
    rows = flat(10) + flat(5, 110.0)
    result = run(once({"AAAUSDT": 1.0}), rows, capital=1000, fee_rate=0.001)
    # 10 AAA at 100, fee 1; then marked at 110: 999 + 100
    assert result.equity.iloc[0] == 1000
    assert result.equity.iloc[5] == 1000  # bar 00:04, before the fill
    assert result.equity.iloc[6] == 999  # bar 00:05 closes after the fill at its open
    assert result.equity.iloc[-1] == pytest.approx(1099)
    assert result.metrics["fees"] == pytest.approx(1.0)
    assert result.metrics["trades"] == 1
    assert result.equity.index[-1] == T0 + pd.Timedelta(minutes=15)
    pos = result.positions.iloc[-1]
    assert pos["AAAUSDT"] == pytest.approx(1100)
    assert pos["cash"] == pytest.approx(-1)


@pytest.mark.parametrize(
    ("bar", "reason", "price"),
    [
        ((100, 106, 94, 100), "stop_loss", 95.0),  # both touched: stop-loss first
        ((90, 92, 89, 91), "stop_loss", 90.0),  # gap through the stop: the open
        ((100, 106, 99, 104), "take_profit", 105.0),
        ((108, 109, 107, 108), "take_profit", 108.0),  # gap through the take-profit
    ],
)
def test_stops_fill_intrabar(bar, reason, price):
    rows = [*flat(7), bar, *flat(4, 100.0)]
    target = {"AAAUSDT": {"weight": 1.0, "presetStopLossPrice": 95, "presetStopSurplusPrice": 105}}
    result = run(once(target), rows, capital=1000)
    filled = result.orders[result.orders.status == "filled"]
    assert list(filled.reason) == ["rebalance", reason]
    assert filled["price"].iloc[1] == price
    assert filled["timestamp"].iloc[1] == T0 + pd.Timedelta(minutes=7)
    assert filled["realized_pnl"].iloc[1] == pytest.approx(10 * (price - 100))
    assert result.equity.iloc[-1] == pytest.approx(1000 + 10 * (price - 100))
    assert result.equity.iloc[8] == pytest.approx(result.equity.iloc[-1])  # flat from bar 00:07


def test_short_with_leverage():
    rows = flat(10) + flat(5, 90.0)
    result = run(once({"AAAUSDT": -0.5}), rows, capital=1000, leverage=2)
    # notional = 0.5 * 1000 * 2 = 1000 -> short 10 at 100, then +10 * 10
    assert result.transactions["amount"].iloc[0] == pytest.approx(-10)
    assert result.equity.iloc[-1] == pytest.approx(1100)


def test_flip_closes_then_opens_at_the_same_open():
    calls = []

    def strategy(context, config):
        calls.append(1)
        return {"AAAUSDT": 0.5} if len(calls) == 1 else {"AAAUSDT": -0.5}

    rows = flat(12)
    result = run(strategy, rows, capital=1000)
    txn = result.transactions
    assert list(txn["amount"]) == pytest.approx([5, -5, -5])
    assert txn.index[1] == txn.index[2] == T0 + pd.Timedelta(minutes=10)
    filled = result.orders[result.orders.status == "filled"]
    assert filled["client_id"].nunique() == 3


def test_precision_rounding_and_dropped_legs():
    rows = flat(12, 30.0)
    src = source(rows, amount_step=D(1), min_notional=D(100))
    result = run(
        once({"AAAUSDT": 0.5}, {"AAAUSDT": 0.51}), rows, capital=1000, data=src, threshold=0.005
    )
    # 500 / 30 = 16.67 -> 16 (weight 0.48); then 0.51 -> 17: +1 unit = 30 USDT < 100: dropped
    assert result.transactions["amount"].iloc[0] == 16
    dropped = result.orders[result.orders.status == "dropped"]
    assert list(dropped.reason) == ["notional must be >= 100, was 30.0"]
    assert dropped["timestamp"].iloc[0] == T0 + pd.Timedelta(minutes=10)


def test_funding_is_booked_at_the_bar_closing_at_the_funding_time():
    rows = [*flat(8), (100, 110, 100, 110), *flat(6, 110.0)]
    rates = pd.Series([0.001], index=pd.DatetimeIndex([T0 + pd.Timedelta(minutes=9)]))
    result = run(once({"AAAUSDT": 1.0}), rows, capital=1000, funding={"AAAUSDT": rates})
    # long 10 contracts; the 00:08 bar closes at 00:09 at 110: pays 10 * 110 * 0.001 = 1.1
    assert result.metrics["funding"] == pytest.approx(1.1)
    assert result.equity.iloc[9] == pytest.approx(1000 + 100 - 1.1)
    assert result.equity.iloc[8] == pytest.approx(1000)


def test_invalid_output_stops_naming_bar_symbol_and_rule():
    strategy = once({"AAAUSDT": -0.5})
    with pytest.raises(InvalidTargetError) as info:
        run(strategy, flat(12), market=MarketType.SPOT)
    assert str(info.value) == (
        "bar 2024-01-01 00:05:00+00:00: AAAUSDT: weight must be >= 0 on spot (no shorts), was -0.5"
    )


def test_skip_records_the_error_and_never_trades_on_it():
    def strategy(context, config):
        if context.now == T0 + pd.Timedelta(minutes=5):
            return {"AAAUSDT": float("inf")}
        if context.now == T0 + pd.Timedelta(minutes=10):
            raise ZeroDivisionError("oops")
        return None

    result = run(strategy, flat(16), on_error="skip")
    assert result.transactions.empty
    assert [str(t) for t, _ in result.errors] == [
        "2024-01-01 00:05:00+00:00",
        "2024-01-01 00:10:00+00:00",
    ]
    assert "AAAUSDT: weight must be a finite number" in result.errors[0][1]
    assert "ZeroDivisionError" in result.errors[1][1]
    assert result.metrics["skipped_rebalances"] == 2
    with pytest.raises(StrategyError, match=r"at bar 2024-01-01 00:10:00\+00:00"):
        run(lambda c, k: 1 / 0 if c.now.minute == 10 else None, flat(16))


def test_runs_are_deterministic():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    rows = [(c, c * 1.01, c * 0.99, c) for c in close]

    def strategy(context, config):
        h = context.get_history("AAAUSDT", 10)
        w = 0.8 if h.iloc[-1] > h.iloc[0] else -0.4
        return {"AAAUSDT": {"weight": w, "stop_loss": h.iloc[-1] * (0.98 if w > 0 else 1.02)}}

    a = run(strategy, rows, fee_rate=0.0006, slippage_bps=2)
    b = run(strategy, rows, fee_rate=0.0006, slippage_bps=2)
    assert a.equity.equals(b.equity)
    assert a.transactions.equals(b.transactions)
    assert a.orders.equals(b.orders)
    assert a.metrics == b.metrics
    assert (a.orders.reason == "stop_loss").any()


def test_leverage_above_a_market_maximum_is_refused_before_running():
    from aifap.core.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"AAAUSDT: leverage must be <= the market's maximum 20, was 25"
    ):
        run(once({"AAAUSDT": 0.5}), flat(12), leverage=25)


def test_spot_buy_and_hold_with_weight_one_pays_the_fee_in_the_base():
    # 10 AAA bought with all 1,000 at 100; the 0.1 % fee leaves 9.99 AAA, no cash debt
    rows = flat(10) + flat(5, 110.0)
    src = source(rows, market=MarketType.SPOT, amount_step=D("0.00000001"))
    result = run(once({"AAAUSDT": 1.0}), rows, data=src, capital=1000, fee_rate=0.001)
    assert result.equity.iloc[6] == pytest.approx(999)  # capital × (1 − f) at the fill price
    # capital × (1 − f) × last / fill
    assert result.equity.iloc[-1] == pytest.approx(1000 * 0.999 * 110 / 100, abs=1e-9)
    assert result.metrics["fees"] == pytest.approx(1.0)
    pos = result.positions.iloc[-1]
    assert pos["AAAUSDT"] == pytest.approx(9.99 * 110)
    assert pos["cash"] == pytest.approx(0)  # never below zero
    assert result.orders["fee"].tolist() == [pytest.approx(1.0)]  # its value in USDT


def test_spot_buy_and_hold_keeps_the_step_residual_in_cash():
    # 1,000 at 103 on a 0.01 step: 9.70 AAA for 999.10, 0.90 stays cash
    rows = flat(10, 103.0) + flat(5, 110.0)
    src = source(rows, market=MarketType.SPOT, amount_step=D("0.01"))
    result = run(once({"AAAUSDT": 1.0}), rows, data=src, capital=1000, fee_rate=0.001)
    residual = 1000 - 9.70 * 103
    assert result.equity.iloc[-1] == pytest.approx(residual + 9.70 * 0.999 * 110)
    assert result.positions.iloc[-1]["cash"] == pytest.approx(residual)


def test_spot_full_exit_sells_down_to_the_step_and_reports_the_dust():
    rows = flat(10) + flat(10, 110.0)
    src = source(rows, market=MarketType.SPOT, amount_step=D("0.001"))
    strategy = once({"AAAUSDT": 1.0}, {})  # buy, then go flat
    result = run(strategy, rows, data=src, capital=1000, fee_rate=0.001)
    sells = result.orders[result.orders["side"] == "sell"]
    filled = sells[sells["status"] == "filled"]
    assert filled["amount"].tolist() == [pytest.approx(9.99)]  # 9.99 held: on the step
    assert result.positions.iloc[-1]["cash"] == pytest.approx(9.99 * 110 * 0.999)
    rows = flat(10, 97.0) + flat(10, 110.0)  # 10.309 bought, 10.298691 held
    src = source(rows, market=MarketType.SPOT, amount_step=D("0.001"))
    result = run(once({"AAAUSDT": 1.0}, {}), rows, data=src, capital=1000, fee_rate=0.001)
    orders = result.orders
    sold = orders[(orders["side"] == "sell") & (orders["status"] == "filled")]
    assert sold["amount"].tolist() == [pytest.approx(10.298)]
    dust = orders[orders["status"] != "filled"]
    assert dust["amount"].tolist() == [pytest.approx(0.000691)]
    assert "dust: 0.000691 below the amount step 0.001 stays held" in dust["reason"].iloc[0]


@pytest.mark.parametrize("ledger", ["auto", "decimal"])
def test_equity_is_the_exact_cash_plus_positions_at_each_close(ledger):
    """Each bar's PV: cash (capital − Σ signed notional − fees) + size × close, to a few ulps.

    Levered flips and stops keep the cash far from the equity, where a float shortcut
    (a stale cash, a wrong entry price) would show.
    """
    pairs = [(100 + i % 7, 100 + (i * 3 + 1) % 7) for i in range(60)]
    rows = [(o, max(o, c) + 2, min(o, c) - 2, c) for o, c in pairs]
    calls = []

    def flipping(context, config):
        calls.append(1)
        last = context.get_history("AAAUSDT", 1).iloc[-1]
        sign = (-1.0) ** len(calls)
        return {"AAAUSDT": {"weight": 0.9 * sign, "presetStopLossPrice": last * (1 - 0.02 * sign)}}

    result = run(flipping, rows, fee_rate=0.0006, leverage=3, rebalance_every="5m", ledger=ledger)
    orders = result.orders[result.orders["status"] == "filled"]
    assert (orders["reason"] != "rebalance").any(), "a stop fills in this case"
    closes = [D(repr(c)) for _, _, _, c in rows]
    for i, (label, equity) in enumerate(result.equity.items()):
        done = orders[orders["timestamp"] < label]
        signs = done["side"].map({"buy": 1, "sell": -1})
        amounts = [D(repr(a)) * s for a, s in zip(done["amount"], signs, strict=True)]
        prices = [D(repr(p)) for p in done["price"]]
        fees = sum(D(repr(f)) for f in done["fee"])
        cash = D(10_000) - sum(a * p for a, p in zip(amounts, prices, strict=True)) - fees
        value = sum(amounts, D(0)) * closes[i - 1] if i else D(0)
        scale = float(abs(cash) + abs(value))
        assert abs(D(repr(equity)) - (cash + value)) <= D(repr(4 * 2.0**-53 * scale)), label


@pytest.mark.parametrize("ledger", ["auto", "decimal"])
def test_day_end_positions_are_the_sizes_the_fills_left_times_the_close(ledger):
    """Three days of 5-minute rebalances and stops: each day's position is its last size.

    The engine keeps only the states a day ends in; the positions frame must still show,
    at every day's last bar, the size all fills up to it left (× that bar's close).
    """
    n = 3 * 1440 + 7
    pairs = [(100 + (i * 7) % 11, 100 + (i * 7 + 3) % 11) for i in range(n)]
    rows = [(o, max(o, c) + 2, min(o, c) - 2, c) for o, c in pairs]
    calls = []

    def swinging(context, config):
        calls.append(1)
        last = context.get_history("AAAUSDT", 1).iloc[-1]
        weight = round(0.5 + 0.4 * np.sin(len(calls) / 3), 3)
        return {"AAAUSDT": {"weight": weight, "presetStopLossPrice": last * 0.95}}

    result = run(swinging, rows, fee_rate=0.0006, rebalance_every="5m", ledger=ledger)
    orders = result.orders[result.orders["status"] == "filled"]
    assert len(result.positions) == 4  # three whole days and the next one's first minutes
    assert len(orders) > 3 * 288  # a state a rebalance, far more than days
    index = pd.date_range(T0, periods=n, freq="1min", tz="UTC")
    for day, held in result.positions["AAAUSDT"].items():
        last = index[index < day + pd.Timedelta(days=1)][-1]  # the day's last bar opens here
        done = orders[orders["timestamp"] <= last]
        signs = done["side"].map({"buy": 1, "sell": -1})
        size = sum(D(repr(a)) * s for a, s in zip(done["amount"], signs, strict=True))
        close = rows[index.get_loc(last)][3]
        assert held == pytest.approx(float(size) * close, rel=1e-12), day
