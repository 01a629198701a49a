"""Positions and the portfolio the strategy and the planner see.

Weights follow the seed: ``weight = position margin / trader equity`` where margin
is taken at the mark price (``|size| × contract size × mark / leverage``) and equity
is the allocation plus realized PnL (compounding), marked to market.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Position:
    """An open position. ``size`` is signed: > 0 long, < 0 short (contracts for futures)."""

    symbol: str
    size: Decimal
    entry_price: Decimal
    mark_price: Decimal
    leverage: Decimal = Decimal(1)
    contract_size: Decimal = Decimal(1)
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    funding_fee: Decimal = Decimal(0)  # funding paid (+) or received (-) since the position opened

    @property
    def side(self) -> str:
        """Return ``'long'`` or ``'short'``."""
        return "long" if self.size > 0 else "short"

    @property
    def notional(self) -> Decimal:
        """Return the position's value at the mark price (always >= 0)."""
        return abs(self.size) * self.contract_size * self.mark_price

    @property
    def margin(self) -> Decimal:
        """Return the margin at the mark price: notional / leverage."""
        return self.notional / self.leverage

    @property
    def unrealized_pnl(self) -> Decimal:
        """Return side × (mark − entry) × |size| × contract size."""
        return self.size * self.contract_size * (self.mark_price - self.entry_price)

    def marked(self, price: Decimal) -> Position:
        """Return this position marked at ``price``."""
        return replace(self, mark_price=price)


_new = object.__new__
(_symbol, _size, _entry, _mark, _leverage, _cs, _tp, _sl, _funding) = (
    Position.__dict__[f.name].__set__ for f in fields(Position)
)


def new_position(
    symbol: str,
    size: Decimal,
    entry_price: Decimal,
    mark_price: Decimal,
    leverage: Decimal,
    contract_size: Decimal,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
    funding_fee: Decimal,
) -> Position:
    """Return ``Position(symbol, size, ...)``, its slots set directly (the ledger's per-fill path).

    The same object the constructor builds (it checks nothing either) at ~60 % of the
    cost: the frozen dataclass ``__init__`` looks ``object.__setattr__`` up per field.
    """
    p = _new(Position)
    _symbol(p, symbol)
    _size(p, size)
    _entry(p, entry_price)
    _mark(p, mark_price)
    _leverage(p, leverage)
    _cs(p, contract_size)
    _tp(p, take_profit)
    _sl(p, stop_loss)
    _funding(p, funding_fee)
    return p


@dataclass(frozen=True, slots=True)
class Portfolio:
    """A trader's account view: wallet balance plus open positions.

    ``balance`` is the wallet balance (allocation + realized PnL − fees ± funding; for
    spot, cash plus the cost basis of holdings), never an exchange "equity" that
    already includes unrealized PnL. ``cash`` is the free quote where it is known (the
    ledger's cash); the planner caps spot buys at it.
    """

    balance: Decimal
    positions: Mapping[str, Position] = field(default_factory=dict)
    cash: Decimal | None = None  # free quote (spot: what buys may spend); None: unknown

    @property
    def unrealized_pnl(self) -> Decimal:
        """Return the sum of the positions' unrealized PnL."""
        return sum((p.unrealized_pnl for p in self.positions.values()), Decimal(0))

    @property
    def equity(self) -> Decimal:
        """Return PV: wallet balance + unrealized PnL."""
        return self.balance + self.unrealized_pnl

    def weight(self, symbol: str) -> Decimal:
        """Return the signed weight of ``symbol``: margin / equity (0 when not held)."""
        position = self.positions.get(symbol)
        equity = self.equity
        if position is None or equity <= 0:
            return Decimal(0)
        sign = 1 if position.size > 0 else -1
        return sign * position.margin / equity

    @property
    def weights(self) -> dict[str, Decimal]:
        """Return the signed weight of every held symbol."""
        return {symbol: self.weight(symbol) for symbol in self.positions}
