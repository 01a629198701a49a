"""Tell the session's own SL/TP executions apart from trades made by hand.

An exchange executes a position's stop as a new order with an id of its own, so its
fill does not carry any client id the session journaled, and a ccxt gateway reports
it as an ordinary trade. Counted as foreign, a stop that fired (while the session was
up or down) would make the next restart see a position "changed by hand" and refuse
to start. A fill not under one of our client ids is the session's stop when it is on
the closing side of the position the session's newest SL/TP belong to and its price
reached that stop (a stop loss at or through its price, a take profit at or beyond).

This price match is a FALLBACK, used only with gateways that cannot link a fired
trigger to its fill (``links_stop_fills`` false: the ccxt Binance/Bybit gateways; the
paper gateway books its stops with their reason anyway). It can mistake a close made
by hand near the stop for the stop. Where the venue links them (Bitget futures: the
trigger's history names the order it executed), the gateway marks the stop's fills
with reason ``STOP_LOSS``/``TAKE_PROFIT`` and the journal skips this match, so a
disowned fill there is always foreign.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from aifap.core.orders import Fill, FillReason, Side

TOLERANCE = Decimal("0.002")  # a trigger on the mark price may fill a little off it


@dataclass(frozen=True)
class SessionStops:
    """The newest SL/TP the session asked for on one symbol's position."""

    long: bool
    take_profit: Decimal | None
    stop_loss: Decimal | None


def _dec(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def session_stops(plans_json: Iterable[str]) -> dict[str, SessionStops]:
    """Return each symbol's newest stops from the executed plans' JSON, oldest plan first."""
    stops: dict[str, SessionStops] = {}
    for text in plans_json:
        plan = json.loads(text)
        for order in plan.get("orders", []):
            buy = order["side"] == Side.BUY.value
            long = (not buy) if order.get("reduce_only") else buy
            if order.get("leg") == "close":
                stops.pop(order["symbol"], None)
                continue
            stops[order["symbol"]] = SessionStops(
                long, _dec(order.get("take_profit")), _dec(order.get("stop_loss"))
            )
        for update in plan.get("stop_updates", []):
            held = stops.get(update["symbol"])
            if held is not None:
                stops[update["symbol"]] = SessionStops(
                    held.long, _dec(update.get("take_profit")), _dec(update.get("stop_loss"))
                )
    return stops


def stop_reason(fill: Fill, stops: dict[str, SessionStops]) -> FillReason | None:
    """Return STOP_LOSS / TAKE_PROFIT when ``fill`` is the execution of the session's stop."""
    held = stops.get(fill.symbol)
    if held is None or (fill.side is Side.SELL) != held.long:
        return None
    price, sl, tp = fill.price, held.stop_loss, held.take_profit
    if held.long:
        if sl is not None and price <= sl * (1 + TOLERANCE):
            return FillReason.STOP_LOSS
        if tp is not None and price >= tp * (1 - TOLERANCE):
            return FillReason.TAKE_PROFIT
        return None
    if sl is not None and price >= sl * (1 - TOLERANCE):
        return FillReason.STOP_LOSS
    if tp is not None and price <= tp * (1 + TOLERANCE):
        return FillReason.TAKE_PROFIT
    return None
