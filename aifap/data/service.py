"""The OHLCV service (``aifap data serve``): the market database over HTTP.

The seed's data service (its "CoinAPI") was written in Go. Ours is Python on
purpose: one codebase, and the service shares the store's models, readers and
resampling with the backtester instead of re-implementing them; large reads travel
as Arrow IPC, so the wire format, not the language, sets the speed.

Endpoints (every one read-only):

- ``GET /health``: ``{"status": "ok", "series": n}``, or HTTP 503 when the database
  is unreachable.
- ``GET /symbols?exchange=&market=``: the stored series (exchange, market, symbol,
  timeframe, first and last open time).
- ``GET /ohlcv?exchange=&market=&symbols=A,B&timeframe=1m&start=&end=&limit=&format=``:
  bars complete at ``end`` from ``start``, the last ``limit`` per symbol; coarser
  timeframes are resampled from stored ones. ``format=arrow`` (or ``Accept:
  application/vnd.apache.arrow.stream``) answers an Arrow IPC stream with columns
  ``symbol`` (dictionary), ``timestamp`` (UTC ns) and float64 ``open…volume``;
  otherwise JSON ``{"timeframe": …, "data": {symbol: {"timestamp": [ms…], "open": […], …}}}``.
- ``GET /funding?exchange=&market=&symbol=&start=&end=``: funding rates as JSON
  ``{"symbol": …, "timestamp": [ms…], "rate": […]}``.

Times are ISO 8601 (``2026-01-01T00:00Z``) or epoch milliseconds. Errors answer
HTTP 400 with ``{"detail": "<the rule that was broken>"}``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import text

from aifap.core.bars import BAR_COLUMNS
from aifap.core.errors import DataError
from aifap.data.series import list_series
from aifap.data.store import StoreBarSource
from aifap.db import database_url
from aifap.redaction import redact_url

ARROW_TYPE = "application/vnd.apache.arrow.stream"
MAX_SYMBOLS = 500


def parse_time(value: str | None, name: str) -> pd.Timestamp | None:
    """Parse an ISO 8601 time or epoch milliseconds (UTC); raise DataError naming ``name``."""
    if value is None or value == "":
        return None
    try:
        if value.lstrip("-").isdigit():
            return pd.Timestamp(int(value), unit="ms", tz="UTC")
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError):
        raise DataError(f"{name} must be ISO 8601 or epoch milliseconds, was {value!r}") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def bars_to_arrow(frames: dict[str, pd.DataFrame]) -> bytes:
    """Serialize ``{symbol: bar frame}`` as one Arrow IPC stream (long format)."""
    names = list(frames)
    sizes = [len(frames[s]) for s in names]
    indices = np.repeat(np.arange(len(names), dtype=np.int32), sizes)
    stamps = (
        np.concatenate([frames[s].index.as_unit("ns").asi8 for s in names])
        if names
        else np.empty(0)
    )
    columns: dict[str, Any] = {
        "symbol": pa.DictionaryArray.from_arrays(
            pa.array(indices, pa.int32()), pa.array(names, pa.string())
        ),
        "timestamp": pa.array(stamps.astype(np.int64), pa.timestamp("ns", tz="UTC")),
    }
    for column in BAR_COLUMNS:
        values = [frames[s][column].to_numpy(np.float64) for s in names]
        columns[column] = pa.array(np.concatenate(values) if values else np.empty(0), pa.float64())
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload: bytes = sink.getvalue().to_pybytes()
    return payload


def _bars_json(timeframe: str, frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    data = {
        symbol: {
            "timestamp": frame.index.as_unit("ms").asi8.tolist(),
            **{c: frame[c].tolist() for c in BAR_COLUMNS},
        }
        for symbol, frame in frames.items()
    }
    return {"timeframe": timeframe, "data": data}


def _wants_arrow(fmt: str | None, accept: str | None) -> bool:
    if fmt is not None:
        if fmt not in ("json", "arrow"):
            raise DataError(f"format must be json or arrow, was {fmt!r}")
        return fmt == "arrow"
    return ARROW_TYPE in (accept or "")


class _DataRoute(APIRoute):
    """A route whose ``ValueError`` (DataError, bad timeframes: the caller's fault) answers 400.

    Set per router so the mapping travels with it into the platform API that mounts it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler with the error map."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except ValueError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=400)

        return guarded


class _Sources:
    """One StoreBarSource per (exchange, market) over the market database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sources: dict[tuple[str | None, str | None], StoreBarSource] = {}
        self.lock = threading.Lock()

    def __call__(self, exchange: str | None, market: str | None) -> StoreBarSource:
        with self.lock:
            if (exchange, market) not in self.sources:
                self.sources[exchange, market] = StoreBarSource(
                    self.url, exchange=exchange, market=market
                )
            return self.sources[exchange, market]


def create_app(url: str | None = None) -> FastAPI:
    """Return the service's FastAPI app over the market database at ``url`` (default: settings)."""
    db_url = url or database_url("market")
    app = FastAPI(title="AIFAP OHLCV service", version="1")
    source = _Sources(db_url)

    @app.get("/health")
    def health() -> JSONResponse:
        try:
            store = source(None, None)
            with store.engine.connect() as conn:
                count = conn.execute(text("SELECT count(*) FROM ohlcv_series")).scalar()
        except Exception as exc:
            return JSONResponse(
                {
                    "status": "unavailable",
                    "database": redact_url(db_url),
                    "error": type(exc).__name__,
                },
                status_code=503,
            )
        return JSONResponse({"status": "ok", "series": int(count or 0)})

    app.include_router(ohlcv_router(db_url, source))
    return app


def ohlcv_router(url: str, source: _Sources | None = None) -> APIRouter:
    """Return the read routes (``/symbols``, ``/ohlcv``, ``/funding``) over the market database.

    The platform API mounts it behind its authentication; :func:`create_app` serves it alone.
    """
    source = source or _Sources(url)
    router = APIRouter(route_class=_DataRoute, tags=["ohlcv"])

    @router.get("/symbols")
    def symbols(exchange: str | None = None, market: str | None = None) -> dict[str, Any]:
        store = source(exchange, market)
        with store.engine.connect() as conn:
            found = list_series(conn, exchange=exchange, market=market)
            spans = {
                sid: conn.execute(
                    text("SELECT min(ts), max(ts) FROM ohlcv_bars WHERE series_id = :s"),
                    {"s": sid},
                ).one()
                for sid, _ in found
            }
        series = [
            {
                "exchange": key.exchange,
                "market": key.market,
                "symbol": key.symbol,
                "timeframe": key.timeframe,
                "first": spans[sid][0],
                "last": spans[sid][1],
            }
            for sid, key in found
        ]
        return {"symbols": sorted({s["symbol"] for s in series}), "series": series}

    @router.get("/ohlcv")
    def ohlcv(
        symbols: Annotated[str, Query(description="Comma-separated compact symbols.")],
        exchange: str | None = None,
        market: str | None = None,
        timeframe: str = "1m",
        start: str | None = None,
        end: str | None = None,
        limit: Annotated[int | None, Query(ge=1)] = None,
        format: str | None = None,
        accept: Annotated[str | None, Header()] = None,
    ) -> Response:
        arrow = _wants_arrow(format, accept)
        names = [s.strip().upper() for s in symbols.split(",") if s.strip()]
        if not names or len(names) > MAX_SYMBOLS:
            raise DataError(f"symbols must list 1 to {MAX_SYMBOLS} symbols, was {symbols!r}")
        store = source(exchange, market)
        begin, finish = parse_time(start, "start"), parse_time(end, "end")
        if begin is None and limit is not None:
            frames = store.last_bars(names, timeframe, limit=limit, end=finish)
        else:
            frames = {
                n: store.bars(n, timeframe, start=begin, end=finish, limit=limit) for n in names
            }
        if arrow:
            return Response(bars_to_arrow(frames), media_type=ARROW_TYPE)
        return JSONResponse(_bars_json(timeframe, frames))

    @router.get("/funding")
    def funding(
        symbol: str,
        exchange: str | None = None,
        market: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> dict[str, Any]:
        rates = source(exchange, market).funding(
            symbol.upper(), start=parse_time(start, "start"), end=parse_time(end, "end")
        )
        return {
            "symbol": symbol.upper(),
            "timestamp": rates.index.as_unit("ms").asi8.tolist(),
            "rate": rates.tolist(),
        }

    return router
