"""Property: the backtest's PV (balance + uPnL) equals cash + marked positions at every bar.

The cash side is rebuilt here from the transactions, fees and funding rates alone,
independently of the ledger's realized-PnL book that produced ``result.equity``.
"""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import aifap
from aifap.core.markets import MarketSpec, MarketType
from aifap.data.frames import FrameBarSource

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")
SYMBOLS = ("AAAUSDT", "BBBUSDT")
N = 180


def make_source(seed: int, holes: bool) -> FrameBarSource:
    rng = np.random.default_rng(seed)
    frames = {}
    for i, symbol in enumerate(SYMBOLS):
        close = (50 + 50 * i) * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, N))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, N)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, N)))
        index = pd.date_range(T0, periods=N, freq="1min", tz="UTC", name="timestamp")
        f = pd.DataFrame(
            {"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index
        )
        if holes and i == 1:
            f = f.drop(f.index[60:75])
        frames[symbol] = f
    funding_times = pd.date_range(T0 + pd.Timedelta(minutes=17), periods=6, freq="29min", tz="UTC")
    rates = {s: pd.Series(rng.normal(0, 0.002, 6), index=funding_times) for s in SYMBOLS}
    markets = {
        s: MarketSpec(
            s,
            MarketType.FUTURES,
            s[:3],
            "USDT",
            amount_step=D("0.01"),
            min_notional=D(5),
            max_leverage=20,
        )
        for s in SYMBOLS
    }
    return FrameBarSource(frames, funding=rates, markets=markets)


def random_strategy(seed: int):
    def strategy(context, config):
        rng = np.random.default_rng([seed, int(context.now.value // 60_000_000_000)])
        out = {}
        for symbol in SYMBOLS:
            w = float(rng.choice([0.0, 0.3, -0.3, 0.45, -0.1]))
            price = context.current(symbol, "price")
            if w and rng.random() < 0.5:
                out[symbol] = {"weight": w, "stop_loss": price * (0.99 if w > 0 else 1.01)}
            elif w:
                out[symbol] = w
        return None if rng.random() < 0.1 else out

    return strategy


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    fee=st.sampled_from([0.0, 0.0006, 0.002]),
    bps=st.sampled_from([0.0, 5.0]),
    leverage=st.sampled_from([1, 3]),
    holes=st.booleans(),
)
def test_equity_equals_cash_plus_marked_positions_at_every_bar(seed, fee, bps, leverage, holes):
    src = make_source(seed, holes)
    result = aifap.backtest(
        random_strategy(seed),
        src,
        capital=1000,
        rebalance_every="3m",
        fee_rate=fee,
        slippage_bps=bps,
        leverage=leverage,
        threshold=0.02,
        progress=False,
    )
    closes = pd.DataFrame({s: src.bars(s)["close"] for s in SYMBOLS})
    closes = closes.reindex(pd.date_range(T0, periods=N, freq="1min", tz="UTC")).ffill()
    bar_close = closes.index + pd.Timedelta(minutes=1)
    txn = result.transactions
    fees = result.orders[result.orders.status == "filled"]
    holdings = {s: np.zeros(N) for s in SYMBOLS}
    cash = np.full(N, 1000.0)
    for (when, row), fee_paid in zip(txn.iterrows(), fees["fee"], strict=True):
        at = closes.index.get_loc(when)  # fills at a bar's open count from that bar's close
        holdings[row["symbol"]][at:] += row["amount"]
        cash[at:] -= row["amount"] * row["price"] + fee_paid
    for s in SYMBOLS:
        for when, rate in src.funding(s).items():
            at = int(np.searchsorted(bar_close, when))  # the bar closing at/after the funding time
            paid = holdings[s][at] * closes[s].iloc[at] * rate
            cash[at:] -= paid
    marked = cash + sum(holdings[s] * closes[s].to_numpy() for s in SYMBOLS)
    assert np.allclose(result.equity.to_numpy()[1:], marked, rtol=0, atol=1e-7)
    assert result.equity.iloc[0] == 1000
    day_end = result.positions.iloc[-1]
    assert day_end.sum() == np.float64(result.equity.iloc[-1]) or np.isclose(
        day_end.sum(), result.equity.iloc[-1]
    )
