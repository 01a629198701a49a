"""The ``Context`` a strategy sees: the same class in backtests, paper and live sessions.

Zipline compatibility: ``context.get_history`` behaves like zipline's
``data.history``, ``context.current`` like ``data.current`` and
``context.portfolio`` like ``context.portfolio`` (the account now). Differences:
bars are labelled by their **open** time, and only bars complete at
``context.now`` are ever returned (never the still-forming bar).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd

from aifap.core.bars import BarSource
from aifap.core.portfolio import Portfolio
from aifap.core.timeframes import timeframe_seconds
from aifap.history import (
    ArrayHistory,
    BarArrays,
    HistoryProvider,
    SourceHistory,
    check_fields,
    to_ns,
)

log = logging.getLogger(__name__)

MODES = ("backtest", "paper", "live")
_LOOKBACK = 10_000  # base bars searched back for the last price when the current bar is a hole


def _as_list(value: str | Sequence[str]) -> tuple[bool, list[str]]:
    """Return (whether ``value`` was one name, the names as a list)."""
    if isinstance(value, str):
        return True, [value]
    return False, [str(v) for v in value]


class _Request(NamedTuple):
    """A checked history request, kept so the same request is not checked again.

    Only plain strings, lists and tuples of strings are kept (as a string or a tuple):
    comparing them is cheap and exact; anything else is checked on every call.
    """

    kind: type
    assets: str | tuple[str, ...]
    frequency: str
    fields: str | tuple[str, ...]
    parsed: tuple[bool, list[str], bool, list[str]]

    @classmethod
    def of(
        cls,
        assets: Any,
        frequency: Any,
        fields: Any,
        parsed: tuple[bool, list[str], bool, list[str]],
    ) -> _Request | None:
        """Return the request to keep, or None when its arguments are not plain."""
        kept: list[str | tuple[str, ...]] = []
        for value in (assets, fields):
            if type(value) is str:
                kept.append(value)
            elif type(value) in (list, tuple) and all(type(v) is str for v in value):
                kept.append(tuple(value))
            else:
                return None
        if type(frequency) is not str:
            return None
        return cls(type(assets), kept[0], frequency, kept[1], parsed)

    def matches(self, assets: Any, frequency: Any, fields: Any) -> bool:
        """Tell whether a request asks exactly this one's question."""
        if type(assets) is not self.kind or frequency != self.frequency:
            return False
        asked: Any = assets if self.kind is str else tuple(cast(Sequence[str], assets))
        if asked != self.assets:
            return False
        if type(fields) is str:
            return fields == self.fields
        return type(fields) in (list, tuple) and tuple(fields) == self.fields


class Context:
    """What a strategy can see and keep: history, current prices, portfolio, config, state.

    Attributes:
        config: the strategy's configuration (also passed as ``config_dict``).
        state: a dict that persists across calls (and, in live, across restarts).
        log: a logger for the strategy's own messages.
        mode: ``'backtest'``, ``'paper'`` or ``'live'``.
        universe: the symbols of this backtest or session, for strategies that do not
            name their own (``config_dict.get('symbols') or context.universe``).
    """

    def __init__(
        self,
        history: HistoryProvider | BarSource | BarArrays,
        *,
        now: pd.Timestamp | None = None,
        portfolio: Portfolio | Callable[[], Portfolio] | None = None,
        config: Mapping[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        mode: str = "backtest",
        logger: logging.Logger | None = None,
        base_timeframe: str = "1m",
        universe: Sequence[str] | None = None,
    ) -> None:
        """Build a context over bars.

        Args:
            history: a history provider, a :class:`BarSource` (queried on each call)
                or :class:`BarArrays` (the backtester's precomputed fast path).
            now: the current time (UTC); bars complete at it are visible.
            portfolio: the account now, or a function returning it (called lazily).
            config: the strategy's configuration dict.
            state: the persistent state dict (a new one when None).
            mode: ``'backtest'``, ``'paper'`` or ``'live'``.
            logger: the strategy's logger (default ``aifap.strategy.user``).
            base_timeframe: the finest timeframe of a ``BarSource``.
            universe: the symbols the trader may hold (default: the bar source's symbols).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, was {mode!r}")
        if isinstance(history, BarArrays):
            symbols = list(history.symbols)
            history = ArrayHistory(history)
        elif isinstance(history, BarSource):
            # a BarSource first: some sources (SyntheticMarket) also have a frames() method
            symbols = list(history.symbols())
            history = SourceHistory(history, base_timeframe)
        else:
            symbols = []
        self.universe: list[str] = list(universe) if universe is not None else symbols
        self._history: HistoryProvider = history
        self._request: _Request | None = None  # the last history request, checked
        self._now_ns = 0
        self._now = pd.Timestamp(0, tz="UTC")
        if now is not None:
            self.set_now(now)
        self._portfolio = portfolio
        self.config: Mapping[str, Any] = dict(config or {})
        self.state: dict[str, Any] = {} if state is None else state
        self.mode = mode
        self.log = logger or logging.getLogger("aifap.strategy.user")

    # -- time and account -------------------------------------------------------------

    @property
    def now(self) -> pd.Timestamp:
        """Return the current time (UTC): the close time of the last complete base bar."""
        return self._now

    def set_now(self, now: pd.Timestamp | int) -> None:
        """Move the clock (engines call this; ``now`` as a Timestamp or UTC nanoseconds)."""
        if isinstance(now, pd.Timestamp) and now.tzinfo is UTC and now.unit == "ns":
            self._now_ns, self._now = now.value, now  # already what the clock shows
            return
        self._now_ns = int(now) if isinstance(now, int | np.integer) else to_ns(now)
        self._now = pd.Timestamp(self._now_ns, tz=UTC)

    def set_portfolio(self, portfolio: Portfolio | Callable[[], Portfolio] | None) -> None:
        """Replace the account view (a value, or a function called on first access)."""
        self._portfolio = portfolio

    @property
    def portfolio(self) -> Portfolio:
        """Return the account now: balance, equity, positions and their weights."""
        if callable(self._portfolio):
            self._portfolio = self._portfolio()
        if self._portfolio is None:
            raise AttributeError("portfolio is not available in this context")
        return self._portfolio

    # -- market data ------------------------------------------------------------------

    def get_history(
        self,
        assets: str | Sequence[str],
        window: int,
        frequency: str = "1m",
        fields: str | Sequence[str] = "close",
    ) -> pd.Series | pd.DataFrame:
        """Return the last ``window`` bars at ``frequency`` that are complete at ``now``.

        Args:
            assets: one symbol or a list of symbols.
            window: how many bars (fewer when the data starts later).
            frequency: ``1m``, ``5m``, ``15m``, ``1h``, ``4h``, ``1d``… resampled from
                the base bars, aligned to epoch boundaries; holes yield no bar.
            fields: one of ``open, high, low, close, volume`` or a list of them.

        Returns:
            One asset and one field: a Series. A list of assets and one field: a
            DataFrame with the assets as columns. A list of fields: a DataFrame with
            the fields as columns (one asset) or ``(field, asset)`` columns. The index
            holds the bars' open times (UTC).
        """
        if type(window) is not int and (
            isinstance(window, bool) or not isinstance(window, int | np.integer)
        ):
            raise ValueError(f"window must be an integer >= 0, was {window!r}")
        if window < 0:
            raise ValueError(f"window must be an integer >= 0, was {window!r}")
        last = self._request
        if last is not None and last.matches(assets, frequency, fields):
            one_asset, names, one_field, field_names = last.parsed
        else:
            one_asset, names, one_field, field_names = self._parse(assets, frequency, fields)
        frames = self._history.frames(names, int(window), frequency, field_names, self._now_ns)
        if one_field:
            frame = frames[field_names[0]]
            if one_asset:
                series = frame.iloc[:, 0].dropna()
                series.name = names[0]
                return series
            return frame
        if one_asset:
            out = pd.DataFrame({f: frames[f].iloc[:, 0] for f in field_names})
            return out.dropna(how="all")
        return pd.concat({f: frames[f] for f in field_names}, axis=1)

    def _parse(
        self, assets: str | Sequence[str], frequency: str, fields: str | Sequence[str]
    ) -> tuple[bool, list[str], bool, list[str]]:
        """Check a history request's frequency and fields; remember it (see ``_Request``)."""
        seconds = timeframe_seconds(frequency)
        if seconds % timeframe_seconds(self._history.base_timeframe):
            raise ValueError(
                f"frequency must be a multiple of the base timeframe "
                f"{self._history.base_timeframe}, was {frequency!r}"
            )
        one_asset, names = _as_list(assets)
        one_field, field_names = _as_list(fields)
        check_fields(field_names)
        parsed = (one_asset, names, one_field, field_names)
        self._request = _Request.of(assets, frequency, fields, parsed)
        return parsed

    def current(
        self, assets: str | Sequence[str], fields: str | Sequence[str] = "close"
    ) -> float | pd.Series | pd.DataFrame:
        """Return the latest complete base bar's values (zipline's ``data.current``).

        ``'price'`` is the close, carried forward over holes; the other fields are
        NaN when the latest base bar is missing. One asset and one field: a float; a
        list of assets: a Series by asset; a list of fields: a DataFrame (assets ×
        fields), or a Series by field for one asset.
        """
        one_asset, names = _as_list(assets)
        one_field, wanted = _as_list(fields)
        real = ["close" if f == "price" else f for f in wanted]
        check_fields(real)
        base = self._history.base_timeframe
        step = timeframe_seconds(base) * 1_000_000_000
        latest = self._history.frames(names, 1, base, real, self._now_ns)
        table = pd.DataFrame(index=names, columns=wanted, dtype="float64")
        for f, r in zip(wanted, real, strict=True):
            frame = latest[r]
            fresh = frame.index.size and frame.index[-1].value == self._now_ns - step
            row = frame.iloc[-1] if fresh else pd.Series(np.nan, index=names)
            if f == "price" and row.isna().any():
                back = self._history.frames(names, _LOOKBACK, base, ["close"], self._now_ns)
                row = row.fillna(back["close"].ffill().iloc[-1] if len(back["close"]) else np.nan)
            table[f] = row.to_numpy(dtype="float64")
        if one_asset and one_field:
            return float(table.iat[0, 0])
        if one_field:
            return table[wanted[0]].rename(None)
        if one_asset:
            return table.loc[names[0]].rename(names[0])
        return table
