"""The bar-source interface shared by the backtester, the store, the service client and live.

A bar frame has a UTC ``DatetimeIndex`` named ``timestamp`` holding each bar's
**open** time, and float64 columns ``open, high, low, close, volume``, oldest first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd

BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@runtime_checkable
class BarSource(Protocol):
    """Anything that serves OHLCV bars by symbol and timeframe."""

    def symbols(self) -> list[str]:
        """Return the symbols this source has bars for."""
        ...

    def bars(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Return the bars of ``symbol`` at ``timeframe``.

        Only bars that are complete at ``end`` are returned (open time + timeframe
        <= ``end``); ``start`` bounds the open time from below; with ``limit`` the last
        ``limit`` such bars. Coarser timeframes are resampled from the base bars,
        aligned to exchange boundaries; periods without base bars yield no bar.
        """
        ...

    def funding(
        self, symbol: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> pd.Series:
        """Return funding rates (per 8 h interval, as fractions) indexed by UTC settle time."""
        ...


def empty_bars() -> pd.DataFrame:
    """Return an empty bar frame with the right columns, dtypes and index."""
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: pd.Series([], dtype="float64") for c in BAR_COLUMNS}, index=index)
