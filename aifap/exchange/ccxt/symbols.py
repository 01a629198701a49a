"""Compact exchange ids (``BTCUSDT``) ↔ ccxt unified symbols (``BTC/USDT:USDT``, ``BTC/USDT``)."""

from __future__ import annotations

from aifap.core.markets import MarketType

QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "BTC", "ETH", "BNB", "EUR", "USD")


def split_compact(symbol: str) -> tuple[str, str]:
    """Split ``BTCUSDT`` into ``('BTC', 'USDT')`` by the known quote currencies."""
    upper = symbol.upper()
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    raise ValueError(f"symbol must end with a known quote currency {QUOTES}, was {symbol!r}")


def to_unified(symbol: str, market_type: MarketType) -> str:
    """Return ccxt's unified symbol for a compact id (linear perpetuals settle in the quote)."""
    base, quote = split_compact(symbol)
    if market_type is MarketType.FUTURES:
        return f"{base}/{quote}:{quote}"
    return f"{base}/{quote}"


def to_compact(unified: str) -> str:
    """Return the compact id of a ccxt unified symbol (``BTC/USDT:USDT`` → ``BTCUSDT``)."""
    pair = unified.split(":", 1)[0]
    base, _, quote = pair.partition("/")
    if not base or not quote:
        raise ValueError(f"unified symbol must look like BASE/QUOTE[:SETTLE], was {unified!r}")
    return f"{base}{quote}"
