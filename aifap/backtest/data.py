"""Turn the ``data`` argument of :func:`aifap.backtest` into aligned arrays and market specs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from aifap.core.bars import BarSource
from aifap.core.errors import ConfigError, DataError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.timeframes import TIMEFRAME_SECONDS, timeframe_seconds
from aifap.history import NS, BarArrays, to_ns


@dataclass(frozen=True, slots=True)
class LoadedData:
    """What a backtest runs on: aligned base bars, market specs and funding events."""

    arrays: BarArrays
    markets: dict[str, MarketSpec]
    funding: dict[str, pd.Series]
    source: BarSource


def open_source(data: Any, market: MarketType, symbols: Sequence[str] | None) -> BarSource:
    """Return a :class:`BarSource` for ``data`` through ``aifap.data.sources.open_bar_source``."""
    if isinstance(data, BarSource) and not isinstance(data, Mapping):
        return data
    from aifap.data.sources import open_bar_source

    return open_bar_source(data, market=market, symbols=symbols)


def default_markets(
    source: BarSource, symbols: Sequence[str], market: MarketType
) -> dict[str, MarketSpec]:
    """Return the source's market specs, or ``aifap.data.frames.default_market`` ones.

    The defaults (no exchange rules known) are permissive: amount and price steps of
    1e-8, no minimum amount or notional, contract size 1, max leverage 125 on
    futures and 1 on spot.
    """
    given: Mapping[str, MarketSpec] = {}
    getter = getattr(source, "markets", None)
    if callable(getter):
        given = getter()
    out = {}
    for symbol in symbols:
        spec = given.get(symbol)
        if spec is None:
            from aifap.data.frames import default_market

            spec = default_market(symbol, market)
        if spec.market_type is not market:
            spec = _retyped(spec, market)
        out[symbol] = spec
    return out


def _retyped(spec: MarketSpec, market: MarketType) -> MarketSpec:
    from dataclasses import replace

    leverage = spec.max_leverage if market is MarketType.FUTURES else 1
    if market is MarketType.FUTURES and leverage == 1:
        leverage = 125
    return replace(spec, market_type=market, max_leverage=leverage)


def base_timeframe(source: BarSource, symbol: str, finest: str | None) -> str:
    """Return the timeframe to load for ``symbol``: ``finest`` or the source's base one."""
    if finest is not None:
        timeframe_seconds(finest)
        return finest
    getter = getattr(source, "base_timeframe", None)
    if callable(getter):
        return str(getter(symbol))
    for tf in TIMEFRAME_SECONDS:
        try:
            if not source.bars(symbol, tf, limit=1).empty:
                return tf
        except (DataError, ValueError):
            continue
    raise DataError(f"{symbol}: the data source must have bars, found none")


def load(
    data: Any,
    *,
    market: MarketType,
    symbols: Sequence[str] | None,
    end: datetime | None,
    timeframe: str | None = None,
) -> LoadedData:
    """Load every symbol's base bars up to ``end`` onto one grid.

    Raises:
        DataError: symbols have different base timeframes, or there are no bars.
    """
    source = open_source(data, market, symbols)
    names = list(symbols) if symbols is not None else list(source.symbols())
    if not names:
        raise ConfigError("symbols must name at least one symbol, was none")
    known = set(source.symbols())
    missing = [s for s in names if s not in known]
    if missing:
        raise DataError(f"symbols: {', '.join(missing)} must be in the data, was missing")
    tfs = {s: base_timeframe(source, s, timeframe) for s in names}
    chosen = max(tfs.values(), key=timeframe_seconds)
    frames = {s: source.bars(s, chosen, end=end) for s in names}
    if all(f.empty for f in frames.values()):
        raise DataError(f"data must have {chosen} bars for {', '.join(names)}, found none")
    arrays = BarArrays.from_frames(frames, chosen)
    funding: dict[str, pd.Series] = {}
    if market is MarketType.FUTURES:
        for s in names:
            getter = getattr(source, "funding", None)
            rates = getter(s, end=end) if callable(getter) else None
            if rates is not None and len(rates):
                funding[s] = rates
    return LoadedData(arrays, default_markets(source, names, market), funding, source)


def funding_events(
    funding: Mapping[str, pd.Series], arrays: BarArrays
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return funding events as (row, column, rate) arrays sorted by row.

    A rate settled at time ``t`` is booked on the first bar whose close time is at or
    after ``t`` (the 07:59 bar for 08:00 on 1m bars), at that bar's close.
    """
    rows, cols, rates = [], [], []
    step = arrays.step
    for symbol, series in funding.items():
        col = arrays.columns[symbol]
        stamps = series.index.as_unit("ns").asi8
        # first row r with start + (r + 1) * step >= t
        r = -((-(stamps - arrays.start_ns)) // step) - 1
        keep = (r >= 0) & (r < arrays.length)
        rows.append(r[keep])
        cols.append(np.full(int(keep.sum()), col))
        rates.append(series.to_numpy(dtype="float64")[keep])
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    all_rows = np.concatenate(rows).astype(np.int64)
    all_cols = np.concatenate(cols).astype(np.int64)
    all_rates = np.concatenate(rates)
    order = np.lexsort((all_cols, all_rows))
    return all_rows[order], all_cols[order], all_rates[order]


def parse_time(value: datetime | str | pd.Timestamp | None, name: str) -> int | None:
    """Return ``value`` as UTC nanoseconds (naive = UTC), or None."""
    if value is None:
        return None
    try:
        return to_ns(pd.Timestamp(value))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{name} must be a date or time, was {value!r}") from exc


__all__ = ["NS", "LoadedData", "funding_events", "load", "parse_time"]
