"""``aifap.walk_forward``: test bars never reach the train selection.

The market is built so that look-ahead would pay: one asset rises on days 0 and 1,
falls hard on day 2 and rises hard on day 3. The strategy holds ``side`` (+1 long,
-1 short) all the time. With train = 2 days and test = 1 day there are two windows:

- train days 0-1 (up) → long is best; its test day 2 falls: a loss;
- train days 1-2 (net down) → short is best; its test day 3 rises: a loss.

A walk-forward that let a test day into its selection would pick the side that wins
that day and show a profit in every window; an honest one loses in both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import aifap
from aifap.core.errors import ConfigError

DAY = 1440
START = pd.Timestamp("2024-03-01", tz="UTC")
WARM_UP = 120  # bars: two hourly rebalances
DAILY_MOVE = [0.01, 0.01, -0.04, 0.04]  # log return of each day


def side_strategy(context, config_dict):
    """Hold ``side`` × 0.5 of equity in the asset (needs 120 bars of warm-up history)."""
    closes = context.get_history("AAAUSDT", window=WARM_UP, fields="close")
    if len(closes) < WARM_UP:
        return None
    return {"AAAUSDT": 0.5 * config_dict["side"]}


@pytest.fixture(scope="module")
def bars():
    steps = np.repeat(np.array(DAILY_MOVE) / DAY, DAY)
    close = 100 * np.exp(np.cumsum(steps))
    opens = np.r_[100.0, close[:-1]]
    index = pd.date_range(START, periods=len(close), freq="1min")
    frame = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close),
            "low": np.minimum(opens, close),
            "close": close,
            "volume": 1.0,
        },
        index=index,
    )
    return {"AAAUSDT": frame}


def test_walk_forward_never_looks_ahead(bars):
    kwargs = {"rebalance_every": "1h", "market": "spot", "fee_rate": 0.0}
    grid = {"side": [1, 0]}  # spot: long or flat (no shorts)
    result = aifap.walk_forward(
        side_strategy, bars, grid, train="2d", test="1d", objective="roe", workers=1,
        processes=False, progress=False, **kwargs,
    )  # fmt: skip
    windows = result.windows
    assert windows["train_start"].tolist() == [START, START + pd.Timedelta(days=1)]
    assert windows["train_end"].tolist() == [
        START + pd.Timedelta(days=2),
        START + pd.Timedelta(days=3),
    ]
    # window 0 trains on the rise: long; window 1 trains on days 1-2 (down): flat
    assert windows["side"].tolist() == [1, 0]
    # long into the fall loses; flat into the rise misses it
    assert windows["test_roe"].iloc[0] < -0.01
    assert windows["test_roe"].iloc[1] == 0
    assert result.metrics["roe"] < -0.01
    for w, row in windows.iterrows():
        # the selection is exactly the train-window backtests: no bar after train_end
        for _, combo in result.sweeps[w].table.iterrows():
            alone = aifap.backtest(
                side_strategy, bars, start=row["train_start"], end=row["train_end"],
                config={"side": combo["side"]}, **kwargs,
            )  # fmt: skip
            assert combo["roe"] == alone.metrics["roe"]
        # the test run trades only in its window, warmed up on the bars before it
        test = aifap.backtest(
            side_strategy, bars, start=row["train_end"], end=row["test_end"],
            config={"side": row["side"]}, **kwargs,
        )  # fmt: skip
        assert row["test_roe"] == test.metrics["roe"]
        if row["side"]:  # its first rebalance trades: the warm-up came from before the window
            first_fill = row["train_end"] + pd.Timedelta(hours=1)
            assert test.orders["timestamp"].min() == first_fill
    assert result.gap["gap"] == pytest.approx(
        windows["in_sample"].mean() - windows["out_of_sample"].mean()
    )
    assert result.gap["gap"] > 0
    # the stitched equity runs from the first test start to the last test end, chained
    assert result.equity.index[0] == START + pd.Timedelta(days=2)
    assert result.equity.index[-1] == START + pd.Timedelta(days=4)
    assert result.equity.iloc[-1] == pytest.approx(10_000 * (1 + result.metrics["roe"]))
    assert not result.equity.index.duplicated().any()


def test_the_tear_sheet_is_pyfolios_on_the_stitched_returns(bars, tmp_path):
    """A real pyfolio sheet of the out-of-sample returns: its dates and return are theirs."""
    result = aifap.walk_forward(
        side_strategy, bars, {"side": [1, 0]}, train="2d", test="1d", workers=1,
        processes=False, progress=False, market="spot",
    )  # fmt: skip
    path = result.tear_sheet(tmp_path / "wf.html")
    page = Path(path).read_text(encoding="utf-8")
    assert "<title>AIFAP walk-forward (out of sample)</title>" in page
    daily = (1 + result.returns).groupby(result.returns.index.floor("D")).prod() - 1
    first, last = daily.index[0].date().isoformat(), daily.index[-1].date().isoformat()
    assert f"<th>Start date</th><td>{first}</td>" in page
    assert f"<th>End date</th><td>{last}</td>" in page
    assert first == (START + pd.Timedelta(days=2)).date().isoformat()  # not a train day
    cumulative = float((1 + daily).prod() - 1)
    assert cumulative == pytest.approx(result.metrics["roe"], rel=1e-9, abs=1e-12)
    assert "data:image/png;base64," in page  # pyfolio's figures were drawn


def test_walk_forward_needs_room_for_one_window(bars):
    with pytest.raises(ConfigError, match="train \\+ test must fit in the data"):
        aifap.walk_forward(
            side_strategy, bars, {"side": [1]}, train="3d", test="2d", workers=1,
            processes=False, progress=False, market="spot",
        )  # fmt: skip
    with pytest.raises(ConfigError, match="test must be a positive duration"):
        aifap.walk_forward(side_strategy, bars, {"side": [1]}, test="-1d", progress=False)


def test_cli_walk_forward_writes_windows_equity_and_tear_sheet(tmp_path):
    """``aifap walk-forward`` on a bar directory gives what ``aifap.walk_forward`` gives."""
    from typer.testing import CliRunner

    from aifap.cli import app
    from aifap.data.files import write_bar_file
    from aifap.data.synthetic import SyntheticMarket

    market = SyntheticMarket(["BTCUSDT", "ETHUSDT"], days=8, seed=3)
    data = tmp_path / "bars"
    data.mkdir()
    for symbol, frame in market.frames().items():
        write_bar_file(data / f"{symbol}_1m.csv.gz", frame)
    momentum = Path(__file__).resolve().parents[3] / "strategies" / "momentum.py"
    out = tmp_path / "wf"
    args = [
        "walk-forward", str(momentum), "--grid", "lookback=5,30", "--grid", "window=40,120",
        "--data", str(data), "--train", "3d", "--test", "2d", "--rebalance", "1h",
        "--objective", "roe", "--workers", "1", "--out", str(out), "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    expected = aifap.walk_forward(
        str(momentum), str(data), {"lookback": [5, 30], "window": [40, 120]}, train="3d",
        test="2d", objective="roe", workers=1, processes=False, progress=False,
        rebalance_every="1h",
    )  # fmt: skip
    windows = pd.read_csv(out / "windows.csv")
    assert windows["lookback"].tolist() == expected.windows["lookback"].tolist()
    assert windows["out_of_sample"].tolist() == pytest.approx(
        expected.windows["out_of_sample"].tolist()
    )
    equity = pd.read_csv(out / "equity.csv", index_col=0)["equity"]
    assert equity.iloc[-1] == pytest.approx(expected.equity.iloc[-1])
    assert "<title>AIFAP walk-forward (out of sample)</title>" in (
        out / "tearsheet.html"
    ).read_text(encoding="utf-8")
    assert f"gap {expected.gap['gap']:+.4f}" in result.output

    bad = CliRunner().invoke(app, [*args[:8], "--train", "-1d", "--out", str(out)])
    assert bad.exit_code != 0  # `aifap` (cli.main) prints the ConfigError's message
    assert isinstance(bad.exception, ConfigError)
    assert "train must be a positive duration" in str(bad.exception)
