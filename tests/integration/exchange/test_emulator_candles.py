"""The candle side of the Bitget emulator, driven by the real ``ccxt.bitget.fetch_ohlcv``."""

from __future__ import annotations

import ccxt
import numpy as np
import pandas as pd
import pytest

from aifap.exchange.emulator import ManualClock

DAY = pd.Timestamp("2024-02-29T00:00:00Z")
NOW = "2024-03-01T00:00:30+00:00"  # the 00:00 bar is still open
HOLES = [DAY + pd.Timedelta(minutes=600 + i) for i in range(5)]  # 10:00..10:04 missing


def minute_bars(start: pd.Timestamp, periods: int, first: float = 100.0) -> pd.DataFrame:
    index = pd.date_range(start, periods=periods, freq="1min", name="timestamp")
    close = first + np.arange(periods) * 0.01
    return pd.DataFrame(
        {
            "open": close - 0.005,
            "high": close + 0.02,
            "low": close - 0.02,
            "close": close,
            "volume": np.ones(periods),
        },
        index=index,
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return minute_bars(DAY, 1440 + 10)  # runs 10 minutes past the clock


@pytest.fixture
def candle_emulator(make_emulator, frame):
    return make_emulator(bars={"BTCUSDT": frame}, holes={"BTCUSDT": HOLES}, clock=ManualClock(NOW))


@pytest.fixture
def public(candle_emulator, bitget_for):
    exchange = bitget_for(candle_emulator, credentials=False)
    exchange.load_markets()
    return exchange


def ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def test_load_markets_lists_spot_and_perpetuals(public):
    assert {"BTC/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(public.markets)
    swap = public.market("BTC/USDT:USDT")
    assert swap["linear"]
    assert swap["precision"]["amount"] == 0.001
    assert swap["limits"]["leverage"]["max"] == 125


def test_recent_candles_never_include_the_open_bar(public):
    candles = public.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=5)
    assert [c[0] for c in candles] == [ms(DAY + pd.Timedelta(minutes=m)) for m in range(1435, 1440)]


def test_paging_with_since_returns_every_bar_but_the_holes(public, candle_emulator, frame):
    since, seen = ms(DAY), []
    while True:
        page = public.fetch_ohlcv("BTC/USDT:USDT", "1m", since=since, limit=200)
        if not page:
            break
        seen += page
        since = page[-1][0] + 60_000
    expected = [
        ms(t)
        for t in frame.index
        if t < pd.Timestamp(NOW) - pd.Timedelta(seconds=30) and t not in HOLES
    ]
    assert [c[0] for c in seen] == expected
    assert seen[0][1:] == pytest.approx(frame.iloc[0].tolist())
    paths = {r.path for r in candle_emulator.request_log.records() if "candles" in r.path}
    assert paths == {"/api/v2/mix/market/history-candles"}  # since is older than 30 days


def test_hourly_candles_aggregate_the_minutes(public, frame):
    candles = public.fetch_ohlcv("BTC/USDT:USDT", "1h", since=ms(DAY), limit=24)
    assert len(candles) == 24
    first = frame.iloc[:60]
    assert candles[0] == pytest.approx(
        [ms(DAY), first.open.iloc[0], first.high.max(), first.low.min(), first.close.iloc[-1], 60.0]
    )
    assert candles[10][5] == 55.0  # the hour with the five missing minutes


def test_spot_candles_use_the_spot_granularity(public, candle_emulator):
    candles = public.fetch_ohlcv("BTC/USDT", "5m", limit=3)
    assert [c[0] for c in candles] == [
        ms(DAY + pd.Timedelta(minutes=m)) for m in (1425, 1430, 1435)
    ]
    record = candle_emulator.request_log.records("/api/v2/spot/market/candles")[-1]
    assert record.params["granularity"] == "5min"


def test_holes_added_at_runtime_disappear(public, candle_emulator):
    last = DAY + pd.Timedelta(minutes=1439)
    candle_emulator.feed.add_holes("BTCUSDT", [last])
    candles = public.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)
    assert [c[0] for c in candles] == [ms(last - pd.Timedelta(minutes=1))]


def test_clock_moves_the_last_complete_bar(public, candle_emulator, frame):
    candle_emulator.clock.advance(120)  # 00:02:30: 00:00 and 00:01 are complete
    candles = public.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)
    assert [c[0] for c in candles] == [ms(DAY + pd.Timedelta(minutes=m)) for m in (1440, 1441)]


def test_callable_provider_is_asked_for_the_window(make_emulator, bitget_for, frame):
    asked = []

    def provider(symbol, start, end):
        asked.append((symbol, start, end))
        return frame.loc[(frame.index >= start) & (frame.index < end)]

    emu = make_emulator(bars=provider, clock=ManualClock(NOW))
    exchange = bitget_for(emu, credentials=False)
    candles = exchange.fetch_ohlcv("ETH/USDT:USDT", "1m", limit=3)
    assert len(candles) == 3
    assert asked[-1][0] == "ETHUSDT"


def test_rate_limit_then_success(public, candle_emulator):
    candle_emulator.faults.fail_next("rate_limit", 1, path="/api/v2/mix/market/*")
    with pytest.raises(ccxt.DDoSProtection):  # ccxt maps Bitget's code "429" body this way
        public.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)
    assert len(public.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)) == 2
    statuses = [r.status for r in candle_emulator.request_log.records("/api/v2/mix/market/candles")]
    assert statuses == [429, 200]


def test_server_error_and_timeout_are_network_errors(candle_emulator, bitget_for):
    exchange = bitget_for(candle_emulator, credentials=False, timeout_ms=300)
    exchange.load_markets()
    candle_emulator.faults.fail_next(
        "server_error", 1, path="/api/v2/mix/market/candles", status=502
    )
    candle_emulator.faults.fail_next("timeout", 1, path="/api/v2/mix/market/candles")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        exchange.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)
    assert len(exchange.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)) == 2
    faults = [r.fault for r in candle_emulator.request_log.records("/api/v2/mix/market/candles")]
    assert faults == ["server_error", "timeout", None]
