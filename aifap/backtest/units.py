"""Exact integer units for the backtester's integer book: price grids, scales, exponents.

A Decimal amount, price or cash balance of a run is an integer number of a fixed unit
(``10^-digits``) when every value of its kind lies on that grid: :func:`grid` finds the
finest grid a run's prices lie on, :func:`units_of` converts a Decimal, :func:`as_decimal`
converts back without rounding, and :class:`Exponents` keeps the exponents the Decimal
ledger's values would carry, for the texts that print them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal

import numpy as np

from aifap.core.markets import MarketSpec

ZERO = Decimal(0)
MAX_DIGITS = 12  # the finest price grid looked for (decimals)
CHUNK = 1 << 18  # rows per pass of the grid search
EXACT = Context(prec=400)  # integers to Decimal without rounding


def exponent(value: Decimal) -> int:
    """Return a finite Decimal's exponent (``Decimal('0.50')`` → -2)."""
    found = value.as_tuple().exponent
    assert isinstance(found, int)  # finite values only
    return found


def as_decimal(value: int, digits: int, exp: int | None = None) -> Decimal:
    """Return ``value × 10^-digits``, exact, with the exponent ``exp`` if given.

    The Decimal ledger's values carry exponents their operations give them (``2E-9``,
    ``0.100000``); texts that print a value use the same one (see :class:`Exponents`).
    """
    number = Decimal(value).scaleb(-digits, context=EXACT)
    return number if exp is None else number.quantize(Decimal(1).scaleb(exp), context=EXACT)


def decimals(value: Decimal) -> int:
    """Return how many decimals ``value`` needs (0 for an integer)."""
    return max(-exponent(value.normalize()), 0)


def grid(values: np.ndarray, start: int = 0) -> int | None:
    """Return the fewest decimals ``k >= start`` every value is an exact repr on, or None.

    A float ``x`` is on the ``10^-k`` grid when ``n = rint(x × 10^k)`` has at most 15
    digits and ``n / 10^k == x``: then ``repr(x)`` (the Decimal the ledger would use)
    has the value ``n × 10^-k`` (decimals of <= 15 digits round-trip through float64).
    """
    flat = values.reshape(-1)
    for k in range(start, MAX_DIGITS + 1):
        scale = 10.0**k
        ok = True
        for begin in range(0, flat.size, CHUNK):
            part = flat[begin : begin + CHUNK]
            n = np.rint(part * scale)
            if not (np.abs(n) < 1e15).all() or not (n / scale == part).all():
                ok = False
                break
        if ok:
            return k
    return None


def units_of(value: Decimal, digits: int) -> int | None:
    """Return ``value × 10^digits`` as an int, or None when it is not a whole number."""
    scaled = value.scaleb(digits)
    return int(scaled) if scaled == scaled.to_integral_value() else None


class Exponents:
    """The exponents the Decimal ledger's values would carry, for the texts that print them.

    A Decimal keeps the exponent its operations give it: a spot holding bought with a
    fee of rate × amount ends in ``exp(step) + exp(rate)`` (``2E-9``, not ``2.000E-9``),
    and the cash in the smallest exponent of all that moved it. The book's integers
    have one fixed unit, so the few texts that print a holding or the cash (dust, a buy
    capped at the cash) take these exponents, to read as the ledger's texts read. The
    cash's exponent needs the exponent of each fill price's ``repr``, looked at only
    while it could still lower the cash's (``buy_floor``/``sell_floor`` bound it).
    """

    def __init__(
        self, specs: Sequence[MarketSpec], rate: Decimal, capital: Decimal, grids: list[int]
    ) -> None:
        """Derive the exponents from the markets, the fee rate, the capital and price grids."""
        self.rate = exponent(rate)
        self.free = rate == ZERO  # a zero fee still moves the cash's exponent (see bought)
        self.step = [exponent(m.amount_step) for m in specs]
        self.unit = [exponent(m.amount_step) + exponent(m.contract_size) for m in specs]
        self.tick = [exponent(m.price_step) for m in specs]
        fee = min(self.rate, 0)
        # a holding: 0 + (amount − rate × amount)
        self.size = [min(0, s if self.free else min(s, self.rate + s)) for s in self.step]
        self.cash = exponent(capital)
        self.sell_floor = [u - k + fee for u, k in zip(self.unit, grids, strict=True)]
        self.buy_floor = [
            u - k + (fee if self.free else 0) for u, k in zip(self.unit, grids, strict=True)
        ]

    def moved(self, col: int, price: float) -> int:
        """Return the exponent of ``amount × contract size × price`` at ``price``."""
        return self.unit[col] + exponent(Decimal(repr(price)))

    def sold(self, col: int, price: float) -> int:
        """Return the exponent a sell at ``price`` moves the cash by (its proceeds and fee)."""
        return self.moved(col, price) + min(self.rate, 0)

    def stopped(self, col: int, price: float | None) -> int:
        """Return the exponent a stop's sale of the whole holding moves the cash by.

        ``price`` is the open it filled at (a gap), or None: at its level, a whole tick.
        The holding carries the exponent of its base fees (``size``), not the step's.
        """
        held = (
            self.size[col] + exponent(Decimal(repr(price)))
            if price is not None
            else (self.size[col] + self.tick[col])
        )
        return held + min(self.rate, 0)

    def bought(self, col: int, price: float) -> int:
        """Return the exponent a buy at ``price`` moves the cash by."""
        moved = self.moved(col, price)
        # a zero fee is no base fee: the cash pays its quote value too, 0 × amount × price
        return moved + min(self.rate, 0) if self.free else moved
