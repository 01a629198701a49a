"""Market specifications: what an exchange allows for one symbol, and rounding to it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from enum import StrEnum


class MarketType(StrEnum):
    """Spot (no shorts, no leverage) or USDT-margined perpetual futures."""

    SPOT = "spot"
    FUTURES = "futures"


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """Convert a number to Decimal through its shortest repr (0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def round_to_step(amount: Decimal, step: Decimal) -> Decimal:
    """Round ``amount`` toward zero to a multiple of ``step`` (amounts never round up)."""
    if step <= 0:
        return amount
    return (amount / step).to_integral_value(ROUND_DOWN) * step


def round_price(price: Decimal, step: Decimal) -> Decimal:
    """Round ``price`` to the nearest multiple of ``step`` (ties to even)."""
    if step <= 0:
        return price
    return (price / step).to_integral_value(ROUND_HALF_EVEN) * step


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """What one market allows: precision steps, minimums, contract size, leverage.

    ``symbol`` is the compact exchange id the user writes (``BTCUSDT``). Amounts are
    in contracts for futures (base units × ``contract_size``) and base units for spot.
    """

    symbol: str
    market_type: MarketType
    base: str
    quote: str
    amount_step: Decimal = Decimal("0.0001")
    price_step: Decimal = Decimal("0.01")
    min_amount: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    contract_size: Decimal = Decimal(1)
    max_leverage: int = 1

    def __post_init__(self) -> None:
        for name in ("amount_step", "price_step", "min_amount", "min_notional", "contract_size"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(
                    f"{self.symbol}: {name} must be a finite Decimal >= 0, was {value!r}"
                )
        if self.contract_size <= 0:
            raise ValueError(f"{self.symbol}: contract_size must be > 0, was {self.contract_size}")
        if self.max_leverage < 1:
            raise ValueError(f"{self.symbol}: max_leverage must be >= 1, was {self.max_leverage}")

    @property
    def is_futures(self) -> bool:
        """Tell whether this market trades perpetual futures."""
        return self.market_type is MarketType.FUTURES

    def round_amount(self, amount: Decimal) -> Decimal:
        """Round an order amount toward zero to the amount precision."""
        return round_to_step(amount, self.amount_step)

    def round_price(self, price: Decimal) -> Decimal:
        """Round a price to the price precision."""
        return round_price(price, self.price_step)

    def notional(self, amount: Decimal, price: Decimal) -> Decimal:
        """Return the quote value of ``amount`` at ``price``."""
        return abs(amount) * self.contract_size * price

    def below_minimum(self, amount: Decimal, price: Decimal) -> str | None:
        """Return why an order of ``amount`` at ``price`` is too small, or None if it is not."""
        if abs(amount) <= 0:
            return "amount rounds to 0 at the amount precision"
        if abs(amount) < self.min_amount:
            return f"amount must be >= {self.min_amount}, was {abs(amount)}"
        notional = self.notional(amount, price)
        if notional < self.min_notional:
            return f"notional must be >= {self.min_notional}, was {notional}"
        return None
