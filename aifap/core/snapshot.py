"""The account snapshot finwatcher records every interval and alerts diff."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from aifap.core.portfolio import Position


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One point-in-time view of a trader's account and its metrics.

    ``pv`` = wallet balance + unrealized PnL; ``roe`` = (pv − initial) / initial as a
    fraction; ``sharpe`` and ``max_drawdown`` come from the equity series so far
    (see ``aifap.core.metrics``). ``funding_fees`` is the total since the session began.
    """

    session_id: str
    timestamp: datetime
    balance: Decimal
    positions: tuple[Position, ...] = field(default_factory=tuple)
    pv: Decimal = Decimal(0)
    roe: float = 0.0
    unrealized_pnl: Decimal = Decimal(0)
    sharpe: float | None = None
    max_drawdown: float = 0.0
    funding_fees: Decimal = Decimal(0)

    def position(self, symbol: str) -> Position | None:
        """Return the position in ``symbol``, or None if there is none."""
        return next((p for p in self.positions if p.symbol == symbol), None)
