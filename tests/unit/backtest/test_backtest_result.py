"""The result object: pyfolio formats, save, plot, tear sheet, and the public entry point."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

import aifap
from aifap.backtest import BacktestResult
from aifap.core.errors import ConfigError

matplotlib.use("Agg")

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def momentum(context, config_dict):
    prices = context.get_history(SYMBOLS, window=30, frequency="5m")
    returns = prices.pct_change(6, fill_method=None)
    if len(returns) < 7:
        return None
    positive = [a for a in SYMBOLS if returns[a].iloc[-1] > 0]
    return {
        a: {"weight": 0.9 / len(positive), "stop_loss": prices[a].iloc[-1] * 0.97} for a in positive
    }


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    from aifap.data.synthetic import SyntheticMarket

    market = SyntheticMarket(SYMBOLS, days=4)
    return aifap.backtest(momentum, market, rebalance_every="1h", progress=False)


def test_public_entry_points():
    assert "backtest" in aifap.__all__
    assert "BacktestResult" in aifap.__all__
    assert callable(aifap.backtest)
    assert aifap.BacktestResult is BacktestResult
    import aifap.backtest as package

    assert callable(package)


def test_pyfolio_formats(result):
    r = result.returns
    assert r.dtype == "float64"
    assert str(r.index.tz) == "UTC"
    assert (r.index == r.index.normalize()).all()
    assert len(r) == 4
    pos = result.positions
    assert "cash" in pos.columns
    assert pos.index.equals(r.index)
    assert np.allclose(pos.sum(axis=1).to_numpy(), (1 + r).cumprod().to_numpy() * 10_000)
    txn = result.transactions
    assert list(txn.columns) == ["amount", "price", "symbol"]
    assert str(txn.index.tz) == "UTC"
    assert set(txn["symbol"]) <= set(SYMBOLS)


def test_metrics_come_from_core_metrics(result):
    from aifap.core import metrics

    m = result.metrics
    assert m["final_equity"] == result.equity.iloc[-1]
    assert m["max_drawdown"] == metrics.max_drawdown(result.equity)
    assert m["sharpe"] == metrics.sharpe_ratio(result.returns)
    assert m["trades"] == len(result.transactions)
    assert m["roe"] == pytest.approx(result.equity.iloc[-1] / 10_000 - 1)
    assert "BacktestResult(final_equity=" in repr(result)


def test_save_writes_csvs_and_json(result, tmp_path):
    out = result.save(tmp_path / "run")
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "equity.csv",
        "metrics.json",
        "orders.csv",
        "positions.csv",
        "returns.csv",
        "transactions.csv",
    ]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"]["final_equity"] == pytest.approx(result.metrics["final_equity"])
    assert saved["config"]["symbols"] == SYMBOLS
    equity = pd.read_csv(out / "equity.csv", index_col=0)
    assert len(equity) == len(result.equity)


def test_plot_returns_a_figure(result):
    import matplotlib.pyplot as plt

    fig = result.plot()
    assert len(fig.axes) == 2
    plt.close(fig)


@pytest.mark.slow
def test_tear_sheet_html(result, tmp_path):
    path = result.tear_sheet(tmp_path / "sheet.html")
    assert "<html" in path.read_text()[:500].lower()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capital": 0}, "capital must be a finite number > 0, was 0"),
        ({"market": "margin"}, "market must be 'futures' or 'spot', was 'margin'"),
        ({"market": "spot", "leverage": 2}, "leverage must be 1 on spot, was 2"),
        ({"on_error": "ignore"}, "on_error must be 'raise' or 'skip', was 'ignore'"),
        ({"rebalance_every": "7m"}, "rebalance_every: timeframe must be one of"),
        ({"threshold": -0.1}, "threshold must be a finite number >= 0, was -0.1"),
        ({"start": "2024-06-10", "end": "2024-06-09"}, "end must be after start"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        aifap.backtest(momentum, {}, **kwargs)


def test_progress_bar_runs_without_warnings(capsys):
    from aifap.data.synthetic import SyntheticMarket

    market = SyntheticMarket(["BTCUSDT"], days=1)
    aifap.backtest(lambda c, k: {"BTCUSDT": 0.5}, market, rebalance_every="1h", progress=True)
    assert "backtest" in capsys.readouterr().err


@pytest.mark.parametrize("ledger", ["auto", "decimal"])
def test_a_run_whose_only_orders_were_dropped_lists_them(ledger):
    """No fill at all, one leg under the minimum notional: the orders frame still builds."""
    from decimal import Decimal

    from aifap.core.markets import MarketSpec, MarketType
    from aifap.data.frames import FrameBarSource

    index = pd.date_range("2024-01-01", periods=5, freq="1min", tz="UTC", name="timestamp")
    bars = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=index
    )
    spec = MarketSpec("AAAUSDT", MarketType.SPOT, "AAA", "USDT", min_notional=Decimal(5))
    source = FrameBarSource({"AAAUSDT": bars}, markets={"AAAUSDT": spec}, market="spot")
    result = aifap.backtest(
        lambda context, config: {"AAAUSDT": 1.0}, source, market="spot", capital=3,
        rebalance_every="1m", progress=False, ledger=ledger,
    )  # fmt: skip
    assert result.metrics["trades"] == 0
    assert result.orders["status"].tolist() == ["dropped"] * 4
    assert result.orders["reason"].iloc[0].startswith("notional must be >= 5, was 3.0")
    assert result.orders["client_id"].isna().all()


def test_the_orders_frame_is_built_when_first_read_and_survives_pickling():
    """A result pickles before its orders frame is built; both copies build the same frame."""
    import pickle

    from aifap.data.synthetic import SyntheticMarket

    run = aifap.backtest(
        momentum, SyntheticMarket(SYMBOLS, days=2), rebalance_every="1h", progress=False
    )
    copy = pickle.loads(pickle.dumps(run))
    orders = run.orders
    assert orders is run.orders  # built once
    assert len(orders[orders.status == "filled"]) == run.metrics["trades"] > 0
    assert orders["client_id"].str.startswith("af").sum() > 0
    pd.testing.assert_frame_equal(copy.orders, orders)
