"""The in-memory bar source: base bars, epoch-aligned resampling, holes, completeness."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from aifap.core.bars import BarSource
from aifap.core.errors import DataError
from aifap.core.markets import MarketType
from aifap.data.files import read_bar_file, read_funding_file
from aifap.data.frames import FrameBarSource, default_market, resample_bars


def minute_bars(start: str, n: int, *, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="1min", tz="UTC", name="timestamp")
    close = 100 + np.arange(n, dtype=float)
    frame = pd.DataFrame(
        {
            "open": close - 0.5,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.ones(n),
        },
        index=index,
    )
    return frame.drop(index[list(drop)])


def test_source_implements_the_bar_source_protocol():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 10)})
    assert isinstance(source, BarSource)
    assert source.symbols() == ["BTCUSDT"]
    assert source.base_timeframe("BTCUSDT") == "1m"


def test_resampled_bars_aggregate_ohlcv_on_epoch_boundaries():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01 00:03", 12)})  # 00:03..00:14
    bars = source.bars("BTCUSDT", "5m")
    # 00:00 holds 00:03-00:04 (2 bars), 00:05 holds 00:05-00:09; 00:10-00:14 is whole too
    assert bars.index.strftime("%H:%M").tolist() == ["00:00", "00:05", "00:10"]
    first = bars.iloc[1]
    assert first.to_dict() == {
        "open": 101.5,
        "high": 107.0,
        "low": 101.0,
        "close": 106.0,
        "volume": 5.0,
    }


def test_only_bars_complete_at_end_are_returned():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 30)})
    at = pd.Timestamp("2024-01-01 00:14", tz="UTC")
    five = source.bars("BTCUSDT", "5m", end=at)
    assert five.index[-1] == pd.Timestamp("2024-01-01 00:05", tz="UTC")  # 00:10 closes 00:15
    one = source.bars("BTCUSDT", "1m", end=at)
    assert one.index[-1] == pd.Timestamp("2024-01-01 00:13", tz="UTC")
    assert source.bars("BTCUSDT", "5m", end=at + pd.Timedelta(minutes=1)).index[-1] == (
        pd.Timestamp("2024-01-01 00:10", tz="UTC")
    )


def test_last_partial_period_of_the_data_is_not_a_bar():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 13)})  # ends 00:12
    assert source.bars("BTCUSDT", "5m").index.strftime("%H:%M").tolist() == ["00:00", "00:05"]


def test_start_and_limit_bound_the_bars():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 60)})
    bars = source.bars("BTCUSDT", "1m", start="2024-01-01 00:10", end="2024-01-01 00:30", limit=5)
    assert bars.index.strftime("%H:%M").tolist() == ["00:25", "00:26", "00:27", "00:28", "00:29"]
    assert len(source.bars("BTCUSDT", "1m", start="2024-01-01 00:50")) == 10
    assert source.bars("BTCUSDT", "1h", end="2024-01-01 00:30").empty


def test_a_whole_missing_period_yields_no_bar():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 20, drop=tuple(range(5, 10)))})
    assert source.bars("BTCUSDT", "5m").index.strftime("%H:%M").tolist() == [
        "00:00",
        "00:10",
        "00:15",
    ]


@pytest.mark.shared_data
def test_adabtc_hole_of_33_bars_invents_no_bars(shared_data):
    frame = read_bar_file(shared_data / "ohlcv" / "spot" / "ADABTC_5m.csv.gz").frame
    source = FrameBarSource({"ADABTC": frame}, market="spot")
    assert source.base_timeframe("ADABTC") == "5m"
    gap = np.diff(frame.index.asi8).argmax()
    before, after = frame.index[gap], frame.index[gap + 1]
    assert (after - before) == pd.Timedelta(minutes=5 * 34)
    for timeframe in ("15m", "1h"):
        bars = source.bars("ADABTC", timeframe)
        inside = bars.index[
            (bars.index > before)
            & (bars.index + pd.Timedelta(timeframe.replace("m", "min")) <= after)
        ]
        assert inside.empty, timeframe
        # every resampled bar is made of base bars in its own period
        step = pd.Timedelta(timeframe.replace("m", "min"))
        buckets = frame.index.floor(step)
        assert set(bars.index) <= set(buckets)
        assert bars["volume"].sum() <= frame["volume"].sum()
    hourly = source.bars("ADABTC", "1h")
    assert len(hourly) == frame.index.floor("1h").nunique() - 1  # the partial last hour


@pytest.mark.shared_data
def test_stored_coarser_file_is_served_as_is(shared_data):
    futures = shared_data / "ohlcv" / "futures"
    five = read_bar_file(futures / "XRPUSDT_5m.csv.gz").frame
    hour = read_bar_file(futures / "XRPUSDT_1h.csv.gz").frame
    source = FrameBarSource({"XRPUSDT": {"5m": five, "1h": hour}})
    assert source.timeframes("XRPUSDT") == ["5m", "1h"]
    pd.testing.assert_frame_equal(source.bars("XRPUSDT", "1h"), hour)
    assert len(source.bars("XRPUSDT", "15m")) == len(resample_bars(five, "5m", "15m"))
    with pytest.raises(DataError, match="XRPUSDT: timeframe must be a multiple of a stored"):
        source.bars("XRPUSDT", "1m")


@pytest.mark.shared_data
def test_funding_between_start_and_end(shared_data):
    futures = shared_data / "ohlcv" / "futures"
    rates = read_funding_file(futures / "XRPUSDT_funding.csv.gz").rates
    source = FrameBarSource(
        {"XRPUSDT": read_bar_file(futures / "XRPUSDT_5m.csv.gz").frame}, funding={"XRPUSDT": rates}
    )
    window = source.funding("XRPUSDT", start="2021-11-18", end="2021-11-19")
    assert window.index.strftime("%H").tolist() == ["00", "08", "16", "00"]
    assert source.funding("NOPE").empty


def test_frames_may_come_with_a_timestamp_column_in_ms():
    frame = minute_bars("2024-01-01", 3).reset_index()
    frame["timestamp"] = frame["timestamp"].dt.as_unit("ms").astype("int64")
    source = FrameBarSource({"ETHUSDT": frame})
    assert source.bars("ETHUSDT").index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_bad_frame_names_symbol_time_and_rule():
    frame = minute_bars("2024-01-01", 3)
    frame.iloc[1, frame.columns.get_loc("high")] = 50.0
    with pytest.raises(DataError, match=r"SOLUSDT: bar at 2024-01-01T00:01:00\+00:00: high must"):
        FrameBarSource({"SOLUSDT": frame})


def test_unknown_symbol_lists_the_known_ones():
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 3)})
    with pytest.raises(DataError, match="symbol must be one of BTCUSDT, was 'ETHUSDT'"):
        source.bars("ETHUSDT")


def test_default_market_specs_are_permissive():
    spec = default_market("ADABTC", "spot")
    assert (spec.base, spec.quote, spec.market_type) == ("ADA", "BTC", MarketType.SPOT)
    assert spec.min_notional == 0
    assert spec.amount_step == Decimal("1e-8")
    assert spec.max_leverage == 1
    assert default_market("BTCUSDT").max_leverage == 125
    source = FrameBarSource({"BTCUSDT": minute_bars("2024-01-01", 3)}, market="futures")
    assert source.markets()["BTCUSDT"].is_futures
