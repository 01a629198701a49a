"""Read bars and funding rates from the market database as ``BarSource`` frames.

:class:`StoreBarSource` implements :class:`aifap.core.bars.BarSource` over a SQLite
file or a PostgreSQL database. A timeframe that is stored is read as is; any other
is resampled on read from the coarsest stored timeframe it is a multiple of
(``1h`` from ``1m`` or ``5m``), aligned to epoch boundaries, keeping only complete
bars and inventing none where base bars are missing
(:func:`aifap.data.frames.resample_bars`).

``exchange`` and ``market`` may be left out when each symbol is stored under one
exchange and market only; otherwise the store asks for them by name.

Example::

    source = StoreBarSource("sqlite:///market.db", exchange="bitget", market="futures")
    source.bars("BTCUSDT", "1h", end=now, limit=24)
    source.last_bars(["BTCUSDT", "ETHUSDT"], "1m", limit=100)   # {symbol: frame}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pandas as pd
from sqlalchemy import Connection, make_url, text
from sqlalchemy.exc import OperationalError

from aifap.core.bars import BAR_COLUMNS, empty_bars
from aifap.core.errors import DataError
from aifap.core.markets import MarketSpec
from aifap.core.timeframes import timeframe_ms
from aifap.data import reads
from aifap.data.frames import default_market, resample_bars
from aifap.data.series import SeriesKey, ensure_schema, list_series
from aifap.redaction import redact_url

TimeLike: TypeAlias = datetime | pd.Timestamp | str | None
SERIES_TTL_S = 60.0  # how long a symbol's series ids are trusted before looking again


def to_ms(value: TimeLike) -> int | None:
    """Return a time as UTC epoch milliseconds (naive times are UTC), None for None."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value // 1_000_000)


class StoreBarSource:
    """A :class:`~aifap.core.bars.BarSource` over the market database at ``url``.

    Args:
        url: a SQLAlchemy URL (``sqlite:///…``, ``postgresql://…``); the schema is
            created or upgraded on first use.
        exchange: the exchange whose bars to serve (None: the only one per symbol).
        market: ``'spot'`` or ``'futures'`` (None: the only one per symbol).
        create: create a missing SQLite file (False: raise DataError instead, for
            readers such as ``aifap.backtest`` that must not invent an empty store).
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str | None = None,
        market: str | None = None,
        create: bool = True,
    ):
        if not create:
            parsed = make_url(url)
            path = parsed.database
            if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" \
                    and not Path(path).expanduser().exists():
                raise DataError(f"data: the SQLite market database must exist, was {path!r}")
        self.url = url
        self.exchange = exchange
        self.market = market
        try:
            self.engine = ensure_schema(url)
        except OperationalError as exc:
            first = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DataError(
                f"market database {redact_url(url)} is unreachable: {first}"
            ) from exc
        self._keys: dict[str, tuple[float, dict[str, tuple[int, SeriesKey]]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"StoreBarSource({redact_url(self.url)!r}, exchange={self.exchange!r}, "
            f"market={self.market!r})"
        )

    # -- series lookup -------------------------------------------------------------

    def refresh(self) -> None:
        """Forget cached series (call after another process added symbols)."""
        with self._lock:
            self._keys.clear()

    def _series(self, conn: Connection, symbol: str) -> dict[str, tuple[int, SeriesKey]]:
        with self._lock:
            cached = self._keys.get(symbol)
        if cached is not None and time.monotonic() - cached[0] < SERIES_TTL_S:
            return cached[1]
        found = list_series(conn, exchange=self.exchange, market=self.market, symbol=symbol)
        venues = sorted({(key.exchange, key.market) for _, key in found})
        if not found:
            scope = "/".join(v for v in (self.exchange, self.market) if v) or "the store"
            known = ", ".join(self._symbols(conn)[:20]) or "none"
            raise DataError(f"symbol must be stored in {scope} (known: {known}), was {symbol!r}")
        if len(venues) > 1:
            shown = ", ".join(f"{e}/{m}" for e, m in venues)
            raise DataError(
                f"{symbol}: exchange and market must be given, it is stored under {shown}"
            )
        by_tf = {key.timeframe: (sid, key) for sid, key in found}
        with self._lock:
            self._keys[symbol] = (time.monotonic(), by_tf)
        return by_tf

    def _symbols(self, conn: Connection) -> list[str]:
        found = list_series(conn, exchange=self.exchange, market=self.market)
        return sorted({key.symbol for _, key in found})

    def symbols(self) -> list[str]:
        """Return the symbols with stored bars, sorted."""
        with self.engine.connect() as conn:
            return self._symbols(conn)

    def timeframes(self, symbol: str) -> list[str]:
        """Return the stored timeframes of ``symbol``, finest first."""
        with self.engine.connect() as conn:
            return sorted(self._series(conn, symbol), key=timeframe_ms)

    def base_timeframe(self, symbol: str) -> str:
        """Return the finest stored timeframe of ``symbol``."""
        return self.timeframes(symbol)[0]

    def markets(self) -> dict[str, MarketSpec]:
        """Return permissive market specs for every symbol (the store knows no exchange rules)."""
        with self.engine.connect() as conn:
            found = list_series(conn, exchange=self.exchange, market=self.market)
        return {key.symbol: default_market(key.symbol, key.market) for _, key in found}

    # -- bars ----------------------------------------------------------------------

    def bars(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        start: TimeLike = None,
        end: TimeLike = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return the bars of ``symbol`` at ``timeframe`` complete at ``end``, from ``start``.

        Raises:
            DataError: an unknown symbol, or a timeframe that is not a multiple of any
                stored one.
        """
        step = timeframe_ms(timeframe)
        start_ms, end_ms = to_ms(start), to_ms(end)
        if limit is not None and limit <= 0:
            return empty_bars()
        with self.engine.connect() as conn:
            stored = self._series(conn, symbol)
            if timeframe in stored:
                last_open = None if end_ms is None else end_ms - step
                return reads.read_frame(conn, stored[timeframe][0], start_ms, last_open, limit)
            bases = [tf for tf in stored if step % timeframe_ms(tf) == 0]
            if not bases:
                have = ", ".join(sorted(stored, key=timeframe_ms))
                raise DataError(
                    f"{symbol}: timeframe must be a multiple of a stored timeframe ({have}), "
                    f"was {timeframe}"
                )
            base = max(bases, key=timeframe_ms)
            return _resampled(conn, stored[base][0], base, timeframe, start_ms, end_ms, limit)

    def last_bars(
        self,
        symbols: Sequence[str],
        timeframe: str = "1m",
        *,
        limit: int = 100,
        end: TimeLike = None,
    ) -> dict[str, pd.DataFrame]:
        """Return the last ``limit`` bars complete at ``end`` of each symbol, in one query.

        Stored timeframes are read with one statement (PostgreSQL: ``LATERAL`` over the
        series ids; SQLite: ``UNION ALL`` of per-series ``LIMIT`` queries), each reading
        its primary-key range backwards; other timeframes are resampled per symbol.
        """
        end_ms = to_ms(end)
        last_open = None if end_ms is None else end_ms - timeframe_ms(timeframe)
        out: dict[str, pd.DataFrame] = {}
        with self.engine.connect() as conn:
            direct: dict[int, str] = {}
            for symbol in symbols:
                stored = self._series(conn, symbol)
                if timeframe in stored:
                    direct[stored[timeframe][0]] = symbol
            frames = reads.read_last(conn, list(direct), last_open, limit)
            out.update({direct[sid]: frame for sid, frame in frames.items()})
        for symbol in symbols:
            if symbol not in out:
                out[symbol] = self.bars(symbol, timeframe, end=end, limit=limit)
        return {symbol: out[symbol] for symbol in symbols}

    def funding(self, symbol: str, *, start: TimeLike = None, end: TimeLike = None) -> pd.Series:
        """Return funding rates settled in ``[start, end]`` (empty when none are stored)."""
        query = "SELECT ts, rate FROM funding_rates WHERE symbol = :symbol"
        params: dict[str, object] = {"symbol": symbol}
        for name, value in (("exchange", self.exchange), ("market", self.market)):
            if value is not None:
                query += f" AND {name} = :{name}"
                params[name] = value
        if start is not None:
            query += " AND ts >= :start"
            params["start"] = to_ms(start)
        if end is not None:
            query += " AND ts <= :end"
            params["end"] = to_ms(end)
        with self.engine.connect() as conn:
            rows = conn.execute(text(query + " ORDER BY ts"), params).all()
        stamps = np.array([r[0] for r in rows], dtype=np.int64)
        index = pd.DatetimeIndex(pd.to_datetime(stamps, unit="ms", utc=True), name="timestamp")
        return pd.Series(
            np.array([r[1] for r in rows], dtype=np.float64),
            index=index.as_unit("ns"),
            name="rate",
        )


def _resampled(
    conn: Connection,
    series_id: int,
    base: str,
    timeframe: str,
    start_ms: int | None,
    end_ms: int | None,
    limit: int | None,
) -> pd.DataFrame:
    """Resample base bars in ``[start, end)`` (aligned outward to whole periods)."""
    step = timeframe_ms(timeframe)
    lo = None if start_ms is None else -(-start_ms // step) * step
    hi = None if end_ms is None else end_ms // step * step
    first, last = reads.span(conn, series_id)
    if first is None or last is None:
        return empty_bars()
    hi_eff = hi if hi is not None else (last // step + 1) * step
    lo_eff = first // step * step if lo is None else lo
    window = lo_eff if limit is None else max(lo_eff, hi_eff - limit * step)
    while True:
        # one base bar past the window tells resample_bars that its last period is complete
        base_frame = reads.read_frame(
            conn, series_id, window, None, None, before=hi_eff, one_more=True
        )
        frame = resample_bars(base_frame, base, timeframe)
        if hi is not None and len(frame):
            frame = frame[frame.index.asi8 // 1_000_000 + step <= hi]
        if limit is None or len(frame) >= limit or window <= max(lo_eff, first // step * step):
            break
        window = max(lo_eff, hi_eff - 2 * (hi_eff - window))
    if limit is not None:
        frame = frame.iloc[-limit:]
    return frame.loc[:, list(BAR_COLUMNS)]
