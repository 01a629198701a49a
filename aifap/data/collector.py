"""The OHLCV collector: one run = one CronJob execution of ``aifap data collect``.

For each symbol it pages through the exchange's candles (``fetch_ohlcv`` via
:class:`aifap.exchange.ccxt.market_data.PublicMarketData`) and writes every page
in its own transaction, so a killed run loses at most a page:

1. **head**: from ``since`` up to the first stored bar, when ``since`` is earlier;
2. **tail**: from the last stored bar (or ``since``, or ``lookback`` ago) up to the
   still-open bar, which is never stored (the exchange's clock decides);
3. **gaps**: every hole between stored bars is asked for again. Bars that arrive are
   stored; a range still empty is recorded, and once two runs found it empty it is
   *confirmed empty*: reported by ``aifap data gaps`` and never asked for again.

Funding rates (futures) are filled from ``fetch_funding_rate_history`` the same way.
Transient exchange errors (timeouts, HTTP 429, unavailability) are retried by
:mod:`aifap.retry`; ccxt's rate limiter spaces the requests. Two runs on
the same exchange, market and timeframe never overlap: the second finds the
database lock (:mod:`aifap.data.locks`) taken and ends at once, successfully.

Example::

    report = collect(url, exchange="bitget", market="futures", symbols=["BTCUSDT"],
                     since=datetime(2026, 1, 1, tzinfo=UTC))
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from tqdm import tqdm

from aifap.core.errors import DataError, GatewayError, RetryExhaustedError
from aifap.core.markets import MarketType
from aifap.core.timeframes import timeframe_ms
from aifap.data import reads
from aifap.data.checks import bar_problems
from aifap.data.gaps import Gap, forget_empty, record_empty, series_gaps
from aifap.data.locks import DataLock, data_lock
from aifap.data.series import SeriesKey, ensure_schema, get_series_id
from aifap.data.store import to_ms
from aifap.data.writers import write_bar_arrays, write_funding
from aifap.liveness import beat
from aifap.redaction import redact_url
from aifap.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(days=1)
MAX_FUNDING_PAGES = 100
FUNDING_INTERVAL_MS = 8 * 3_600_000


class MarketDataClient(Protocol):
    """What the collector needs from an exchange (``PublicMarketData`` implements it)."""

    page_limit: int

    def load_markets(self) -> list[str]:
        """Return the listed compact symbols."""
        ...

    def server_time_ms(self) -> int:
        """Return the exchange's clock."""
        ...

    def candles(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return candles opening in ``[start_ms, end_ms)``."""
        ...

    def funding_page(self, symbol: str, page: int) -> list[tuple[int, float]]:
        """Return one page of funding rates, newest pages first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass
class SymbolResult:
    """What one run did for one symbol."""

    symbol: str
    new_bars: int = 0
    backfilled: int = 0
    requests: int = 0
    missing: int = 0
    funding: int = 0
    error: str | None = None


@dataclass
class CollectReport:
    """The outcome of a run; ``skipped`` says why nothing was done (another run held the lock)."""

    exchange: str
    market: str
    timeframe: str
    results: list[SymbolResult] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """Tell whether every symbol was collected."""
        return all(r.error is None for r in self.results)


def _connect(url: str) -> Engine:
    policy = RetryPolicy(is_transient=lambda exc: isinstance(exc, OperationalError))
    try:
        engine = policy.call(ensure_schema, url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return engine
    except (RetryExhaustedError, OperationalError) as exc:
        cause = exc.__cause__ or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise DataError(
            f"market database {redact_url(url)} is unreachable after retries: {first}"
        ) from exc


def collect(
    url: str,
    *,
    exchange: str,
    market: str,
    symbols: Sequence[str],
    timeframe: str = "1m",
    since: datetime | None = None,
    funding: bool = True,
    lookback: timedelta = DEFAULT_LOOKBACK,
    api_url: str | None = None,
    client: MarketDataClient | None = None,
    progress: bool | None = None,
) -> CollectReport:
    """Collect bars (and funding rates) of ``symbols`` into the market database at ``url``.

    Raises:
        DataError: the database is unreachable after retries.
        RetryExhaustedError: the exchange is unreachable after retries.
    """
    SeriesKey(exchange, market, "CHECK", timeframe)  # validate options before any I/O
    beat()
    report = CollectReport(exchange, market, timeframe)
    engine = _connect(url)
    with data_lock(engine, f"collect:{exchange}:{market}:{timeframe}") as lock:
        if not lock.acquired:
            report.skipped = (
                f"another collector run holds the lock for {exchange}/{market}/{timeframe} "
                f"({lock.holder}); nothing to do"
            )
            log.info("%s", report.skipped)
            return report
        if client is None:
            from aifap.exchange.ccxt.market_data import PublicMarketData

            client = PublicMarketData(exchange, MarketType(market), api_url=api_url)
        run = _Run(
            engine,
            client,
            lock,
            exchange,
            market,
            timeframe,
            since,
            lookback,
            funding,
            sys.stderr.isatty() if progress is None else progress,
        )
        try:
            listed = set(client.load_markets())
            for symbol in symbols:
                report.results.append(run.symbol(symbol.upper(), listed))
        finally:
            client.close()
    return report


class _Run:
    def __init__(
        self,
        engine: Engine,
        client: MarketDataClient,
        lock: DataLock,
        exchange: str,
        market: str,
        timeframe: str,
        since: datetime | None,
        lookback: timedelta,
        funding: bool,
        progress: bool,
    ) -> None:
        self.engine, self.client, self.lock = engine, client, lock
        self.exchange, self.market, self.timeframe = exchange, market, timeframe
        self.step = timeframe_ms(timeframe)
        self.since = None if since is None else to_ms(since)
        self.lookback_ms = int(lookback.total_seconds() * 1000)
        self.funding_wanted = funding and market == MarketType.FUTURES.value
        self.progress = progress

    def symbol(self, symbol: str, listed: set[str]) -> SymbolResult:
        result = SymbolResult(symbol)
        if symbol not in listed:
            result.error = (
                f"{symbol}: symbol must be listed on {self.exchange} {self.market}, was not"
            )
            log.error("%s", result.error)
            return result
        try:
            self._bars(symbol, result)
            if self.funding_wanted:
                result.funding = self._funding(symbol)
        except RetryExhaustedError:
            raise  # the exchange is unreachable: the whole run fails
        except GatewayError as exc:
            result.error = f"{symbol}: {exc}"
            log.error("%s", result.error)
        log.info(
            "%s: %d new bars, %d backfilled, %d still missing, %d requests",
            symbol,
            result.new_bars,
            result.backfilled,
            result.missing,
            result.requests,
        )
        return result

    def _bars(self, symbol: str, result: SymbolResult) -> None:
        step = self.step
        now = self.client.server_time_ms()
        stop = now // step * step  # the open time of the still-open bar: never stored
        key = SeriesKey(self.exchange, self.market, symbol, self.timeframe)
        with self.engine.begin() as conn:
            sid = get_series_id(conn, key)
            first, last = reads.span(conn, sid)
        since = None if self.since is None else -(-self.since // step) * step
        ranges: list[tuple[int, int]] = []
        if first is None or last is None:
            default = (stop - self.lookback_ms) // step * step
            ranges.append((since if since is not None else default, stop))
        else:
            if since is not None and since < first:
                ranges.append((since, first))
            ranges.append((last + step, stop))
        ranges = [(a, b) for a, b in ranges if a < b]
        total = sum((b - a) // step for a, b in ranges)
        with tqdm(
            total=total, desc=symbol, unit="bar", disable=not self.progress, leave=False
        ) as bar:
            for a, b in ranges:
                result.new_bars += self._fetch(symbol, sid, a, b, result, bar)
            with self.engine.connect() as conn:
                gaps = [g for g in series_gaps(conn, sid, self.timeframe) if not g.confirmed_empty]
            windows = self._windows(gaps)
            bar.total = total + sum((w[-1].end - w[0].start) // step for w in windows)
            for window in windows:
                got, missing = self._backfill(symbol, sid, window, result, bar)
                result.backfilled += got
                result.missing += missing

    def _windows(self, gaps: list[Gap]) -> list[list[Gap]]:
        """Group nearby gaps so one request covers several (an illiquid pair has many)."""
        span = self.client.page_limit * self.step
        windows: list[list[Gap]] = []
        for gap in gaps:
            if windows and gap.end - windows[-1][0].start <= span:
                windows[-1].append(gap)
            else:
                windows.append([gap])
        return windows

    def _page(self, symbol: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Fetch one page; drop (and log) candles that break a bar rule: they stay gaps."""
        ts, values = self.client.candles(symbol, self.timeframe, start, end)
        problems = bar_problems(ts, *values.T, step_ms=self.step)
        if not problems:
            return ts, values
        for problem in problems[:5]:
            log.warning("%s: dropped the candle at %d: %s, was %s", symbol,
                        int(ts[problem.row]), problem.rule, problem.value)
        keep = np.ones(len(ts), dtype=bool)
        keep[[p.row for p in problems]] = False
        return ts[keep], values[keep]

    def _fetch(self, symbol: str, sid: int, a: int, b: int, result: SymbolResult, bar: Any) -> int:
        stored = 0
        cursor = a
        while cursor < b:
            end = min(b, cursor + self.client.page_limit * self.step)
            ts, values = self._page(symbol, cursor, end)
            result.requests += 1
            if len(ts):
                with self.engine.begin() as conn:
                    stored += write_bar_arrays(conn, sid, ts, values).written
            self.lock.renew()
            beat()
            bar.update((end - cursor) // self.step)
            cursor = end
        return stored

    def _backfill(
        self, symbol: str, sid: int, gaps: list[Gap], result: SymbolResult, bar: Any
    ) -> tuple[int, int]:
        """Ask for holes again; record what is still empty; return (stored, still missing)."""
        a, b = gaps[0].start, gaps[-1].end
        got: list[np.ndarray] = []
        cursor = a
        while cursor < b:
            end = min(b, cursor + self.client.page_limit * self.step)
            ts, values = self._page(symbol, cursor, end)
            result.requests += 1
            with self.engine.begin() as conn:
                write_bar_arrays(conn, sid, ts, values)
            got.append(ts)
            self.lock.renew()
            beat()
            bar.update((end - cursor) // self.step)
            cursor = end
        found = np.unique(np.concatenate(got)) if got else np.empty(0, dtype=np.int64)
        expected = np.concatenate(
            [np.arange(g.start, g.end, self.step, dtype=np.int64) for g in gaps]
        )
        arrived = np.isin(expected, found)
        missing = expected[~arrived]
        runs = np.split(missing, np.flatnonzero(np.diff(missing) != self.step) + 1)
        runs = [run for run in runs if len(run)]
        with self.engine.begin() as conn:
            for run in runs:
                record_empty(conn, sid, int(run[0]), int(run[-1]) + self.step)
            forget_empty(conn, sid, a, b, keep=[int(run[0]) for run in runs])
        if len(missing):
            log.info(
                "%s: %d bars in [%d, %d) still empty after asking again", symbol, len(missing), a, b
            )
        return int(arrived.sum()), len(missing)

    def _funding(self, symbol: str) -> int:
        with self.engine.connect() as conn:
            last = conn.execute(
                text(
                    "SELECT max(ts) FROM funding_rates WHERE exchange = :e AND market = :m "
                    "AND symbol = :s"
                ),
                {"e": self.exchange, "m": self.market, "s": symbol},
            ).scalar()
        floor = (
            last
            if last is not None
            else (
                self.since
                if self.since is not None
                else self.client.server_time_ms() - self.lookback_ms - FUNDING_INTERVAL_MS
            )
        )
        rows: dict[int, float] = {}
        for page in range(1, MAX_FUNDING_PAGES + 1):
            found = self.client.funding_page(symbol, page)
            rows.update({t: r for t, r in found if t > floor})
            if not found or found[0][0] <= floor:
                break
        if not rows:
            return 0
        index = pd.DatetimeIndex(pd.to_datetime(sorted(rows), unit="ms", utc=True))
        series = pd.Series([rows[t] for t in sorted(rows)], index=index)
        with self.engine.begin() as conn:
            write_funding(conn, self.exchange, self.market, symbol, series)
        return len(rows)
