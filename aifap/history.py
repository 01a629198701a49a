"""Where ``Context.get_history`` gets its bars: a live ``BarSource`` or aligned arrays.

Both providers answer the same question: the last ``window`` bars at ``frequency``
that are **complete at** ``now`` (open time + frequency <= now), for some assets
and fields. Bars are labelled by their open time; coarser bars are resampled from
the base bars on epoch-aligned boundaries (00:00 UTC for ``1d``), and a period with
no base bar yields no bar: holes are never filled in.

:class:`BarArrays` is the backtester's fast path: every symbol's base bars on one
regular time grid as float64 (bars × symbols) arrays, NaN where a symbol has no
bar, with each resampled frequency computed once (vectorized) and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

from aifap.core.bars import BAR_COLUMNS, BarSource
from aifap.core.errors import DataError
from aifap.core.timeframes import timeframe_seconds
from aifap.fastframes import float_frame, index_window

NS = 1_000_000_000


def to_ns(ts: datetime | pd.Timestamp) -> int:
    """Return a UTC timestamp (naive = UTC) as integer nanoseconds since the epoch."""
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.as_unit("ns").value)


def check_fields(fields: Sequence[str]) -> None:
    """Raise ValueError if a field is not one of open, high, low, close, volume."""
    for name in fields:
        if name not in BAR_COLUMNS:
            raise ValueError(f"field must be one of {', '.join(BAR_COLUMNS)}, was {name!r}")


class HistoryProvider(Protocol):
    """Answer history queries for a :class:`aifap.context.Context`."""

    base_timeframe: str

    def frames(
        self, assets: Sequence[str], window: int, frequency: str, fields: Sequence[str], now: int
    ) -> dict[str, pd.DataFrame]:
        """Return one DataFrame (columns = assets) per field; ``now`` in ns."""
        ...


class BarArrays:
    """Aligned bars of many symbols on one regular grid (the backtester's fast path)."""

    def __init__(
        self,
        start_ns: int,
        timeframe: str,
        symbols: Sequence[str],
        fields: Mapping[str, np.ndarray],
        length: int | None = None,
    ) -> None:
        """Wrap (bars × symbols) float64 arrays whose row ``i`` opens at start + i × timeframe.

        ``fields`` may be a :class:`LazyFields` (each array built when first read); then
        ``length``, the rows, is needed.
        """
        self.timeframe = timeframe
        self.step = timeframe_seconds(timeframe) * NS
        self.start_ns = int(start_ns)
        self.symbols = list(symbols)
        self.columns = {symbol: i for i, symbol in enumerate(self.symbols)}
        self.fields: Mapping[str, np.ndarray] = (
            fields if isinstance(fields, LazyFields) else dict(fields)
        )
        if length is None:
            length = next(iter(self.fields.values())).shape[0] if self.fields else 0
        self.length = length
        self.times = self.start_ns + self.step * np.arange(self.length, dtype=np.int64)
        self.index = pd.DatetimeIndex(self.times.view("datetime64[ns]")).tz_localize("UTC")
        self.index.name = "timestamp"
        # checked once here, the index is known sorted and unique, and so is each window
        # sliced from it: pandas would otherwise check every history frame's index again
        if not self.index.is_monotonic_increasing:
            raise DataError(f"bar times must increase by {timeframe}")
        self._resampled: dict[str, BarArrays] = {}

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], timeframe: str) -> BarArrays:
        """Align bar frames (UTC open-time index) of ``timeframe`` on one grid.

        Raises:
            DataError: a frame is empty-indexed wrongly or a bar is off the grid.
        """
        step = timeframe_seconds(timeframe) * NS
        stamps = {s: _index_ns(s, f) for s, f in frames.items()}
        nonempty = [t for t in stamps.values() if t.size]
        if not nonempty:
            return cls(
                0, timeframe, list(frames), {c: np.empty((0, len(frames))) for c in BAR_COLUMNS}
            )
        first = min(int(t[0]) for t in nonempty)
        last = max(int(t[-1]) for t in nonempty)
        start = first - first % step
        rows = (last - start) // step + 1
        places = {}
        for symbol, t in stamps.items():
            offsets = t - start
            if np.any(offsets % step):
                raise DataError(f"{symbol}: bar open times must be multiples of {timeframe}")
            pos = offsets // step
            whole = pos.size == rows  # strictly increasing, on the grid: every row
            places[symbol] = slice(None) if whole else pos
        columns = [(frame, places[symbol]) for symbol, frame in frames.items()]
        fields = LazyFields({c: _field_builder(c, columns, rows) for c in BAR_COLUMNS})
        return cls(start, timeframe, list(frames), fields, rows)

    def complete_rows(self, now_ns: int) -> int:
        """Return how many leading rows are complete at ``now_ns`` (open + step <= now)."""
        if now_ns < self.start_ns + self.step:
            return 0
        return min(self.length, (now_ns - self.start_ns - self.step) // self.step + 1)

    def resampled(self, frequency: str) -> BarArrays:
        """Return these bars resampled to ``frequency`` (computed once, then cached)."""
        if frequency == self.timeframe:
            return self
        cached = self._resampled.get(frequency)
        if cached is None:
            cached = self._resample(frequency)
            self._resampled[frequency] = cached
        return cached

    def _resample(self, frequency: str) -> BarArrays:
        seconds = timeframe_seconds(frequency)
        if seconds % timeframe_seconds(self.timeframe):
            raise ValueError(
                f"frequency must be a multiple of the base timeframe {self.timeframe}, "
                f"was {frequency!r}"
            )
        step = seconds * NS
        start = self.start_ns - self.start_ns % step
        bins = (self.times - start) // step
        if self.length == 0:
            empty = {c: np.empty((0, len(self.symbols))) for c in BAR_COLUMNS}
            return BarArrays(start, frequency, self.symbols, empty)
        edges = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
        rows = int(bins[-1]) + 1
        out = {c: np.full((rows, len(self.symbols)), np.nan) for c in BAR_COLUMNS}
        at = bins[edges]
        close = self.fields["close"]
        valid = ~np.isnan(close)
        count = np.add.reduceat(valid.astype(np.int64), edges, axis=0)
        has = count > 0
        idx = np.arange(self.length, dtype=np.int64)[:, None]
        first = np.minimum.reduceat(np.where(valid, idx, self.length), edges, axis=0)
        last = np.maximum.reduceat(np.where(valid, idx, -1), edges, axis=0)
        cols = np.arange(len(self.symbols))[None, :]
        first_c = np.where(has, first, 0)
        last_c = np.where(has, last, 0)
        opened = self.fields["open"][first_c, cols]
        closed = close[last_c, cols]
        with np.errstate(invalid="ignore"):
            high = np.fmax.reduceat(self.fields["high"], edges, axis=0)
            low = np.fmin.reduceat(self.fields["low"], edges, axis=0)
        volume = np.add.reduceat(np.nan_to_num(self.fields["volume"]), edges, axis=0)
        for name, values in (
            ("open", opened),
            ("high", high),
            ("low", low),
            ("close", closed),
            ("volume", volume),
        ):
            out[name][at] = np.where(has, values, np.nan)
        return BarArrays(start, frequency, self.symbols, out)


class LazyFields(Mapping[str, np.ndarray]):
    """Bar fields built when first read: a run without stops never reads highs and lows.

    Each (bars × symbols) array costs a pass over the data and, at a year of 1m bars of
    20 symbols, 84 MB of memory the process must fault in.
    """

    def __init__(self, builders: Mapping[str, Callable[[], np.ndarray]]) -> None:
        """Build each field with its zero-argument builder, once (then the builder goes)."""
        self._names = tuple(builders)
        self._builders = dict(builders)
        self._built: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        """Return the field ``name``, building it on first access."""
        values = self._built.get(name)
        if values is None:
            values = self._built[name] = self._builders.pop(name)()
        return values

    def __iter__(self) -> Iterator[str]:
        """Iterate over the field names, built or not."""
        return iter(self._names)

    def __len__(self) -> int:
        """Return how many fields there are."""
        return len(self._names)


def _field_builder(
    name: str, columns: Sequence[tuple[pd.DataFrame, slice | np.ndarray]], rows: int
) -> Callable[[], np.ndarray]:
    """Return a builder of field ``name``: each frame's column at its rows, NaN elsewhere."""

    def build() -> np.ndarray:
        whole = all(isinstance(place, slice) for _, place in columns)
        values = np.empty((rows, len(columns))) if whole else np.full((rows, len(columns)), np.nan)
        for col, (frame, place) in enumerate(columns):
            values[place, col] = frame[name].to_numpy(dtype="float64")
        return values

    return build


def _index_ns(symbol: str, frame: pd.DataFrame) -> np.ndarray:
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"{symbol}: bars must have a DatetimeIndex, was {type(index).__name__}")
    if index.tz is None:
        index = index.tz_localize("UTC")
    values = index.tz_convert("UTC").as_unit("ns").asi8
    if values.size > 1 and np.any(np.diff(values) <= 0):
        raise DataError(f"{symbol}: bar open times must be strictly increasing")
    return np.asarray(values)


class ArrayHistory:
    """History served from :class:`BarArrays` (backtests): no copies of the whole data.

    Each call returns new frames holding copies of the complete rows only, never a view
    of the arrays: a strategy may change its frame, and no array reachable from it
    (``frame.to_numpy().base``) holds a later bar.
    """

    def __init__(self, arrays: BarArrays) -> None:
        """Serve history from ``arrays``; their timeframe is the base timeframe."""
        self.arrays = arrays
        self.base_timeframe = arrays.timeframe
        self._columns: dict[tuple[str, ...], tuple[object, pd.Index]] = {}
        self._empty: dict[tuple[str, object, str], np.ndarray] = {}
        self._last: _Query | None = None

    def _cols(self, assets: Sequence[str]) -> tuple[object, pd.Index]:
        """Return the column selector and the columns' Index."""
        key = assets if type(assets) is tuple else tuple(assets)
        hit = self._columns.get(key)
        if hit is None:
            columns = self.arrays.columns
            missing = [a for a in key if a not in columns]
            if missing:
                raise ValueError(f"asset must be one of the data's symbols, was {missing[0]!r}")
            idx = [columns[a] for a in key]
            selector: object = idx
            contiguous = bool(idx) and idx == list(range(idx[0], idx[0] + len(idx)))
            if contiguous:
                selector = slice(idx[0], idx[0] + len(idx))
            hit = (selector, pd.Index(key))
            self._columns[key] = hit
        return hit

    def _empty_before(self, bars: BarArrays, frequency: str, key: object, field: str) -> np.ndarray:
        """Return how many rows before each row have no value in any of the columns.

        Computed once per (frequency, columns, field): a window has a hole when the
        count differs at its ends, so no call scans its rows for NaN.
        """
        cache_key = (frequency, key, field)
        counts = self._empty.get(cache_key)
        if counts is None:
            selector = self._cols(key)[0]  # type: ignore[arg-type]
            values = bars.fields[field][:, selector]  # type: ignore[index]
            empty = np.isnan(values).all(axis=1) if values.shape[1] else np.zeros(bars.length, bool)
            counts = np.zeros(bars.length + 1, dtype=np.int64)
            np.cumsum(empty, out=counts[1:])
            self._empty[cache_key] = counts
        return counts

    def _query(self, assets: Sequence[str], frequency: str, fields: Sequence[str]) -> _Query:
        """Return what a request needs besides its window and time (the last one is kept).

        A strategy asks the same question at every rebalance: the bars, the column
        selector, the columns' Index, the hole counts and the field arrays are looked
        up once for it.
        """
        key, wanted = tuple(assets), tuple(fields)
        last = self._last
        if last is not None and (last.key, last.frequency, last.fields) == (key, frequency, wanted):
            return last
        bars = self.arrays.resampled(frequency)
        selector, columns = self._cols(key)
        self._last = _Query(
            key,
            frequency,
            wanted,
            bars,
            selector,
            columns,
            self._empty_before(bars, frequency, key, wanted[0]),
            tuple(bars.fields[name] for name in wanted),
        )
        return self._last

    def frames(
        self, assets: Sequence[str], window: int, frequency: str, fields: Sequence[str], now: int
    ) -> dict[str, pd.DataFrame]:
        """Return the last ``window`` complete bars per field, holes left out."""
        q = self._query(assets, frequency, fields)
        n = q.bars.complete_rows(now)
        start = max(0, n - window)
        rows: slice | np.ndarray = slice(start, n)
        if start < n and q.empty[n] != q.empty[start]:
            rows = _valid_rows(q.values[0], q.selector, n, window)
        if isinstance(rows, slice):
            index = index_window(q.bars.index, start, n)
        else:
            index = q.bars.index[rows]
        out = {}
        for name, values in zip(q.fields, q.values, strict=True):
            if isinstance(rows, np.ndarray):
                block = values[rows][:, q.selector].T
            else:
                block = values[rows, q.selector].T  # type: ignore[index]  # a view
            # a copy, one row per column, as the constructor copies a 2-D array
            out[name] = _frame(block.copy(), index, q.columns)
        return out


class _Query(NamedTuple):
    """One history request's lookups (see :meth:`ArrayHistory._query`)."""

    key: tuple[str, ...]
    frequency: str
    fields: tuple[str, ...]
    bars: BarArrays
    selector: object  # a slice or a list of column numbers
    columns: pd.Index
    empty: np.ndarray  # hole counts of the first field (see ArrayHistory._empty_before)
    values: tuple[np.ndarray, ...]  # the fields' arrays


def _frame(block: np.ndarray, index: pd.DatetimeIndex, columns: pd.Index) -> pd.DataFrame:
    """Return ``pd.DataFrame(block.T, index=index, columns=columns)`` over ``block`` (owned).

    For float64 data, built as one block without the constructor's inference and checks
    (:func:`aifap.fastframes.float_frame`); ``block`` holds one row per column,
    C-contiguous, as the constructor lays out a copied 2-D array. Anything else goes
    through the constructor.
    """
    if block.dtype == np.float64 and block.flags.c_contiguous and block.shape[0]:
        return float_frame(block, index, columns)
    return pd.DataFrame(block.T, index=index, columns=columns, copy=False)


def _valid_rows(values: np.ndarray, selector: object, n: int, window: int) -> np.ndarray:
    """Return the row numbers of the last ``window`` rows before ``n`` with any value."""
    found: list[np.ndarray] = []
    have = 0
    end = n
    chunk = max(window, 64)
    while end > 0 and have < window:
        begin = max(0, end - chunk)
        block = values[begin:end, selector]  # type: ignore[index]
        keep = np.flatnonzero(~np.isnan(block).all(axis=1)) + begin
        found.append(keep)
        have += keep.size
        end = begin
        chunk *= 2
    rows = np.concatenate(found[::-1]) if found else np.zeros(0, dtype=np.int64)
    return rows[-window:] if window else rows[:0]


class SourceHistory:
    """History served by asking a :class:`BarSource` (live and paper sessions)."""

    def __init__(self, source: BarSource, base_timeframe: str = "1m") -> None:
        """Serve history from ``source``; ``base_timeframe`` is its finest timeframe."""
        self.source = source
        self.base_timeframe = base_timeframe

    def frames(
        self, assets: Sequence[str], window: int, frequency: str, fields: Sequence[str], now: int
    ) -> dict[str, pd.DataFrame]:
        """Return the last ``window`` complete bars per field, holes left out."""
        end = pd.Timestamp(now, tz="UTC")
        per_asset = {
            asset: self.source.bars(asset, frequency, end=end.to_pydatetime(), limit=window)
            for asset in assets
        }
        stop = now - timeframe_seconds(frequency) * NS
        out = {}
        for name in fields:
            frame = pd.DataFrame({a: bars[name] for a, bars in per_asset.items()})
            frame = frame.reindex(columns=list(assets)).astype("float64")
            if not frame.empty:
                # never trust a source with the forming bar: keep complete bars only
                frame = frame[frame.index.as_unit("ns").asi8 <= stop]
                frame = frame.dropna(how="all").tail(window)
            frame.index.name = "timestamp"
            out[name] = frame
        return out
