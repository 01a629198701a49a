"""The Bitget emulator replaying the built-in synthetic futures market (API session tests)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from aifap.data.sources import open_bar_source
from aifap.exchange.emulator import BitgetEmulator, EmulatorMarket
from aifap.exchange.emulator.clock import ReplayClock


def synthetic_emulator(symbols: Sequence[str], start: pd.Timestamp, speed: float) -> BitgetEmulator:
    """Return an emulator (not started) serving ``symbols``' synthetic 1m bars from ``start``.

    Each request sees only the bars completed by the replay clock (``speed`` x real time).
    """
    source = open_bar_source(None, market="futures", symbols=list(symbols))
    markets = [EmulatorMarket.from_spec(source.markets()[s]) for s in symbols]

    def bars(symbol: str, first: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = source.bars(symbol, "1m", start=first.to_pydatetime(), end=end.to_pydatetime())
        return frame[frame.index < end]

    return BitgetEmulator(bars=bars, markets=markets, clock=ReplayClock(start, speed))
