"""The OHLCV store on SQLite and PostgreSQL: writes, idempotent re-ingest, reads, resampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aifap.core.bars import BAR_COLUMNS, BarSource
from aifap.core.errors import DataError
from aifap.data.frames import FrameBarSource
from aifap.data.reads import fingerprint
from aifap.data.series import SeriesKey, ensure_schema
from aifap.data.store import StoreBarSource
from aifap.data.writers import write_bars, write_funding

KEY = SeriesKey("bitget", "futures", "BTCUSDT", "1m")


def make_bars(start: str, minutes: int, *, step: str = "1min", seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=minutes, freq=step, tz="UTC", name="timestamp")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, minutes)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    volume = rng.uniform(1, 10, minutes)
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=index.as_unit("ns"),
    )


def store(url: str, frame: pd.DataFrame, key: SeriesKey = KEY):
    with ensure_schema(url).begin() as conn:
        return write_bars(conn, key, frame)


def snapshot(url: str) -> tuple[int, str]:
    with ensure_schema(url).connect() as conn:
        return fingerprint(conn)


def test_bars_round_trip_with_dtypes_and_utc_index(db_url):
    frame = make_bars("2026-01-01", 500)
    result = store(db_url, frame)
    assert (result.rows, result.written) == (500, 500)
    got = StoreBarSource(db_url, exchange="bitget", market="futures").bars("BTCUSDT")
    pd.testing.assert_frame_equal(got, frame, check_freq=False)
    assert str(got.index.tz) == "UTC"
    assert got.index.name == "timestamp"
    assert list(got.dtypes) == [np.dtype("float64")] * 5


def test_reingest_leaves_count_and_checksum_unchanged(db_url):
    frame = make_bars("2026-01-01", 2000)
    store(db_url, frame)
    before = snapshot(db_url)
    again = store(db_url, frame)
    part = store(db_url, frame.iloc[100:900])
    assert again.written == 0
    assert part.written == 0
    assert snapshot(db_url) == before
    assert before[0] == 2000


def test_overlapping_write_adds_new_bars_and_updates_changed_ones(db_url):
    frame = make_bars("2026-01-01", 300)
    store(db_url, frame.iloc[:200])
    changed = frame.iloc[100:300].copy()
    changed.iloc[0, changed.columns.get_loc("volume")] = 123.0
    result = store(db_url, changed)
    assert result.written == 101  # 100 new bars + 1 changed
    got = StoreBarSource(db_url).bars("BTCUSDT")
    assert len(got) == 300
    assert got["volume"].iloc[100] == 123.0


def test_repeated_times_in_one_write_keep_the_last_row(db_url):
    frame = make_bars("2026-01-01", 10)
    repeat = frame.iloc[[3]].copy()
    repeat["volume"] = 77.0
    result = store(db_url, pd.concat([frame, repeat]))
    assert result.rows == 10
    got = StoreBarSource(db_url).bars("BTCUSDT")
    assert len(got) == 10
    assert got["volume"].iloc[3] == 77.0


def test_start_end_and_limit_return_only_complete_bars(db_url):
    frame = make_bars("2026-01-01", 120)
    store(db_url, frame)
    source = StoreBarSource(db_url)
    end = pd.Timestamp("2026-01-01 01:00:30", tz="UTC")
    got = source.bars("BTCUSDT", "1m", start="2026-01-01 00:10", end=end)
    assert got.index[0] == pd.Timestamp("2026-01-01 00:10", tz="UTC")
    assert got.index[-1] == pd.Timestamp("2026-01-01 00:59", tz="UTC")  # 01:00 closes at 01:01
    last = source.bars("BTCUSDT", "1m", end=end, limit=5)
    pd.testing.assert_frame_equal(last, got.iloc[-5:], check_freq=False)


@pytest.mark.parametrize("timeframe", ["5m", "15m", "1h"])
def test_resampled_reads_match_the_in_memory_source(db_url, timeframe):
    frame = make_bars("2026-01-01 00:03", 600)
    frame = frame.drop(frame.index[200:260])  # a one-hour hole
    store(db_url, frame)
    expected = FrameBarSource({"BTCUSDT": frame})
    source = StoreBarSource(db_url)
    for kwargs in (
        {},
        {"limit": 7},
        {"end": "2026-01-01 05:07"},
        {"start": "2026-01-01 02:00"},
        {"end": "2026-01-01 04:30", "limit": 3},
    ):
        got = source.bars("BTCUSDT", timeframe, **kwargs)
        want = expected.bars("BTCUSDT", timeframe, **kwargs)
        pd.testing.assert_frame_equal(got, want, check_freq=False)


def test_resampling_invents_no_bar_in_a_hole(db_url):
    frame = make_bars("2026-01-01", 180)
    frame = frame.drop(frame.index[60:120])
    store(db_url, frame)
    hourly = StoreBarSource(db_url).bars("BTCUSDT", "1h")
    assert list(hourly.index.hour) == [0, 2]
    assert hourly["volume"].iloc[1] == pytest.approx(frame["volume"].iloc[60:].sum())


def test_limit_on_resampled_bars_reaches_back_over_holes(db_url):
    frame = make_bars("2026-01-01", 24 * 60)
    frame = frame.drop(frame.index[2 * 60 : 20 * 60])
    store(db_url, frame)
    got = StoreBarSource(db_url).bars("BTCUSDT", "1h", limit=5)
    assert [t.hour for t in got.index] == [1, 20, 21, 22, 23]
    expected = FrameBarSource({"BTCUSDT": frame}).bars("BTCUSDT", "1h", limit=5)
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_last_bars_of_many_symbols_in_one_call(db_url):
    symbols = [f"C{i}USDT" for i in range(20)]
    for i, symbol in enumerate(symbols):
        store(
            db_url,
            make_bars("2026-01-01", 300 + i, seed=i),
            SeriesKey("bitget", "futures", symbol, "1m"),
        )
    source = StoreBarSource(db_url, exchange="bitget", market="futures")
    got = source.last_bars(symbols, "1m", limit=100)
    assert list(got) == symbols
    for symbol in symbols:
        pd.testing.assert_frame_equal(got[symbol], source.bars(symbol, "1m", limit=100))
    end = pd.Timestamp("2026-01-01 02:00", tz="UTC")
    bounded = source.last_bars(symbols[:2], "5m", limit=3, end=end)
    assert bounded[symbols[0]].index[-1] == pd.Timestamp("2026-01-01 01:55", tz="UTC")
    assert len(bounded[symbols[1]]) == 3


def test_funding_round_trip(db_url):
    index = pd.date_range("2026-01-01", periods=6, freq="8h", tz="UTC")
    rates = pd.Series([0.0001, -0.0002, 0.0003, 0.0, 0.0001, 0.0005], index=index)
    with ensure_schema(db_url).begin() as conn:
        write_funding(conn, "bitget", "futures", "BTCUSDT", rates)
        write_funding(conn, "bitget", "futures", "BTCUSDT", rates)
    store(db_url, make_bars("2026-01-01", 10))
    got = StoreBarSource(db_url).funding("BTCUSDT", start=index[1], end=index[4])
    assert got.tolist() == rates.iloc[1:5].tolist()
    assert str(got.index.tz) == "UTC"
    assert got.dtype == np.float64


def test_store_is_a_bar_source(db_url):
    store(db_url, make_bars("2026-01-01", 10))
    source = StoreBarSource(db_url)
    assert isinstance(source, BarSource)
    assert source.symbols() == ["BTCUSDT"]
    assert source.timeframes("BTCUSDT") == ["1m"]
    assert "BTCUSDT" in source.markets()


def test_unknown_symbol_and_finer_timeframe_are_named(db_url):
    store(
        db_url,
        make_bars("2026-01-01", 10, step="5min"),
        SeriesKey("bitget", "futures", "BTCUSDT", "5m"),
    )
    source = StoreBarSource(db_url)
    with pytest.raises(DataError, match="symbol must be stored"):
        source.bars("ETHUSDT")
    with pytest.raises(DataError, match="timeframe must be a multiple"):
        source.bars("BTCUSDT", "1m")


def test_a_symbol_under_two_exchanges_needs_the_exchange(db_url):
    frame = make_bars("2026-01-01", 10)
    store(db_url, frame)
    store(db_url, frame, SeriesKey("binance", "futures", "BTCUSDT", "1m"))
    with pytest.raises(DataError, match="exchange and market must be given"):
        StoreBarSource(db_url).bars("BTCUSDT")
    assert len(StoreBarSource(db_url, exchange="binance").bars("BTCUSDT")) == 10


def test_empty_frame_writes_nothing(db_url):
    result = store(db_url, make_bars("2026-01-01", 0))
    assert result.rows == 0
    assert snapshot(db_url)[0] == 0


def test_series_key_names_the_field():
    with pytest.raises(DataError, match="market must be one of spot, futures, was 'swap'"):
        SeriesKey("bitget", "swap", "BTCUSDT", "1m")
    with pytest.raises(DataError, match="timeframe must be one of"):
        SeriesKey("bitget", "spot", "BTCUSDT", "1M")
    assert list(BAR_COLUMNS) == ["open", "high", "low", "close", "volume"]


@pytest.mark.postgres
def test_psycopg3_driver_copies_and_upserts_too(pg_url):
    url = pg_url.replace("postgresql+psycopg2", "postgresql+psycopg")
    frame = make_bars("2026-01-01", 300)
    assert store(url, frame).method == "copy"
    assert store(url, frame).method == "copy+upsert"
    assert store(url, frame).written == 0
    pd.testing.assert_frame_equal(StoreBarSource(url).bars("BTCUSDT"), frame, check_freq=False)
    from aifap.db import make_engine

    make_engine(url).dispose()
