"""JSON forms of orders, plans and positions for the hand-off file and the journal.

Decimals travel as strings so no amount is ever rounded through a float.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aifap.core.orders import OrderRequest, Side
from aifap.core.planner import DroppedLeg, Plan, StopUpdate
from aifap.core.portfolio import Position
from aifap.core.weights import TargetWeight


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_to_dict(order: OrderRequest) -> dict[str, Any]:
    """Return an ``OrderRequest`` as JSON-ready data."""
    return {
        "client_id": order.client_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "amount": _dec(order.amount),
        "reduce_only": order.reduce_only,
        "take_profit": _dec(order.take_profit),
        "stop_loss": _dec(order.stop_loss),
        "price": _dec(order.price),
        "leg": order.leg,
    }


def order_from_dict(data: dict[str, Any]) -> OrderRequest:
    """Return the ``OrderRequest`` of :func:`order_to_dict`'s output."""
    amount = _undec(data["amount"])
    assert amount is not None
    return OrderRequest(
        client_id=data["client_id"],
        symbol=data["symbol"],
        side=Side(data["side"]),
        amount=amount,
        reduce_only=bool(data["reduce_only"]),
        take_profit=_undec(data.get("take_profit")),
        stop_loss=_undec(data.get("stop_loss")),
        price=_undec(data.get("price")),
        leg=data.get("leg", "open"),
    )


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """Return a ``Plan`` as JSON-ready data."""
    return {
        "orders": [order_to_dict(o) for o in plan.orders],
        "stop_updates": [
            {
                "client_id": s.client_id,
                "symbol": s.symbol,
                "take_profit": _dec(s.take_profit),
                "stop_loss": _dec(s.stop_loss),
            }
            for s in plan.stop_updates
        ],
        "dropped": [
            {"symbol": d.symbol, "leg": d.leg, "amount": _dec(d.amount), "reason": d.reason}
            for d in plan.dropped
        ],
        "equity": _dec(plan.equity),
        "current_weights": {k: _dec(v) for k, v in plan.current_weights.items()},
    }


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Return the ``Plan`` of :func:`plan_to_dict`'s output."""
    return Plan(
        orders=tuple(order_from_dict(o) for o in data["orders"]),
        stop_updates=tuple(
            StopUpdate(
                s["client_id"], s["symbol"], _undec(s["take_profit"]), _undec(s["stop_loss"])
            )
            for s in data.get("stop_updates", [])
        ),
        dropped=tuple(
            DroppedLeg(d["symbol"], d["leg"], Decimal(d["amount"]), d["reason"])
            for d in data.get("dropped", [])
        ),
        equity=Decimal(data.get("equity") or 0),
        current_weights={k: Decimal(v) for k, v in data.get("current_weights", {}).items()},
    )


def targets_to_dict(targets: dict[str, TargetWeight] | None) -> dict[str, Any] | None:
    """Return parsed targets as JSON-ready data (None stays None: keep positions)."""
    if targets is None:
        return None
    return {
        s: {
            "weight": _dec(t.weight),
            "take_profit": _dec(t.take_profit),
            "stop_loss": _dec(t.stop_loss),
        }
        for s, t in targets.items()
    }


def targets_from_dict(data: dict[str, Any] | None) -> dict[str, TargetWeight] | None:
    """Return the targets of :func:`targets_to_dict`'s output."""
    if data is None:
        return None
    return {
        s: TargetWeight(
            s, Decimal(t["weight"]), _undec(t.get("take_profit")), _undec(t.get("stop_loss"))
        )
        for s, t in data.items()
    }


def positions_to_dict(positions: list[Position] | tuple[Position, ...]) -> dict[str, Any]:
    """Return positions by symbol as JSON-ready data."""
    return {
        p.symbol: {
            "size": _dec(p.size),
            "entry_price": _dec(p.entry_price),
            "mark_price": _dec(p.mark_price),
            "leverage": _dec(p.leverage),
            "take_profit": _dec(p.take_profit),
            "stop_loss": _dec(p.stop_loss),
        }
        for p in positions
    }


def dumps(data: Any) -> str:
    """Return compact, key-sorted JSON (Decimals as strings)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON serializable")
