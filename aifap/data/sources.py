"""Turn whatever a user passes as ``data`` into a :class:`~aifap.core.bars.BarSource`.

``open_bar_source(data)`` is the one place that knows the kinds of ``data``:

========================================  ===============================================
``None``                                  the built-in :class:`SyntheticMarket` (30 days
                                          of 1m bars ending 2024-07-01, seed 42)
a directory (``str`` or ``Path``)         its ``{SYMBOL}_{TIMEFRAME}.csv[.gz]`` files and
                                          ``{SYMBOL}_funding`` files, searched recursively
``{symbol: DataFrame}``                   a :class:`FrameBarSource` over the frames
a ``BarSource``                           itself
``sqlite:...``, ``postgresql...``,        the OHLCV store / service, bars of ``market``
``http(s)://...``
========================================  ===============================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aifap.core.bars import BarSource
from aifap.core.errors import ConfigError, DataError
from aifap.core.markets import MarketType
from aifap.data.files import read_bar_file, read_funding_file, scan_bar_dir
from aifap.data.frames import FrameBarSource
from aifap.data.synthetic import SyntheticMarket

ACCEPTED = (
    "None (the built-in synthetic market), a directory of bar files, a dict of "
    "DataFrames, a BarSource, or a database or service URL"
)
_URL_PREFIXES = ("sqlite:", "postgresql", "http://", "https://")


def open_bar_source(
    data: Any = None,
    *,
    market: str | MarketType = MarketType.FUTURES,
    symbols: Iterable[str] | None = None,
) -> BarSource:
    """Return a bar source for ``data`` (see the module docstring for the kinds).

    Args:
        data: where the bars come from.
        market: ``'futures'`` or ``'spot'``: the market specs of file and frame sources,
            and which of ``spot/`` and ``futures/`` wins when a directory has both.
        symbols: load only these symbols (a directory or the synthetic market).

    Raises:
        ConfigError: ``data`` is of no accepted kind, or names a store not available yet.
        DataError: a file is malformed or a requested symbol has no bars.
    """
    kind = MarketType(market)
    wanted = list(symbols) if symbols is not None else None
    if data is None:
        return SyntheticMarket(wanted, market=kind)
    if isinstance(data, str) and data.startswith(_URL_PREFIXES):
        return _open_url(data, market=kind, symbols=wanted)
    if isinstance(data, str | Path):
        return open_bar_dir(data, market=kind, symbols=wanted)
    if isinstance(data, Mapping):
        return FrameBarSource(data, market=kind)
    if isinstance(data, BarSource):
        return data
    raise ConfigError(f"data must be {ACCEPTED}, was {type(data).__name__}")


def _open_url(url: str, *, market: MarketType, symbols: list[str] | None) -> BarSource:
    """Open the OHLCV service (``http(s)://``) or store (a database URL) for ``market``."""
    if url.startswith(("http://", "https://")):
        from aifap.data.client import ServiceBarSource

        return ServiceBarSource(url, market=market.value)
    from aifap.data.store import StoreBarSource

    return StoreBarSource(url, market=market.value, create=False)


def open_bar_dir(
    path: str | Path,
    *,
    market: str | MarketType = MarketType.FUTURES,
    symbols: Iterable[str] | None = None,
) -> FrameBarSource:
    """Read a directory of bar and funding files into a :class:`FrameBarSource`.

    Raises:
        DataError: the directory has no bar files, a file is malformed, a symbol and
            timeframe appear twice in the same market, or a requested symbol is missing.
    """
    kind = MarketType(market)
    entries = scan_bar_dir(path)
    wanted = set(symbols) if symbols is not None else None
    chosen: dict[tuple[str, str], Any] = {}
    for entry in entries:
        if wanted is not None and entry.symbol not in wanted:
            continue
        key = (entry.symbol, entry.timeframe)
        other = chosen.get(key)
        if other is None or (other.market != kind and entry.market == kind):
            chosen[key] = entry
        elif entry.market == other.market:
            raise DataError(
                f"{entry.symbol}: {entry.timeframe} must come from one file, was both "
                f"{other.path} and {entry.path}"
            )
    bars: dict[str, dict[str, Any]] = {}
    funding = {}
    for (symbol, timeframe), entry in sorted(chosen.items()):
        if entry.is_funding:
            funding[symbol] = read_funding_file(entry.path).rates
        else:
            bars.setdefault(symbol, {})[timeframe] = read_bar_file(entry.path).frame
    missing = sorted(wanted - set(bars)) if wanted is not None else []
    if missing:
        raise DataError(
            f"symbols: {', '.join(missing)} must have bar files in {path}, "
            f"found {', '.join(sorted(bars)) or 'none'}"
        )
    if not bars:
        raise DataError(f"data: {path} must hold SYMBOL_TIMEFRAME.csv[.gz] files, found none")
    ordered = list(symbols) if symbols is not None else sorted(bars)
    return FrameBarSource({s: bars[s] for s in ordered}, funding=funding, market=kind)
