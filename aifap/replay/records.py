"""What parity compares: each side (the session, its replay) as cycles, trades and funding.

Both sides are brought to one shape so the comparison and the decomposition never ask
where a number came from. Quantities are signed (buy > 0) and in base units times the
market's contract size; money is Decimal in the quote currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aifap.core.weights import TargetWeight

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill: when, what, how much, at what price, and what it cost.

    ``fee`` is in ``fee_currency``: the quote for futures and spot sells, the base coin
    for a spot buy (the venue takes it out of the coins received).
    """

    ts_ms: int
    symbol: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    reason: str
    client_id: str | None = None


@dataclass(slots=True)
class CycleView:
    """One side's rebalance at ``time_ms`` (the schedule's boundary, the bar close).

    ``ran``: the strategy was asked (False: the cycle was missed or skipped before the
    strategy ran, e.g. stale bars or the session was down). ``error``: the strategy
    raised or returned invalid output. ``planned``: each symbol's signed planned
    amount; ``orders``: the planned orders' client ids by symbol.
    """

    time_ms: int
    ran: bool
    targets: dict[str, TargetWeight] | None = None
    error: str | None = None
    planned: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, list[str]] = field(default_factory=dict)
    equity: Decimal | None = None
    prices: dict[str, Decimal] = field(default_factory=dict)
    weights: dict[str, Decimal] = field(default_factory=dict)
    state: Any = None
    number: int | None = None
    status: str | None = None
    reason: str | None = None
    order_states: dict[str, str] = field(default_factory=dict)  # client id -> final state


@dataclass(slots=True)
class SideView:
    """A whole side: cycles by boundary time, its trades in time order, funding paid."""

    name: str
    cycles: dict[int, CycleView]
    trades: list[Trade]
    funding_paid: Decimal
    reported_pv: Decimal
    pv_path: list[tuple[int, float]] = field(default_factory=list)


def same_target(a: TargetWeight | None, b: TargetWeight | None) -> bool:
    """Tell whether two targets for a symbol are the same (absent = weight 0, no stops)."""
    if a is None or b is None:
        other = a if b is None else b
        return other is None or (
            other.weight == 0 and other.take_profit is None and other.stop_loss is None
        )
    return (a.weight, a.take_profit, a.stop_loss) == (b.weight, b.take_profit, b.stop_loss)


def targets_json(targets: dict[str, TargetWeight] | None) -> dict[str, Any] | None:
    """Return targets as JSON-ready data (Decimals as strings; None stays None)."""
    if targets is None:
        return None
    return {
        s: {
            "weight": format(t.weight, "f"),
            "take_profit": None if t.take_profit is None else format(t.take_profit, "f"),
            "stop_loss": None if t.stop_loss is None else format(t.stop_loss, "f"),
        }
        for s, t in sorted(targets.items())
    }
