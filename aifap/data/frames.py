"""An in-memory :class:`~aifap.core.bars.BarSource` over pandas DataFrames.

``FrameBarSource({"BTCUSDT": frame})`` serves the bars of each symbol at its base
timeframe (the finest one given) and resamples them to any coarser timeframe that
is a multiple of it, with bars aligned to epoch boundaries (00:00 UTC for ``1d``).
A coarse bar exists only where base bars exist (a hole invents no bar), and only
bars complete at ``end`` are returned (open time + timeframe <= ``end``; without
``end``, the close of the last base bar). Frames are validated by the rules of
:mod:`aifap.data.checks`; a bad one raises :class:`DataError` naming the symbol, the
bar's time and the rule.

A frame may have a UTC ``DatetimeIndex`` (naive times are read as UTC) or a
``timestamp`` column (UTC milliseconds or datetimes), and columns ``open, high,
low, close, volume`` (a missing ``volume`` is 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TypeAlias

import numpy as np
import pandas as pd

from aifap.core.bars import BAR_COLUMNS, empty_bars
from aifap.core.errors import DataError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.timeframes import TIMEFRAME_SECONDS, is_multiple, timeframe_ms
from aifap.data.checks import bar_problems

QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "BTC", "ETH", "BNB", "EUR")
TimeLike: TypeAlias = datetime | pd.Timestamp | str | None
FrameInput: TypeAlias = pd.DataFrame | Mapping[str, pd.DataFrame]


def default_market(symbol: str, market: str | MarketType = MarketType.FUTURES) -> MarketSpec:
    """Return the permissive spec used when a source knows no exchange rules.

    Amount and price steps of 1e-8, no minimum amount or notional, contract size 1,
    max leverage 125 on futures (1 on spot): limits that never block a trade, so a
    backtest on files measures the strategy, not made-up exchange limits. The quote
    is the first of ``QUOTES`` the symbol ends with (``ADABTC`` → ADA / BTC).
    """
    kind = MarketType(market)
    quote = next((q for q in QUOTES if symbol.endswith(q) and len(symbol) > len(q)), "USDT")
    base = symbol[: -len(quote)] if symbol.endswith(quote) else symbol
    step = Decimal("0.00000001")
    return MarketSpec(
        symbol=symbol,
        market_type=kind,
        base=base,
        quote=quote,
        amount_step=step,
        price_step=step,
        max_leverage=125 if kind is MarketType.FUTURES else 1,
    )


def _ns(value: TimeLike) -> int:
    ns = to_ns(value)
    if ns is None:
        raise ValueError("time must be given, was None")
    return ns


def to_ns(value: TimeLike) -> int | None:
    """Return a time as UTC epoch nanoseconds (naive times are UTC), None for None."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.as_unit("ns").value)


def normalize_bars(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Return ``frame`` as a validated bar frame (UTC ns index named timestamp, float64).

    Raises:
        DataError: naming the symbol, the bar's time and the broken rule.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{symbol}: bars must be a pandas DataFrame, was {type(frame).__name__}")
    data = frame.rename(columns=str.lower)
    if not isinstance(data.index, pd.DatetimeIndex):
        if "timestamp" not in data.columns:
            raise DataError(f"{symbol}: bars need a DatetimeIndex or a 'timestamp' column")
        stamps = data["timestamp"]
        unit = "ms" if pd.api.types.is_numeric_dtype(stamps) else None
        data = data.set_index(pd.DatetimeIndex(pd.to_datetime(stamps, unit=unit, utc=True)))
    if "volume" not in data.columns:
        data = data.assign(volume=0.0)
    missing = [c for c in BAR_COLUMNS if c not in data.columns]
    if missing:
        raise DataError(
            f"{symbol}: bars must have columns {', '.join(BAR_COLUMNS)}, "
            f"missing {', '.join(missing)}"
        )
    index = data.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    index = pd.DatetimeIndex(index.as_unit("ns"), name="timestamp")
    out = pd.DataFrame(
        {c: pd.to_numeric(data[c], errors="coerce").to_numpy(np.float64) for c in BAR_COLUMNS},
        index=index,
    )
    ms = out.index.asi8 // 1_000_000
    problems = bar_problems(ms, *(out[c].to_numpy() for c in BAR_COLUMNS))
    if problems:
        first = problems[0]
        when = out.index[first.row].isoformat()
        raise DataError(f"{symbol}: bar at {when}: {first.rule}, was {first.value}")
    return out


def infer_timeframe(frame: pd.DataFrame, symbol: str) -> str:
    """Return the timeframe of a bar frame: its smallest spacing between bars.

    Raises:
        DataError: fewer than two bars, or a spacing that is no known timeframe.
    """
    if len(frame) < 2:
        raise DataError(
            f"{symbol}: cannot infer the timeframe of {len(frame)} bar(s); "
            "give it as {symbol: {timeframe: frame}}"
        )
    seconds = int(np.diff(frame.index.as_unit("ns").asi8).min() // 1_000_000_000)
    for name, length in TIMEFRAME_SECONDS.items():
        if length == seconds:
            return name
    known = ", ".join(TIMEFRAME_SECONDS)
    raise DataError(f"{symbol}: bar spacing must be a timeframe among {known}, was {seconds} s")


def resample_bars(frame: pd.DataFrame, base: str, timeframe: str) -> pd.DataFrame:
    """Aggregate ``base`` bars into ``timeframe`` bars aligned to epoch boundaries.

    Only periods that hold base bars yield a bar; the last period is dropped when the
    base bars end before it does (it is not complete).
    """
    if timeframe == base:
        return frame
    if not is_multiple(timeframe, base):
        raise DataError(
            f"timeframe must be a multiple of the base timeframe {base}, was {timeframe}"
        )
    if frame.empty:
        return empty_bars()
    step = timeframe_ms(timeframe) * 1_000_000
    ts = frame.index.as_unit("ns").asi8
    buckets = ts // step * step
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(ts)]
    cols = {c: frame[c].to_numpy() for c in BAR_COLUMNS}
    out = pd.DataFrame(
        {
            "open": cols["open"][starts],
            "high": np.maximum.reduceat(cols["high"], starts),
            "low": np.minimum.reduceat(cols["low"], starts),
            "close": cols["close"][ends - 1],
            "volume": np.add.reduceat(cols["volume"], starts),
        },
        index=pd.DatetimeIndex(pd.to_datetime(buckets[starts], utc=True), name="timestamp"),
    )
    data_end = ts[-1] + timeframe_ms(base) * 1_000_000
    if buckets[-1] + step > data_end:
        out = out.iloc[:-1]
    return out


class FrameBarSource:
    """Serve bars and funding rates held in memory (see the module docstring).

    Args:
        bars: ``{symbol: frame}`` or ``{symbol: {timeframe: frame}}``.
        funding: ``{symbol: Series}`` of rates per 8 h indexed by settle time.
        markets: exchange rules per symbol; others get :func:`default_market`.
        market: ``'futures'`` or ``'spot'``, the market type of the default specs.
    """

    def __init__(
        self,
        bars: Mapping[str, FrameInput],
        *,
        funding: Mapping[str, pd.Series] | None = None,
        markets: Mapping[str, MarketSpec] | None = None,
        market: str | MarketType = MarketType.FUTURES,
    ) -> None:
        self._market = MarketType(market)
        self._stored: dict[str, dict[str, pd.DataFrame]] = {}
        for symbol, given in bars.items():
            if isinstance(given, Mapping):
                by_tf = {tf: normalize_bars(f, symbol) for tf, f in given.items()}
                for tf in by_tf:
                    timeframe_ms(tf)
            else:
                frame = normalize_bars(given, symbol)
                by_tf = {infer_timeframe(frame, symbol): frame}
            self._stored[symbol] = by_tf
        self._funding = {s: _normalize_funding(r, s) for s, r in (funding or {}).items()}
        self._markets = dict(markets or {})
        self._cache: dict[tuple[str, str], tuple[pd.DataFrame, np.ndarray]] = {}

    def symbols(self) -> list[str]:
        """Return the symbols this source has bars for, in the order given."""
        return list(self._stored)

    def timeframes(self, symbol: str) -> list[str]:
        """Return the timeframes stored for ``symbol`` (finest first)."""
        return sorted(self._by_symbol(symbol), key=timeframe_ms)

    def base_timeframe(self, symbol: str) -> str:
        """Return the finest stored timeframe of ``symbol``."""
        return self.timeframes(symbol)[0]

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
            DataError: unknown symbol, or a timeframe finer than (or not a multiple of)
                every stored one.
        """
        frame, stamps = self._frame(symbol, timeframe)
        lo = 0 if start is None else int(np.searchsorted(stamps, _ns(start), side="left"))
        if end is None:
            hi = len(stamps)
        else:
            last_open = _ns(end) - timeframe_ms(timeframe) * 1_000_000
            hi = int(np.searchsorted(stamps, last_open, side="right"))
        if limit is not None:
            lo = max(lo, hi - max(int(limit), 0))
        return frame.iloc[lo:hi] if lo < hi else frame.iloc[0:0]

    def funding(self, symbol: str, *, start: TimeLike = None, end: TimeLike = None) -> pd.Series:
        """Return funding rates settled in ``[start, end]`` (empty when none are known)."""
        rates = self._funding.get(symbol)
        if rates is None:
            index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
            return pd.Series([], index=index, dtype="float64", name="rate")
        stamps = rates.index.asi8
        lo = 0 if start is None else int(np.searchsorted(stamps, _ns(start), side="left"))
        hi = len(stamps) if end is None else int(np.searchsorted(stamps, _ns(end), "right"))
        return rates.iloc[lo:hi]

    def markets(self) -> dict[str, MarketSpec]:
        """Return the market spec of every symbol (given ones, else :func:`default_market`)."""
        return {s: self._markets.get(s) or default_market(s, self._market) for s in self._stored}

    def _by_symbol(self, symbol: str) -> dict[str, pd.DataFrame]:
        try:
            return self._stored[symbol]
        except KeyError:
            known = ", ".join(self._stored) or "none"
            raise DataError(f"symbol must be one of {known}, was {symbol!r}") from None

    def _frame(self, symbol: str, timeframe: str) -> tuple[pd.DataFrame, np.ndarray]:
        key = (symbol, timeframe)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        stored = self._by_symbol(symbol)
        step = timeframe_ms(timeframe)
        if timeframe in stored:
            frame = stored[timeframe]
        else:
            bases = [tf for tf in self.timeframes(symbol) if step % timeframe_ms(tf) == 0]
            if not bases:
                have = ", ".join(self.timeframes(symbol))
                raise DataError(
                    f"{symbol}: timeframe must be a multiple of a stored timeframe "
                    f"({have}), was {timeframe}"
                )
            frame = resample_bars(stored[bases[0]], bases[0], timeframe)
        self._cache[key] = (frame, frame.index.asi8)
        return self._cache[key]


def _normalize_funding(rates: pd.Series, symbol: str) -> pd.Series:
    if not isinstance(rates, pd.Series) or not isinstance(rates.index, pd.DatetimeIndex):
        raise DataError(f"{symbol}: funding must be a Series indexed by settle time")
    index = rates.index
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    out = pd.Series(
        rates.to_numpy(np.float64),
        index=pd.DatetimeIndex(index.as_unit("ns"), name="timestamp"),
        name="rate",
    )
    if not out.index.is_monotonic_increasing or out.index.has_duplicates:
        raise DataError(f"{symbol}: funding times must increase strictly")
    if not np.isfinite(out.to_numpy()).all():
        raise DataError(f"{symbol}: funding rates must be finite numbers")
    return out
