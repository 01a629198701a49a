"""Tear sheets: self-contained HTML with figures, 365-day metrics, no figures left open."""

from __future__ import annotations

import base64
import re

import empyrical as ep
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from aifap.analysis import create_tear_sheet, daily_returns, headline_stats, plot_equity
from aifap.data.synthetic import SyntheticMarket

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def book() -> dict:
    market = SyntheticMarket(["BTCUSDT", "ETHUSDT"], days=20, seed=5)
    closes = pd.DataFrame({s: market.bars(s, "5m")["close"] for s in market.symbols()})
    returns = closes.pct_change().fillna(0.0).mean(axis=1)
    equity = 10_000 * (1 + returns).cumprod()
    positions = closes.div(closes.iloc[0]).mul(5_000.0)
    positions["cash"] = equity - positions.sum(axis=1)
    transactions = pd.DataFrame(
        {
            "amount": [0.0833, 1.667, -0.02],
            "price": [60_000.0, 3_000.0, 61_000.0],
            "symbol": ["BTCUSDT", "ETHUSDT", "BTCUSDT"],
        },
        index=closes.index[[0, 0, 800]],
    )
    return {
        "returns": returns,
        "equity": equity,
        "positions": positions,
        "transactions": transactions,
        "benchmark": closes["BTCUSDT"].pct_change().fillna(0.0),
    }


def test_bar_returns_compound_to_daily():
    index = pd.date_range("2024-01-01 22:00", periods=4, freq="1h", tz="UTC")
    daily = daily_returns(pd.Series([0.1, 0.1, -0.5, 0.2], index=index))
    assert daily.index.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-02"]
    np.testing.assert_allclose(daily.to_numpy(), [1.1 * 1.1 - 1, 0.5 * 1.2 - 1])


def test_headline_metrics_are_annualized_with_365_days():
    rng = np.random.default_rng(1)
    index = pd.date_range("2024-01-01", periods=90, freq="D", tz="UTC")
    daily = pd.Series(rng.normal(0.001, 0.02, 90), index=index)
    stats = headline_stats(daily)
    expected = daily.mean() / daily.std(ddof=1) * np.sqrt(365)
    assert stats["Sharpe ratio"] == pytest.approx(expected)
    assert stats["Annual volatility"] == pytest.approx(daily.std(ddof=1) * np.sqrt(365))
    assert stats["Max drawdown"] == pytest.approx(ep.max_drawdown(daily))


def test_tear_sheet_is_self_contained_html_with_figures(book, tmp_path):
    open_before = plt.get_fignums()
    path = create_tear_sheet(
        book["returns"],
        positions=book["positions"],
        transactions=book["transactions"],
        benchmark=book["benchmark"],
        output=tmp_path / "sheet.html",
    )
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3  # returns, positions, transactions
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert "annualization=365" in html
    assert "Sharpe ratio" in html
    assert "Beta" in html
    assert "Worst drawdown periods" in html
    assert "http" not in html.replace("http-equiv", "")  # nothing loaded from elsewhere
    assert plt.get_fignums() == open_before


def test_tear_sheet_without_positions_returns_the_html(book):
    html = create_tear_sheet(book["returns"])
    assert isinstance(html, str)
    assert len(re.findall(r"data:image/png;base64,", html)) == 1
    assert "<h2>Positions</h2>" not in html


def test_tear_sheet_rejects_returns_without_times():
    with pytest.raises(ValueError, match="returns must be a pandas Series with a DatetimeIndex"):
        create_tear_sheet(pd.Series([0.1, 0.2]))


def test_plot_equity_returns_a_figure(book):
    figure = plot_equity(book["equity"], title="Momentum")
    assert figure.axes[0].get_title() == "Momentum"
    plt.close(figure)
