"""The collector end to end: real ``ccxt.bitget`` → the local Bitget emulator → the store.

Only ccxt's ``urls['api']`` is overridden (and ``options.uta=False``), both done by
``make_exchange``: ``load_markets`` and every candle and funding call go over HTTP.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aifap.cli import app
from aifap.core.markets import MarketType
from aifap.data.collector import collect
from aifap.data.gaps import gap_reports
from aifap.data.locks import data_lock
from aifap.data.reads import fingerprint
from aifap.data.series import ensure_schema
from aifap.data.store import StoreBarSource
from aifap.exchange.ccxt.market_data import PublicMarketData
from aifap.exchange.emulator import DEFAULT_MARKETS, BitgetEmulator, ManualClock, SyntheticBars
from aifap.retry import RetryPolicy

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = "2026-01-02T00:00:30Z"  # the 00:00 bar is still open: never stored
CANDLES = "/api/v2/mix/market/history-candles"  # since is > 30 days before the wall clock
HOLE = [f"2026-01-01T12:0{i}:00Z" for i in range(5)]
FAST = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05, jitter=0.01)


class RepeatOnePage:
    """The emulator's bar provider, sending every candle of one page twice (once)."""

    def __init__(self, page: int = 0) -> None:
        self.bars = SyntheticBars({m.symbol: float(m.fallback_price) for m in DEFAULT_MARKETS})
        self.calls = 0
        self.page = page

    def __call__(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = self.bars(symbol, start, end)
        self.calls += 1
        return pd.concat([frame, frame]) if self.calls == self.page else frame


@pytest.fixture
def provider():
    return RepeatOnePage()


@pytest.fixture
def emulator(provider):
    with BitgetEmulator(provider, clock=ManualClock(NOW),
                        funding_history_start="2025-12-01") as emu:
        yield emu


def client(emu: BitgetEmulator) -> PublicMarketData:
    return PublicMarketData("bitget", MarketType.FUTURES, api_url=emu.url, timeout_ms=1000,
                            policy=FAST)


def run(url: str, emu: BitgetEmulator, **kwargs):
    options = {"exchange": "bitget", "market": "futures", "symbols": ["BTCUSDT", "ETHUSDT"],
               "since": SINCE, "progress": False}
    return collect(url, client=client(emu), **{**options, **kwargs})


def expected_bars(emu: BitgetEmulator, symbol: str) -> pd.DataFrame:
    start, stop = int(SINCE.timestamp() * 1000), emu.now_ms() // 60_000 * 60_000
    emu.feed.clear_holes()
    ts, values = emu.feed.base_bars(symbol, start, stop)
    index = pd.DatetimeIndex(ts * 1_000_000, dtype="datetime64[ns, UTC]", name="timestamp")
    return pd.DataFrame(values, index=index, columns=["open", "high", "low", "close", "volume"])


def test_collector_builds_a_complete_duplicate_free_series_through_faults(
    db_url, emulator, provider
):
    provider.page = 3  # the third candle page comes back with every row twice
    emulator.feed.add_holes("BTCUSDT", HOLE)
    emulator.faults.fail_next("rate_limit", 1, path=CANDLES)
    emulator.faults.fail_next("timeout", 1, path=CANDLES, hold_seconds=3)
    first = run(db_url, emulator)
    assert first.ok
    btc = first.results[0]
    # the repeated page answered 200 rows for 200 minutes: half of them twice, the rest
    # missing, and asked for again at once; the hole stays empty this run
    assert (btc.new_bars + btc.backfilled, btc.missing) == (1440 - 5, 5)
    assert btc.backfilled == 100
    faults = {r.fault for r in emulator.request_log.records(CANDLES)}
    assert {"rate_limit", "timeout"} <= faults

    # the exchange has the bars now: the next run finds the gap and backfills it, and a
    # run asked to start over re-sends pages already stored (duplicates) without harm
    emulator.feed.clear_holes()
    second = run(db_url, emulator)
    assert (second.results[0].backfilled, second.results[0].missing) == (5, 0)
    with ensure_schema(db_url).connect() as conn:
        before = fingerprint(conn)
    third = run(db_url, emulator, since=SINCE)
    with ensure_schema(db_url).connect() as conn:
        assert fingerprint(conn) == before
    assert third.ok

    source = StoreBarSource(db_url, exchange="bitget", market="futures")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        got = source.bars(symbol)
        assert got.index.is_unique
        assert got.index.is_monotonic_increasing
        pd.testing.assert_frame_equal(got, expected_bars(emulator, symbol), check_freq=False)
        assert got.index[-1] == pd.Timestamp("2026-01-01 23:59", tz="UTC")
    assert [r.missing for r in gap_reports(db_url)] == [0, 0]
    assert len(source.funding("BTCUSDT")) > 0


def test_collector_resumes_from_the_last_stored_bar(db_url, emulator):
    run(db_url, emulator)
    emulator.request_log.clear()
    emulator.set_time("2026-01-02T00:10:05Z")
    report = run(db_url, emulator, since=None)
    assert [r.new_bars for r in report.results] == [10, 10]
    starts = {int(r.params["startTime"]) for r in emulator.request_log.records(CANDLES)}
    assert min(starts) >= int(pd.Timestamp("2026-01-01T23:59Z").value // 1_000_000)


def test_minutes_confirmed_empty_are_reported_and_not_asked_for_again(db_url, emulator):
    scattered = ["2026-01-01T12:10:00Z", "2026-01-01T12:20:00Z", "2026-01-01T14:00:00Z"]
    emulator.feed.add_holes("BTCUSDT", HOLE + scattered)
    first = run(db_url, emulator, symbols=["BTCUSDT"], funding=False)
    assert first.results[0].requests == 8 + 1  # 1440 bars in pages of 200; one for all holes
    (report,) = gap_reports(db_url)
    assert (report.missing, report.confirmed_empty) == (8, 0)  # seen empty once: not yet
    run(db_url, emulator, symbols=["BTCUSDT"], funding=False)
    (report,) = gap_reports(db_url)
    assert (report.missing, report.confirmed_empty) == (0, 8)
    emulator.request_log.clear()
    third = run(db_url, emulator, symbols=["BTCUSDT"], funding=False, since=None)
    assert third.results[0].requests == 0  # nothing new, and the hole is not asked again
    assert emulator.request_log.records(CANDLES) == []


def test_overlapping_runs_leave_the_second_one_skipping(db_url, emulator):
    gate = emulator.faults.gate(CANDLES, hold_seconds=120)  # the first run waits for it
    results = {}

    def first_run():
        results["first"] = run(db_url, emulator, symbols=["BTCUSDT"], funding=False)

    worker = threading.Thread(target=first_run)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not emulator.request_log.records(CANDLES) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert emulator.request_log.records(CANDLES), "the first run never asked for candles"
        second = run(db_url, emulator, symbols=["BTCUSDT"], funding=False)
    finally:
        gate.open()
        worker.join(60)
    assert second.skipped
    assert "another collector run holds the lock" in second.skipped
    assert second.results == []
    assert results["first"].ok
    assert results["first"].results[0].new_bars == 1440
    with data_lock(ensure_schema(db_url), "collect:bitget:futures:1m") as lock:
        assert lock.acquired  # released by the first run


def test_cli_collect_exits_zero_and_says_so_when_another_run_holds_the_lock(db_url, emulator):
    runner = CliRunner()
    args = ["data", "collect", "--exchange", "bitget", "--market", "futures", "--symbols",
            "BTCUSDT", "--since", "2026-01-01T23:00:00", "--api-url", emulator.url,
            "--database", db_url, "--no-funding"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "BTCUSDT" in result.output
    assert len(StoreBarSource(db_url).bars("BTCUSDT")) == 60
    with data_lock(ensure_schema(db_url), "collect:bitget:futures:1m") as lock:
        assert lock.acquired
        held = runner.invoke(app, args)
    assert held.exit_code == 0
    assert "another collector run holds the lock" in held.output


def test_cli_collect_fails_clearly_when_the_exchange_is_unreachable(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(app, [
        "data", "collect", "--symbols", "BTCUSDT", "--api-url", f"http://127.0.0.1:{port}",
        "--database", f"sqlite:///{tmp_path / 'm.db'}"])
    assert result.exit_code != 0
    assert "failed after 3 attempts" in str(result.exception)


def test_cli_collect_fails_clearly_when_the_database_is_unreachable():
    from aifap.core.errors import DataError

    result = CliRunner().invoke(app, [
        "data", "collect", "--symbols", "BTCUSDT", "--api-url", "http://127.0.0.1:9",
        "--database", "postgresql://postgres:secret@127.0.0.1:9/market"])
    assert isinstance(result.exception, DataError)
    message = str(result.exception)
    assert "is unreachable after retries" in message
    assert "secret" not in message


def test_unlisted_symbol_is_an_error_for_that_symbol_only(db_url, emulator):
    report = run(db_url, emulator, symbols=["NOPEUSDT", "BTCUSDT"], funding=False)
    assert not report.ok
    assert report.results[0].error == "NOPEUSDT: symbol must be listed on bitget futures, was not"
    assert report.results[1].new_bars == 1440
    assert np.isfinite(StoreBarSource(db_url).bars("BTCUSDT").to_numpy()).all()
