"""``ServiceBarSource``: the :class:`~aifap.core.bars.BarSource` over the OHLCV service.

Filtering happens on the server (``start``, ``end``, ``limit``, resampling); bars
come back as an Arrow IPC stream and are rebuilt into the store's frames: float64
columns and a UTC ``DatetimeIndex`` named ``timestamp``, exactly as
:class:`~aifap.data.store.StoreBarSource` returns them, so a backtest or a context
runs the same over either.

Example::

    source = ServiceBarSource("http://127.0.0.1:8900", exchange="bitget", market="futures")
    source.bars("BTCUSDT", "1h", end=now, limit=24)
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa

from aifap.core.bars import BAR_COLUMNS, empty_bars
from aifap.core.errors import DataError
from aifap.core.markets import MarketSpec
from aifap.core.timeframes import timeframe_ms
from aifap.data.frames import default_market
from aifap.data.reads import frame_from_arrays
from aifap.data.service import ARROW_TYPE
from aifap.data.store import TimeLike, to_ms


class ServiceBarSource:
    """Read bars from an ``aifap data serve`` service.

    Args:
        base_url: ``http://host:port`` of the service.
        exchange: the exchange whose bars to serve (None: the only one per symbol).
        market: ``'spot'`` or ``'futures'`` (None: the only one per symbol).
        timeout: seconds per request.
        client: an ``httpx.Client`` to use instead of a new one (tests pass FastAPI's).
    """

    def __init__(
        self,
        base_url: str,
        *,
        exchange: str | None = None,
        market: str | None = None,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.exchange = exchange
        self.market = market
        self._owns_client = client is None
        self._client = client or httpx.Client(base_url=self.base_url, timeout=timeout)
        self._series: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return (
            f"ServiceBarSource({self.base_url!r}, exchange={self.exchange!r}, "
            f"market={self.market!r})"
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __del__(self) -> None:
        # a source handed to a backtest is never closed by it: free the sockets here
        if getattr(self, "_owns_client", False):
            self._client.close()

    def __enter__(self) -> ServiceBarSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _get(
        self, path: str, params: dict[str, Any], accept: str = "application/json"
    ) -> httpx.Response:
        scope = {"exchange": self.exchange, "market": self.market}
        query = {k: v for k, v in {**scope, **params}.items() if v is not None}
        try:
            response = self._client.get(path, params=query, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise DataError(
                f"OHLCV service at {self.base_url} is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise DataError(f"OHLCV service {path}: {detail}")
        return response

    def health(self) -> dict[str, Any]:
        """Return the service's health report."""
        result: dict[str, Any] = self._get("/health", {}).json()
        return result

    def series(self) -> list[dict[str, Any]]:
        """Return the stored series (exchange, market, symbol, timeframe, first, last)."""
        if self._series is None:
            self._series = list(self._get("/symbols", {}).json()["series"])
        return self._series

    def symbols(self) -> list[str]:
        """Return the symbols with stored bars, sorted."""
        return sorted({s["symbol"] for s in self.series()})

    def timeframes(self, symbol: str) -> list[str]:
        """Return the stored timeframes of ``symbol``, finest first."""
        found = {s["timeframe"] for s in self.series() if s["symbol"] == symbol}
        return sorted(found, key=timeframe_ms)

    def markets(self) -> dict[str, MarketSpec]:
        """Return permissive market specs for every symbol (the service knows no exchange rules)."""
        return {s["symbol"]: default_market(s["symbol"], s["market"]) for s in self.series()}

    def bars(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        start: TimeLike = None,
        end: TimeLike = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return the bars of ``symbol`` at ``timeframe`` complete at ``end``, from ``start``."""
        if limit is not None and limit <= 0:
            return empty_bars()
        return self._ohlcv([symbol], timeframe, start, end, limit)[symbol]

    def last_bars(
        self,
        symbols: Sequence[str],
        timeframe: str = "1m",
        *,
        limit: int = 100,
        end: TimeLike = None,
    ) -> dict[str, pd.DataFrame]:
        """Return the last ``limit`` bars of each symbol, in one request."""
        return self._ohlcv(list(symbols), timeframe, None, end, limit)

    def _ohlcv(
        self, symbols: list[str], timeframe: str, start: TimeLike, end: TimeLike, limit: int | None
    ) -> dict[str, pd.DataFrame]:
        params = {
            "symbols": ",".join(symbols),
            "timeframe": timeframe,
            "start": to_ms(start),
            "end": to_ms(end),
            "limit": limit,
            "format": "arrow",
        }
        response = self._get("/ohlcv", params, accept=ARROW_TYPE)
        return arrow_to_frames(response.content, symbols)

    def funding(self, symbol: str, *, start: TimeLike = None, end: TimeLike = None) -> pd.Series:
        """Return funding rates settled in ``[start, end]``."""
        body = self._get(
            "/funding", {"symbol": symbol, "start": to_ms(start), "end": to_ms(end)}
        ).json()
        index = pd.DatetimeIndex(
            pd.to_datetime(body["timestamp"], unit="ms", utc=True), name="timestamp"
        ).as_unit("ns")
        return pd.Series(body["rate"], index=index, dtype="float64", name="rate")


def arrow_to_frames(payload: bytes, symbols: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Split an Arrow IPC stream from ``/ohlcv`` into one bar frame per symbol."""
    table = pa.ipc.open_stream(io.BytesIO(payload)).read_all()
    out: dict[str, pd.DataFrame] = {}
    if table.num_rows == 0:
        return {symbol: empty_bars() for symbol in symbols}
    codes = table.column("symbol").combine_chunks()
    names = codes.dictionary.to_pylist()
    indices = codes.indices.to_numpy()
    stamps = table.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy()
    values = np.column_stack(
        [table.column(c).combine_chunks().to_numpy() for c in BAR_COLUMNS]
    ).astype(np.float64, copy=False)
    whole = frame_from_arrays(stamps // 1_000_000, values)  # one frame, sliced per symbol
    bounds = np.flatnonzero(np.r_[True, indices[1:] != indices[:-1], True])
    for first, stop in itertools.pairwise(bounds):
        out[names[int(indices[first])]] = whole.iloc[first:stop]
    return {symbol: out[symbol] if symbol in out else empty_bars() for symbol in symbols}
