"""Partial fills: make futures market orders fill part of their size now, the rest later.

``BitgetEmulator.partial_fills(ratio=0.4, symbol="BTCUSDT", count=1)`` adds a rule:
the next ``count`` matching futures market orders (every one when ``count`` is None)
execute ``ratio`` of their size at once (rounded down to the market's size step) and
stay open as ``partially_filled``, listed in ``orders-pending`` with their
``baseVolume`` so far, exactly as Bitget shows a market order that swept thin books.
The rest executes as a taker at the open of the next price step of the symbol: the next
1m bar the engine processes (``advance()``, done before every request) or the next
``set_price``. A size too small to split (the part would round to 0 or to the whole)
fills at once. ``partial_fills(None)`` removes every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal


@dataclass(slots=True)
class PartialFillRule:
    """One partial-fill rule (see the module docstring).

    Args:
        ratio: the share of an order's size that fills at once, in (0, 1).
        symbol: the compact symbol it applies to (None: every symbol).
        count: how many more orders it applies to (None: every order).
        fired: how many orders it split so far.
    """

    ratio: Decimal
    symbol: str | None = None
    count: int | None = None
    fired: int = 0

    def matches(self, symbol: str) -> bool:
        """Tell whether the rule still applies to an order in ``symbol``."""
        if self.count is not None and self.count <= 0:
            return False
        return self.symbol is None or self.symbol.upper() == symbol.upper()


class PartialFills:
    """The emulator's partial-fill rules (callers hold the emulator's lock)."""

    def __init__(self) -> None:
        self._rules: list[PartialFillRule] = []

    def add(self, rule: PartialFillRule) -> PartialFillRule:
        """Add a rule; the first matching rule decides for an order."""
        if not Decimal(0) < rule.ratio < Decimal(1):
            raise ValueError(f"partial fill ratio must be in (0, 1), was {rule.ratio}")
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    @property
    def rules(self) -> list[PartialFillRule]:
        """A copy of the rules."""
        return list(self._rules)

    def first_part(self, symbol: str, size: Decimal, decimals: int) -> Decimal:
        """Return how much of a market order of ``size`` fills at once (all of it if no rule).

        Consumes one use of the matching rule when it splits the order.
        """
        rule = next((r for r in self._rules if r.matches(symbol)), None)
        if rule is None:
            return size
        part = (size * rule.ratio).quantize(Decimal(1).scaleb(-decimals), ROUND_DOWN)
        if part <= 0 or part >= size:
            return size
        if rule.count is not None:
            rule.count -= 1
        rule.fired += 1
        return part
