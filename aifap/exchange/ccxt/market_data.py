"""Public market data through ccxt: markets, candles, funding history, server time.

No credentials: this client only reads public endpoints, for the data collector and
for anyone else who needs candles (the gateway's ``ohlcv`` may reuse it). Every call
goes through :data:`aifap.retry.DEFAULT_POLICY` (or the policy given), and
ccxt's errors are mapped by :func:`aifap.exchange.ccxt.errors.map_ccxt_error`, so a
timeout, an HTTP 429 or an unavailable exchange is retried with back-off, and
anything else is raised at once. ccxt's own rate limiter stays on.

Example::

    data = PublicMarketData("bitget", MarketType.FUTURES)
    ts, values = data.candles("BTCUSDT", "1m", start_ms, end_ms)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import ccxt
import numpy as np

from aifap.core.markets import MarketType
from aifap.core.timeframes import timeframe_ms
from aifap.exchange.ccxt.client import make_exchange
from aifap.exchange.ccxt.errors import map_ccxt_error
from aifap.exchange.ccxt.symbols import to_compact, to_unified
from aifap.exchange.ccxt.venues import quirks
from aifap.retry import DEFAULT_POLICY, RetryPolicy

T = TypeVar("T")

FUNDING_PAGE = 100


class PublicMarketData:
    """Read public market data of one venue and market type.

    Args:
        venue: a venue with a quirks table (``aifap.exchange.ccxt.venues``).
        market_type: spot or futures (USDT-margined perpetuals).
        api_url: send every request to this base URL (tests: the local emulator).
        timeout_ms: ccxt's per-request timeout.
        policy: the retry policy for transient failures.
    """

    def __init__(
        self,
        venue: str,
        market_type: MarketType,
        *,
        api_url: str | None = None,
        timeout_ms: int = 10_000,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.venue = venue
        self.market_type = market_type
        self.policy = policy
        self.exchange: Any = make_exchange(
            venue, market_type, api_url=api_url, timeout_ms=timeout_ms, rate_limit=True
        )
        self.page_limit = quirks(venue).candle_page_limit

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def attempt() -> T:
            try:
                return fn(*args, **kwargs)
            except ccxt.BaseError as exc:
                raise map_ccxt_error(exc) from exc

        return self.policy.retrying(f"{self.venue} {what}")(attempt)

    def load_markets(self) -> list[str]:
        """Return the compact symbols listed for this market type."""
        markets: dict[str, Any] = self._call("load_markets", self.exchange.load_markets)
        want_swap = self.market_type is MarketType.FUTURES
        return sorted(
            to_compact(m["symbol"])
            for m in markets.values()
            if bool(m.get("swap")) == want_swap
            and bool(m.get("spot")) != want_swap
            and m.get("linear", True) is not False
        )

    def server_time_ms(self) -> int:
        """Return the exchange's clock in epoch ms (the local clock if it has no time endpoint)."""
        if not self.exchange.has.get("fetchTime"):
            return time.time_ns() // 1_000_000
        return int(self._call("fetch_time", self.exchange.fetch_time))

    def candles(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return up to ``page_limit`` candles opening in ``[start_ms, end_ms)``, oldest first.

        Returns:
            ``(ts, values)``: int64 open times in ms and an (n, 5) float64 OHLCV array,
            sorted, without repeated times. The caller drops a still-open candle.
        """
        step = timeframe_ms(timeframe)
        limit = max(1, min(self.page_limit, -(-(end_ms - start_ms) // step)))
        rows: list[list[Any]] = self._call(
            f"fetch_ohlcv {symbol} {timeframe}",
            self.exchange.fetch_ohlcv,
            to_unified(symbol, self.market_type),
            timeframe,
            since=start_ms,
            limit=limit,
            params={"until": end_ms - 1},
        )
        clean = [r for r in rows if r and r[0] is not None and start_ms <= r[0] < end_ms]
        if not clean:
            return np.empty(0, dtype=np.int64), np.empty((0, 5), dtype=np.float64)
        ts = np.array([int(r[0]) for r in clean], dtype=np.int64)
        values = np.array(
            [[np.nan if x is None else float(x) for x in r[1:6]] for r in clean], dtype=np.float64
        )
        order = np.argsort(ts, kind="stable")
        ts, values = ts[order], values[order]
        keep = np.r_[ts[1:] != ts[:-1], True]  # a repeated candle: keep the last one sent
        return ts[keep], values[keep]

    def funding_page(self, symbol: str, page: int) -> list[tuple[int, float]]:
        """Return one page of settled funding rates (``(ms, rate)``, newest pages first)."""
        rows: list[dict[str, Any]] = self._call(
            f"fetch_funding_rate_history {symbol}",
            self.exchange.fetch_funding_rate_history,
            to_unified(symbol, MarketType.FUTURES),
            limit=FUNDING_PAGE,
            params={"pageNo": page},
        )
        return sorted(
            (int(r["timestamp"]), float(r["fundingRate"]))
            for r in rows
            if r.get("timestamp") is not None and r.get("fundingRate") is not None
        )

    def close(self) -> None:
        """Release the HTTP session."""
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()
