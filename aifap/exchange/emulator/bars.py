"""The emulator's price path: bars from a dict of frames, a callable or a synthetic walk.

Frames are in the ``aifap.core.bars`` format (UTC ``DatetimeIndex`` of open times,
float columns ``open, high, low, close, volume``) at the feed's base timeframe
(``1m`` by default). A callable is asked ``fn(symbol, start, end)`` for the base bars
whose open time lies in ``[start, end)`` (UTC ``pd.Timestamp``) and returns such a frame.
Coarser candles are aggregated from the base bars on exchange boundaries. The feed
never serves a bar that is still open at the emulator's clock, and drops configured
"holes" (base-bar open times with no bar).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from aifap.core.bars import BAR_COLUMNS
from aifap.exchange.emulator.clock import to_ms

BarCallable = Callable[[str, pd.Timestamp, pd.Timestamp], pd.DataFrame]
BarArrays = tuple[np.ndarray, np.ndarray]  # open times (ms, int64), values (n, 5) float64

# Bitget granularity strings (mix and spot dialects) -> seconds
GRANULARITY_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1min": 60,
    "3min": 180,
    "5min": 300,
    "15min": 900,
    "30min": 1800,
    "1H": 3600,
    "2H": 7200,
    "4H": 14400,
    "6H": 21600,
    "12H": 43200,
    "1h": 3600,
    "4h": 14400,
    "6h": 21600,
    "12h": 43200,
    "6Hutc": 21600,
    "12Hutc": 43200,
    "1Dutc": 86400,
    "3Dutc": 259200,
    "1D": 86400,
    "3D": 259200,
    "1day": 86400,
    "3day": 259200,
}


def granularity_seconds(granularity: str) -> int | None:
    """Return the length of a Bitget granularity string in seconds, or None if unsupported."""
    return GRANULARITY_SECONDS.get(granularity)


def _frame_arrays(frame: pd.DataFrame) -> BarArrays:
    if len(frame) == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, 5))
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    ts = index.as_unit("ms").asi8.astype(np.int64)
    values = frame.loc[:, list(BAR_COLUMNS)].to_numpy(dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    return ts[order], values[order]


class SyntheticBars:
    """A deterministic synthetic 1m price path (slow waves plus hashed noise) for any range.

    Args:
        prices: the level each symbol's price oscillates around.
        seed: changes the path.
        volatility: the size of the per-minute noise, as a fraction of the price.
    """

    def __init__(
        self, prices: Mapping[str, float], seed: int = 0, volatility: float = 0.0005
    ) -> None:
        self.prices = dict(prices)
        self.seed = seed
        self.volatility = volatility

    def _phase(self, symbol: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{symbol}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 * 2 * math.pi

    def __call__(self, symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Return the 1m bars of ``symbol`` opening in ``[start, end)``."""
        level = self.prices.get(symbol, 100.0)
        first = math.ceil(start.value / 60e9)
        last = math.ceil(end.value / 60e9)
        minutes = np.arange(first, max(first, last), dtype=np.int64)
        phase = self._phase(symbol)

        def mid(k: np.ndarray) -> np.ndarray:
            t = k.astype(np.float64)
            wave = (
                0.02 * np.sin(t / 1440.0 * 2 * np.pi / 7 + phase)
                + 0.01 * np.sin(t / 240.0 * 2 * np.pi + 2 * phase)
                + 0.004 * np.sin(t / 17.0 + 3 * phase)
            )
            noise = np.sin(t * 12.9898 + self.seed * 78.233 + phase) * 43758.5453
            noise = (noise - np.floor(noise) - 0.5) * 2 * self.volatility
            return level * np.exp(wave + noise)

        opens, closes = mid(minutes), mid(minutes + 1)
        spread = np.abs(closes - opens) * 0.5 + level * self.volatility * 0.2
        index = pd.DatetimeIndex(
            pd.to_datetime(minutes * 60_000, unit="ms", utc=True), name="timestamp"
        )
        data = {
            "open": opens,
            "high": np.maximum(opens, closes) + spread,
            "low": np.minimum(opens, closes) - spread,
            "close": closes,
            "volume": 1.0 + (minutes % 7).astype(np.float64),
        }
        return pd.DataFrame(data, index=index.as_unit("ns"))


class BarFeed:
    """Serve bars and prices from frames, a callable or a synthetic walk, with holes.

    Args:
        bars: ``{symbol: frame}`` or a callable ``(symbol, start, end) -> frame``.
        base_timeframe_seconds: the length of the provider's bars (60 = 1m).
        holes: ``{symbol: [open times]}`` of base bars to withhold.
    """

    def __init__(
        self,
        bars: Mapping[str, pd.DataFrame] | BarCallable,
        base_timeframe_seconds: int = 60,
        holes: Mapping[str, Iterable[datetime | int | str]] | None = None,
    ) -> None:
        self.base_ms = base_timeframe_seconds * 1000
        self._lock = threading.Lock()
        self._callable: BarCallable | None = None
        self._arrays: dict[str, BarArrays] = {}
        if callable(bars):
            self._callable = bars
        else:
            self._arrays = {s: _frame_arrays(f) for s, f in bars.items()}
        self._holes: dict[str, set[int]] = {}
        # last_close runs on every order; bars are immutable, holes clear the cache
        self._last_close: dict[tuple[str, int, int], float | None] = {}
        for symbol, times in (holes or {}).items():
            self.add_holes(symbol, times)

    def add_holes(self, symbol: str, times: Iterable[datetime | int | str]) -> None:
        """Withhold the base bars of ``symbol`` that open at ``times``."""
        with self._lock:
            self._holes.setdefault(symbol, set()).update(to_ms(t) for t in times)
            self._last_close.clear()

    def clear_holes(self, symbol: str | None = None) -> None:
        """Serve every bar again (for one symbol or all)."""
        with self._lock:
            self._last_close.clear()
            if symbol is None:
                self._holes.clear()
            else:
                self._holes.pop(symbol, None)

    def has(self, symbol: str) -> bool:
        """Tell whether the provider may have bars for ``symbol``."""
        return self._callable is not None or symbol in self._arrays

    def base_bars(self, symbol: str, start_ms: int, end_ms: int) -> BarArrays:
        """Return the base bars opening in ``[start_ms, end_ms)``, holes removed."""
        if end_ms <= start_ms:
            return np.empty(0, dtype=np.int64), np.empty((0, 5))
        if self._callable is not None:
            frame = self._callable(
                symbol,
                pd.Timestamp(start_ms, unit="ms", tz="UTC"),
                pd.Timestamp(end_ms, unit="ms", tz="UTC"),
            )
            ts, values = _frame_arrays(frame)
            keep = (ts >= start_ms) & (ts < end_ms)
            ts, values = ts[keep], values[keep]
        else:
            all_ts, all_values = self._arrays.get(
                symbol, (np.empty(0, dtype=np.int64), np.empty((0, 5)))
            )
            lo, hi = np.searchsorted(all_ts, [start_ms, end_ms], side="left")
            ts, values = all_ts[lo:hi], all_values[lo:hi]
        with self._lock:
            holes = self._holes.get(symbol)
            if holes:
                keep = ~np.isin(ts, np.fromiter(holes, dtype=np.int64))
                ts, values = ts[keep], values[keep]
        return ts, values

    def candles(
        self,
        symbol: str,
        timeframe_seconds: int,
        *,
        now_ms: int,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> BarArrays:
        """Return up to ``limit`` complete candles, oldest first, in ``[start_ms, end_ms)``.

        Without ``start_ms`` the window is the ``limit`` candle periods before
        ``end_ms`` (or before the current, still-open candle); the last ``limit``
        candles of the window are returned.
        """
        tf = timeframe_seconds * 1000
        current = (now_ms // tf) * tf  # the open of the still-open candle: excluded
        hi = current if end_ms is None else min(current, end_ms)
        lo = start_ms if start_ms is not None else hi - limit * tf
        # a candle opening before ``hi`` is served whole (it is complete: it opened
        # before the still-open one), so read the base bars up to its close
        base_hi = min(current, -(-hi // tf) * tf)
        ts, values = self.base_bars(symbol, (lo // tf) * tf, base_hi)
        if tf != self.base_ms and len(ts):
            ts, values = _aggregate(ts, values, tf)
        keep = (ts >= lo) & (ts < hi)
        ts, values = ts[keep], values[keep]
        return ts[-limit:], values[-limit:]

    def last_close(
        self, symbol: str, now_ms: int, lookback_ms: int = 6 * 3_600_000
    ) -> float | None:
        """Return the close of the last base bar complete at ``now_ms``, or None."""
        hi = (now_ms // self.base_ms) * self.base_ms
        key = (symbol, hi, lookback_ms)
        with self._lock:
            if key in self._last_close:
                return self._last_close[key]
        ts, values = self.base_bars(symbol, hi - lookback_ms, hi)
        close = float(values[-1, 3]) if len(ts) else None
        with self._lock:
            if len(self._last_close) > 4096:
                self._last_close.clear()
            self._last_close[key] = close
        return close


def _aggregate(ts: np.ndarray, values: np.ndarray, tf: int) -> BarArrays:
    keys = (ts // tf) * tf
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    out = np.empty((len(starts), 5))
    out[:, 0] = values[starts, 0]
    out[:, 1] = np.maximum.reduceat(values[:, 1], starts)
    out[:, 2] = np.minimum.reduceat(values[:, 2], starts)
    out[:, 3] = values[ends - 1, 3]
    out[:, 4] = np.add.reduceat(values[:, 4], starts)
    return keys[starts], out
