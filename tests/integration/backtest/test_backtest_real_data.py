"""Backtests on the real market data in ../shared/data (read in place)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aifap

pytestmark = pytest.mark.shared_data


def read(path):
    frame = pd.read_csv(path)
    frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True).dt.as_unit("ns")
    return frame


def hold_first(weight):
    calls = []

    def strategy(context, config):
        calls.append(1)
        return {"XRPUSDT": weight} if len(calls) == 1 else None

    return strategy


@pytest.mark.parametrize("weight", [0.5, -0.5])
def test_xrpusdt_funding_reconciles_with_the_funding_file(shared_data, weight):
    result = aifap.backtest(
        hold_first(weight),
        shared_data / "ohlcv",
        symbols=["XRPUSDT"],
        rebalance_every="1h",
        capital=1000,
        fee_rate=0,
        progress=False,
    )
    assert result.config["timeframe"] == "5m"
    bars = read(shared_data / "ohlcv/futures/XRPUSDT_5m.csv.gz")
    rates = read(shared_data / "ohlcv/futures/XRPUSDT_funding.csv.gz")["rate"]
    (size,) = result.transactions["amount"]
    opened = result.transactions.index[0]
    bar_close = bars.index + pd.Timedelta(minutes=5)
    last_close = bar_close[-1]
    expected = 0.0
    settled = 0
    for when, rate in rates.items():
        if when <= opened or when > last_close:
            continue
        at = int(np.searchsorted(bar_close, when))
        expected += size * bars["close"].iloc[at] * rate
        settled += 1
    assert settled == 12  # 2021-11-18 00:00 .. 2021-11-21 16:00, every 8 hours
    assert result.metrics["funding"] == pytest.approx(expected, rel=1e-12)
    assert (expected > 0) == (weight > 0)  # positive rates: longs pay, shorts receive
    final = 1000 + size * (bars["close"].iloc[-1] - result.transactions["price"].iloc[0]) - expected
    assert result.equity.iloc[-1] == pytest.approx(final, rel=1e-12)


def momentum(assets, window=100, lookback=20, frequency="1m"):
    def strategy(context, config_dict):
        prices = context.get_history(assets, window=window, frequency=frequency, fields="close")
        returns = prices.pct_change(lookback, fill_method=None)
        positive = [a for a in assets if returns[a].iloc[-1] > 0]
        return {
            a: {
                "weight": 1.0 / len(positive),
                "presetStopSurplusPrice": prices[a].iloc[-1] * 1.05,
                "presetStopLossPrice": prices[a].iloc[-1] * 0.97,
            }
            for a in positive
        }

    return strategy


@pytest.mark.slow
def test_btcusdt_month_of_1m_bars(shared_data):
    result = aifap.backtest(
        momentum(["BTCUSDT"]),
        shared_data / "ohlcv",
        symbols=["BTCUSDT"],
        start="2022-01-01",
        end="2022-01-08",
        progress=False,
    )
    assert result.equity.index[0] == pd.Timestamp("2022-01-01", tz="UTC")
    assert result.equity.index[-1] == pd.Timestamp("2022-01-08", tz="UTC")
    assert len(result.returns) == 7
    assert result.metrics["trades"] > 0
    assert np.isfinite(result.equity).all()
    assert set(result.positions.columns) <= {"BTCUSDT", "cash"}


def test_btc_spot_basket_at_5m(shared_data):
    pairs = ["ETHBTC", "LTCBTC", "XMRBTC", "ADABTC", "TRXBTC"]
    result = aifap.backtest(
        momentum(pairs, window=50, lookback=12, frequency="5m"),
        shared_data / "ohlcv",
        symbols=pairs,
        market="spot",
        capital=1.0,
        rebalance_every="1h",
        end="2018-01-15",
        progress=False,
    )
    assert result.config["market"] == "spot"
    held = result.transactions.groupby("symbol")["amount"].cumsum()
    assert (held >= -1e-9 * result.transactions["amount"].abs().max()).all()  # no spot shorts
    assert result.metrics["final_equity"] > 0
