"""The seed's metrics: PV, uPnL, ROE, daily returns, Sharpe (√365), max drawdown."""

from __future__ import annotations

import math
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from aifap.core import metrics
from aifap.core.portfolio import Position


def series(values, start="2024-01-01", freq="1D"):
    index = pd.date_range(start, periods=len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index, dtype="float64")


def test_pv_is_wallet_balance_plus_unrealized_pnl():
    positions = [
        Position("BTCUSDT", D(2), D(100), D(110)),  # +20
        Position("ETHUSDT", D(-10), D(50), D(55), contract_size=D("0.1")),  # -5
    ]
    assert metrics.unrealized_pnl(positions) == D(15)
    assert metrics.portfolio_value(D(1000), positions) == D(1015)


def test_roe_and_pnl_against_the_starting_allocation():
    assert metrics.pnl(1100, 1000) == 100
    assert metrics.roe(1100, 1000) == pytest.approx(0.1)
    assert metrics.roe(900, 1000) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="initial allocation must be > 0, was 0"):
        metrics.roe(1, 0)


def test_max_drawdown_is_a_negative_fraction_from_the_running_peak():
    equity = series([100, 120, 90, 130, 104, 140])
    assert metrics.max_drawdown(equity) == pytest.approx(-0.25)  # 120 -> 90
    assert metrics.max_drawdown(series([1, 2, 3])) == 0.0
    assert metrics.max_drawdown(np.array([])) == 0.0


def test_daily_returns_take_the_last_pv_of_each_day_and_the_initial_for_day_one():
    index = pd.to_datetime(
        [
            "2024-01-01 00:00",
            "2024-01-01 12:00",
            "2024-01-02 00:00",
            "2024-01-02 18:00",
            "2024-01-03 00:00",
        ],
        utc=True,
    )
    equity = pd.Series([100.0, 105.0, 110.0, 99.0, 121.0], index=index)
    daily = metrics.daily_returns(equity, initial=100)
    # midnight closes the previous day: day 1 ends at 110, day 2 at 121
    assert list(daily.index.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-02"]
    assert daily.to_numpy() == pytest.approx([0.10, 0.10])


def test_sharpe_matches_empyrical_with_365_days():
    empyrical = pytest.importorskip("empyrical")
    rng = np.random.default_rng(7)
    r = pd.Series(
        rng.normal(0.001, 0.02, 200), index=pd.date_range("2024-01-01", periods=200, tz="UTC")
    )
    ours = metrics.sharpe_ratio(r)
    theirs = empyrical.sharpe_ratio(r, annualization=365)
    assert ours == pytest.approx(float(theirs), rel=1e-12)


def test_sharpe_by_hand_and_degenerate_cases():
    r = np.array([0.01, -0.01, 0.02])
    expected = np.mean(r) / np.std(r, ddof=1) * math.sqrt(365)
    assert metrics.sharpe_ratio(r) == pytest.approx(expected)
    assert metrics.sharpe_ratio([0.01]) is None
    assert metrics.sharpe_ratio([0.01, 0.01]) is None  # no volatility
    rf = metrics.sharpe_ratio(r, risk_free=0.0365)
    assert rf == pytest.approx((np.mean(r) - 0.0001) / np.std(r, ddof=1) * math.sqrt(365))


def test_summary_table():
    equity = series([1000, 1100, 990, 1200], freq="1D")
    table = metrics.summary(equity, initial=1000, trades=3, fees=1.5, funding=-0.2)
    assert table["final_equity"] == 1200
    assert table["roe"] == pytest.approx(0.2)
    assert table["max_drawdown"] == pytest.approx(-0.1)
    assert table["trades"] == 3
    assert table["days"] == 3
    assert table["sharpe"] == pytest.approx(
        metrics.sharpe_ratio(metrics.daily_returns(equity, 1000))
    )


def test_equity_index_must_be_datetimes():
    with pytest.raises(ValueError, match="equity index must be a DatetimeIndex, was RangeIndex"):
        metrics.daily_returns(pd.Series([1.0, 2.0]))
