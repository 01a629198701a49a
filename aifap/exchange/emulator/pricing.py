"""Prices and funding rates at the emulator's clock: bar path, manual overrides, fallbacks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from decimal import Decimal

from aifap.exchange.emulator.bars import BarFeed
from aifap.exchange.emulator.markets import MarketBook

FUNDING_INTERVAL_MS = 8 * 3_600_000
FundingRates = Decimal | Mapping[str, Decimal] | Callable[[str, int], Decimal]
"""A constant rate, a rate per symbol, or ``fn(symbol, settle_ms) -> rate`` (per 8 h)."""


class Pricing:
    """Answer "what is the price / funding rate of SYMBOL at time T".

    The price is a manual override when one is set (``set_price``), else the close of
    the last complete bar at T, else the market's fallback price.
    """

    def __init__(
        self, feed: BarFeed, markets: MarketBook, funding_rates: FundingRates = Decimal("0.0001")
    ) -> None:
        self.feed = feed
        self.markets = markets
        self.funding_rates = funding_rates
        self._overrides: dict[str, Decimal] = {}
        self._lock = threading.Lock()

    def set_price(self, symbol: str, price: Decimal | float | str | None) -> None:
        """Pin the price of ``symbol`` (None: follow the bars again)."""
        with self._lock:
            if price is None:
                self._overrides.pop(symbol, None)
            else:
                self._overrides[symbol] = Decimal(str(price))

    def override(self, symbol: str) -> Decimal | None:
        """Return the pinned price of ``symbol``, if any."""
        with self._lock:
            return self._overrides.get(symbol)

    def price(self, symbol: str, now_ms: int) -> Decimal:
        """Return the price of ``symbol`` at ``now_ms``."""
        pinned = self.override(symbol)
        if pinned is not None:
            return pinned
        close = self.feed.last_close(symbol, now_ms) if self.feed.has(symbol) else None
        if close is not None:
            return Decimal(repr(close))
        for market in self.markets.all():
            if market.symbol == symbol:
                return market.fallback_price
        raise KeyError(symbol)

    def funding_rate(self, symbol: str, settle_ms: int) -> Decimal:
        """Return the funding rate settled at ``settle_ms`` for ``symbol``."""
        rates = self.funding_rates
        if isinstance(rates, Decimal):
            return rates
        if isinstance(rates, Mapping):
            return Decimal(str(rates.get(symbol, Decimal(0))))
        return Decimal(str(rates(symbol, settle_ms)))


def next_funding_ms(now_ms: int) -> int:
    """Return the next 8-hourly settlement time (00:00, 08:00, 16:00 UTC) after ``now_ms``."""
    return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def settlements_between(start_ms: int, end_ms: int) -> list[int]:
    """Return the settlement times in ``(start_ms, end_ms]``."""
    first = next_funding_ms(start_ms)
    return list(range(first, end_ms + 1, FUNDING_INTERVAL_MS))
