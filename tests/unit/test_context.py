"""The strategy's Context: shapes, no lookahead, resampling, holes, both providers alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aifap.context import Context
from aifap.core.portfolio import Portfolio
from aifap.history import BarArrays

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC")


def bars(n=600, start=T0, seed=0, price=100.0, freq="1min"):
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    close = price * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.r_[price, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.001,
            "low": np.minimum(open_, close) * 0.999,
            "close": close,
            "volume": rng.uniform(1, 2, n),
        },
        index=index,
    )


FRAMES = {"AAAUSDT": bars(seed=1), "BBBUSDT": bars(seed=2, price=10)}


@pytest.fixture(params=["arrays", "source"])
def make(request):
    """Build a context over the same bars through either history provider."""

    def build(frames=FRAMES, now=None):
        now = T0 + pd.Timedelta(minutes=300) if now is None else now
        if request.param == "arrays":
            return Context(BarArrays.from_frames(frames, "1m"), now=now)
        from aifap.data.frames import FrameBarSource

        return Context(FrameBarSource(frames), now=now, mode="live")

    return build


def test_one_asset_one_field_is_a_series_of_completed_bars(make):
    ctx = make()
    s = ctx.get_history("AAAUSDT", 10)
    assert isinstance(s, pd.Series)
    assert s.name == "AAAUSDT"
    assert len(s) == 10
    # at 05:00 the last complete 1m bar opened at 04:59
    assert s.index[-1] == T0 + pd.Timedelta(minutes=299)
    assert s.iloc[-1] == FRAMES["AAAUSDT"]["close"].iloc[299]
    assert str(s.index.tz) == "UTC"


def test_list_of_assets_is_a_frame_and_list_of_fields_is_multiindexed(make):
    ctx = make()
    frame = ctx.get_history(["AAAUSDT", "BBBUSDT"], 5)
    assert list(frame.columns) == ["AAAUSDT", "BBBUSDT"]
    assert frame.shape == (5, 2)
    multi = ctx.get_history(["AAAUSDT", "BBBUSDT"], 5, fields=["open", "close"])
    assert list(multi.columns) == [
        ("open", "AAAUSDT"),
        ("open", "BBBUSDT"),
        ("close", "AAAUSDT"),
        ("close", "BBBUSDT"),
    ]
    single = ctx.get_history("AAAUSDT", 5, fields=["high", "low"])
    assert list(single.columns) == ["high", "low"]


def test_never_returns_a_bar_not_complete_at_now(make):
    frames = FRAMES
    for minutes in (300, 301, 302, 303, 304, 305):
        ctx = make(now=T0 + pd.Timedelta(minutes=minutes, seconds=30 if minutes == 303 else 0))
        for freq, width in (("1m", 1), ("5m", 5), ("15m", 15), ("1h", 60)):
            h = ctx.get_history("AAAUSDT", 3, frequency=freq)
            last_open = h.index[-1]
            assert last_open + pd.Timedelta(minutes=width) <= ctx.now, (freq, minutes)
        # and the latest complete 5m bar is not skipped either
        h5 = ctx.get_history("AAAUSDT", 1, frequency="5m")
        assert h5.index[-1] == (ctx.now - pd.Timedelta(minutes=5)).floor("5min")
    assert frames is FRAMES


def test_resampling_aligns_to_epoch_boundaries_and_aggregates(make):
    offset = {"AAAUSDT": bars(start=T0 + pd.Timedelta(minutes=3), seed=1)}
    ctx = make(frames=offset, now=T0 + pd.Timedelta(minutes=63))
    h = ctx.get_history(
        "AAAUSDT", 100, frequency="15m", fields=["open", "high", "low", "close", "volume"]
    )
    assert list(h.index.minute) == [0, 15, 30, 45]
    base = offset["AAAUSDT"]
    first = base.loc[: T0 + pd.Timedelta(minutes=14)]  # 00:03 .. 00:14, a partial first bin
    assert h["open"].iloc[0] == first["open"].iloc[0]
    assert h["high"].iloc[0] == first["high"].max()
    assert h["low"].iloc[0] == first["low"].min()
    assert h["close"].iloc[0] == first["close"].iloc[-1]
    assert h["volume"].iloc[0] == pytest.approx(first["volume"].sum())


def test_holes_invent_no_bars(make):
    base = bars(n=120, seed=3)
    holed = base.drop(base.index[30:50])  # 00:30..00:49 missing: bins 00:30 and 00:45 partial/empty
    frames = {"AAAUSDT": holed, "BBBUSDT": bars(n=120, seed=4)}
    ctx = make(frames=frames, now=T0 + pd.Timedelta(minutes=120))
    one = ctx.get_history("AAAUSDT", 200)
    assert len(one) == 100
    assert not one.index.isin(base.index[30:50]).any()
    five = ctx.get_history("AAAUSDT", 100, frequency="5m")
    assert len(five) == 20  # 24 bins minus the four empty ones
    assert (T0 + pd.Timedelta(minutes=35)) not in five.index
    both = ctx.get_history(["AAAUSDT", "BBBUSDT"], 200)
    assert len(both) == 120  # BBB has every bar; AAA is NaN in the hole
    assert both["AAAUSDT"].isna().sum() == 20


def test_window_before_the_data_starts_returns_what_exists(make):
    ctx = make(now=T0 + pd.Timedelta(minutes=3))
    assert len(ctx.get_history("AAAUSDT", 100)) == 3
    assert len(make(now=T0).get_history("AAAUSDT", 5)) == 0


def test_current_values(make):
    ctx = make()
    assert ctx.current("AAAUSDT") == FRAMES["AAAUSDT"]["close"].iloc[299]
    both = ctx.current(["AAAUSDT", "BBBUSDT"])
    assert list(both.index) == ["AAAUSDT", "BBBUSDT"]
    table = ctx.current(["AAAUSDT", "BBBUSDT"], ["open", "close"])
    assert table.loc["BBBUSDT", "open"] == FRAMES["BBBUSDT"]["open"].iloc[299]


def test_current_price_carries_over_a_hole():
    base = bars(n=60, seed=5)
    holed = base.drop(base.index[50:55])
    ctx = Context(
        BarArrays.from_frames({"AAAUSDT": holed}, "1m"), now=T0 + pd.Timedelta(minutes=53)
    )
    assert np.isnan(ctx.current("AAAUSDT", "close"))
    assert ctx.current("AAAUSDT", "price") == base["close"].iloc[49]


def test_bad_arguments_name_the_rule(make):
    ctx = make()
    with pytest.raises(
        ValueError, match="field must be one of open, high, low, close, volume, was 'vwap'"
    ):
        ctx.get_history("AAAUSDT", 3, fields="vwap")
    with pytest.raises(ValueError, match="timeframe must be one of"):
        ctx.get_history("AAAUSDT", 3, frequency="1M")
    with pytest.raises(ValueError, match="window must be an integer >= 0, was -1"):
        ctx.get_history("AAAUSDT", -1)
    with pytest.raises(ValueError, match="mode must be one of backtest, paper, live, was 'x'"):
        Context(BarArrays.from_frames(FRAMES, "1m"), mode="x")


def test_portfolio_is_built_lazily_and_state_config_persist():
    calls = []

    def view():
        calls.append(1)
        return Portfolio(balance=1)

    state = {"n": 1}
    ctx = Context(BarArrays.from_frames(FRAMES, "1m"), portfolio=view, config={"k": 2}, state=state)
    assert calls == []
    assert ctx.portfolio.balance == 1
    assert ctx.portfolio.balance == 1
    assert calls == [1]
    ctx.state["n"] += 1
    assert state["n"] == 2
    assert ctx.config["k"] == 2
    assert ctx.mode == "backtest"


def test_history_is_a_copy_the_strategy_may_change():
    arrays = BarArrays.from_frames(FRAMES, "1m")
    ctx = Context(arrays, now=T0 + pd.Timedelta(minutes=10))
    frame = ctx.get_history(["AAAUSDT", "BBBUSDT"], 5)
    frame.iloc[:, :] = 0.0
    assert ctx.get_history(["AAAUSDT", "BBBUSDT"], 5).iloc[-1, 0] != 0.0


@pytest.mark.shared_data
def test_adabtc_hole_yields_no_resampled_bars(shared_data):
    raw = pd.read_csv(shared_data / "ohlcv/spot/ADABTC_5m.csv.gz")
    raw.index = pd.to_datetime(raw.pop("timestamp"), unit="ms", utc=True)
    raw.index.name = "timestamp"
    arrays = BarArrays.from_frames({"ADABTC": raw}, "5m")
    end = raw.index[-1] + pd.Timedelta(minutes=5)
    ctx = Context(arrays, now=end, base_timeframe="5m")
    five = ctx.get_history("ADABTC", 10_000, frequency="5m")
    assert len(five) == len(raw) == 5720
    assert five.index.equals(raw.index)
    hourly = ctx.get_history("ADABTC", 10_000, frequency="1h")
    expected = raw["close"].resample("1h").last().dropna()
    expected = expected[expected.index + pd.Timedelta(hours=1) <= end]
    assert hourly.index.equals(expected.index)
    assert np.allclose(hourly.to_numpy(), expected.to_numpy())
    gaps = np.diff(five.index.as_unit("ns").asi8) // (300 * 10**9)
    assert gaps.max() == 34  # the 33-bar hole is still there, not filled in


def test_the_universe_is_the_sources_symbols_unless_given():
    from aifap.data.synthetic import SyntheticMarket

    market = SyntheticMarket(["BTCUSDT", "ETHUSDT"], days=1)
    assert Context(market).universe == ["BTCUSDT", "ETHUSDT"]
    assert Context(market, universe=["ETHUSDT"]).universe == ["ETHUSDT"]


def test_example_strategies_trade_the_universe_unless_the_config_names_symbols(tmp_path):
    import aifap
    from aifap.data.synthetic import SyntheticMarket

    # no config 'symbols': they trade what the data has
    market = SyntheticMarket(["LINKUSDT", "ATOMUSDT", "NEARUSDT", "APTUSDT"], days=2)
    for name in ("momentum", "equal_weight_vol_filter", "long_short"):
        path = Path(__file__).resolve().parents[2] / "strategies" / f"{name}.py"
        result = aifap.backtest(str(path), market, rebalance_every="1h", progress=False)
        traded = set(result.transactions["symbol"]) if len(result.transactions) else set()
        assert traded <= {"LINKUSDT", "ATOMUSDT", "NEARUSDT", "APTUSDT"}, name
        assert traded, f"{name} never traded on the universe"
        chosen = {"LINKUSDT", "ATOMUSDT", "NEARUSDT"}
        result = aifap.backtest(
            str(path),
            market,
            rebalance_every="1h",
            progress=False,
            config={"symbols": sorted(chosen)},
        )
        assert set(result.transactions["symbol"]) <= chosen, name


def test_history_frames_hold_only_complete_rows_and_are_plain_frames():
    arrays = BarArrays.from_frames(FRAMES, "1m")
    ctx = Context(arrays, now=T0 + pd.Timedelta(minutes=10))
    frame = ctx.get_history(["AAAUSDT", "BBBUSDT"], 5)
    values = frame.to_numpy()
    assert not np.shares_memory(values, arrays.fields["close"])  # no later bar reachable
    expected = pd.DataFrame(
        arrays.fields["close"][5:10], index=arrays.index[5:10], columns=["AAAUSDT", "BBBUSDT"]
    )
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame._mgr.nblocks == expected._mgr.nblocks == 1
    # laid out as the constructor lays out a 2-D array: same speed for the strategy's math
    assert frame._mgr.blocks[0].values.flags.c_contiguous
    assert expected._mgr.blocks[0].values.flags.c_contiguous


def test_a_repeated_history_request_follows_a_changed_list():
    ctx = Context(BarArrays.from_frames(FRAMES, "1m"), now=T0 + pd.Timedelta(minutes=10))
    assets = ["AAAUSDT", "BBBUSDT"]
    assert list(ctx.get_history(assets, 3).columns) == ["AAAUSDT", "BBBUSDT"]
    assets.reverse()
    assert list(ctx.get_history(assets, 3).columns) == ["BBBUSDT", "AAAUSDT"]
    assert isinstance(ctx.get_history("AAAUSDT", 3), pd.Series)
    assert list(ctx.get_history(("AAAUSDT",), 3).columns) == ["AAAUSDT"]
    assert list(ctx.get_history(("AAAUSDT",), 3, fields=["close"]).columns) == [
        ("close", "AAAUSDT")
    ]
    assert len(ctx.get_history(["AAAUSDT"], 3, frequency="5m")) == 2
    with pytest.raises(ValueError, match="window must be an integer >= 0, was True"):
        ctx.get_history(["AAAUSDT"], True)
    with pytest.raises(ValueError, match="asset must be one of the data's symbols, was 'X'"):
        ctx.get_history(["AAAUSDT", "X"], 3)


def test_bar_fields_are_built_when_first_read_and_hold_every_bar():
    late = bars(n=300, start=T0 + pd.Timedelta(minutes=200), seed=3)
    holed = bars(seed=4).drop(index=[T0 + pd.Timedelta(minutes=m) for m in (7, 8, 400)])
    frames = {**FRAMES, "LATEUSDT": late, "HOLEUSDT": holed}
    arrays = BarArrays.from_frames(frames, "1m")
    assert arrays.length == 600
    assert list(arrays.fields) == ["open", "high", "low", "close", "volume"]
    assert arrays.fields._built == {}  # nothing built before a field is read
    for name in ("close", "volume"):
        values = arrays.fields[name]
        assert arrays.fields[name] is values  # built once
        for col, (symbol, frame) in enumerate(frames.items()):
            expected = frame[name].reindex(arrays.index).to_numpy()
            np.testing.assert_array_equal(values[:, col], expected, err_msg=symbol)
    assert set(arrays.fields._built) == {"close", "volume"}
    with pytest.raises(KeyError):
        arrays.fields["vwap"]
