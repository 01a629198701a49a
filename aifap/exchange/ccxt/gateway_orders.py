"""Placing orders exactly once, and position SL/TP as separate trigger orders.

``place_once`` is the heart of the zero-duplicates rule: every attempt after the first
looks the client id up at the exchange before sending again, so an order whose
response was lost is found instead of being placed twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from aifap.core.errors import GatewayError, OrderRejectedError
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Order, OrderRequest, OrderStatus, Side, rejected_order
from aifap.exchange.ccxt import gateway_convert as convert
from aifap.exchange.ccxt.gateway_client import ClientPool
from aifap.exchange.ccxt.symbols import to_unified
from aifap.retry import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")


class OrderDesk:
    """Send orders and trigger orders through a ``ClientPool`` under a retry policy."""

    def __init__(self, pool: ClientPool, policy: RetryPolicy) -> None:
        self.pool = pool
        self.quirks = pool.quirks
        self.market_type = pool.config.market_type
        self.policy = policy
        # client ids this process has sent at least once: a later call (the runner
        # retrying a cycle after RetryExhaustedError) must look them up first too
        self.attempted: set[str] = set()

    def unified(self, symbol: str) -> str:
        """Return ccxt's unified symbol for a compact one."""
        return to_unified(symbol, self.market_type)

    def find(self, client_id: str, symbol: str) -> Order | None:
        """Return the order with ``client_id`` at the exchange, or None (one request)."""
        unified = self.unified(symbol)
        if self.quirks.client_id_lookup == "open_then_closed":
            params = {**self.quirks.fetch_order_params, self.quirks.client_id_field: client_id}
            rows = self.pool.lookup("fetch_open_orders", unified, None, None, params) or []
            if not rows:
                rows = self.pool.lookup("fetch_closed_orders", unified, None, None, params) or []
            raw = next((r for r in rows if r.get("clientOrderId") in (None, client_id)), None)
        else:
            params = {**self.quirks.fetch_order_params, "clientOrderId": client_id}
            raw = self.pool.lookup("fetch_order", None, unified, params)
        if not raw or raw.get("id") is None:
            return None
        found = convert.order(raw)
        if not found.client_id:
            found = _with(found, client_id=client_id)
        return found

    def order_params(
        self, request: OrderRequest, *, preset: bool, reference_price: Decimal | None
    ) -> dict[str, Any]:
        """Return the ccxt params of one order (client id, reduce-only, preset SL/TP)."""
        params: dict[str, Any] = {"clientOrderId": request.client_id}
        if request.reduce_only:
            params["reduceOnly"] = True
        if preset and not request.reduce_only:
            if request.stop_loss is not None:
                params["stopLoss"] = {"triggerPrice": float(request.stop_loss)}
            if request.take_profit is not None:
                params["takeProfit"] = {"triggerPrice": float(request.take_profit)}
        if (
            self.market_type is MarketType.SPOT
            and request.side is Side.BUY
            and request.price is None
            and self.quirks.spot_market_buy_needs_price
        ):
            if reference_price is None:
                raise OrderRejectedError(
                    f"{request.symbol}: a spot market buy on {self.quirks.name} needs a "
                    "reference price, was unavailable"
                )
            params["cost"] = float(request.amount * reference_price)
        return params

    def place_once(
        self, request: OrderRequest, spec: MarketSpec, params: Mapping[str, Any]
    ) -> Order:
        """Place ``request`` under the retry policy without ever placing it twice.

        Returns the order (status ``REJECTED`` with a reason when the exchange refuses
        it). Raises ``RetryExhaustedError`` when transient failures outlast the budget.
        """
        sent = request.client_id in self.attempted

        def attempt() -> Order:
            nonlocal sent
            if sent:
                existing = self.find(request.client_id, request.symbol)
                if existing is not None:
                    log.info(
                        "%s: order %s found after a failed attempt", spec.symbol, request.client_id
                    )
                    return existing
            sent = True
            self.attempted.add(request.client_id)
            try:
                raw = self.pool.call(
                    "create_order",
                    self.unified(request.symbol),
                    "market" if request.price is None else "limit",
                    request.side.value,
                    float(request.amount),
                    None if request.price is None else float(request.price),
                    dict(params),
                )
            except OrderRejectedError as exc:
                if self.pool.error_code(exc) in self.quirks.duplicate_client_id_codes:
                    existing = self.find(request.client_id, request.symbol)
                    if existing is not None:
                        return existing
                raise
            return _acknowledged(raw, request)

        try:
            placed = self.policy.call(_named(attempt, f"place {request.client_id}"))
        except OrderRejectedError as exc:
            return rejected_order(request, str(exc))
        if (
            self.pool.config.confirm_orders
            and request.price is None
            and placed.status in (OrderStatus.OPEN, OrderStatus.PENDING)
        ):
            confirmed = self.policy.call(
                _named(lambda: self.find(request.client_id, request.symbol), "confirm order")
            )
            if confirmed is not None:
                placed = confirmed
        return placed

    # ---- position SL/TP as trigger orders -------------------------------------------

    def trigger_orders(self, symbol: str) -> list[dict[str, Any]]:
        """Return the open SL/TP trigger orders of ``symbol`` as ccxt dicts."""
        params = dict(self.quirks.trigger_orders_params)
        rows = self.policy.call(
            _named(
                lambda: self.pool.call(
                    "fetch_open_orders", self.unified(symbol), None, None, params
                ),
                f"list trigger orders {symbol}",
            )
        )
        return list(rows or [])

    def cancel_trigger(self, symbol: str, raw: Mapping[str, Any]) -> None:
        """Cancel one trigger order (already gone counts as cancelled)."""
        params: dict[str, Any] = {"trigger": True}
        plan_type = (raw.get("info") or {}).get("planType")
        if plan_type:
            params["planType"] = plan_type
        self.policy.call(
            _named(
                lambda: self.pool.lookup("cancel_order", raw["id"], self.unified(symbol), params),
                f"cancel trigger order {symbol}",
            )
        )

    def place_trigger(
        self, symbol: str, size: Decimal, kind: str, price: Decimal, spec: MarketSpec
    ) -> None:
        """Place a reduce-only position stop (``kind`` take_profit or stop_loss)."""
        close_side = "sell" if size > 0 else "buy"
        trigger = spec.round_price(price)
        params: dict[str, Any] = {**self.quirks.stop_order_params}
        params["takeProfitPrice" if kind == "take_profit" else "stopLossPrice"] = float(trigger)
        if self.quirks.stop_reduce_only:
            params["reduceOnly"] = True
        sent = False

        def attempt() -> None:
            nonlocal sent
            if sent and any(trigger_price(row) == trigger for row in self.trigger_orders(symbol)):
                return
            sent = True
            self.pool.call(
                "create_order",
                self.unified(symbol),
                "market",
                close_side,
                float(abs(size)),
                None,
                params,
            )

        self.policy.call(_named(attempt, f"place {kind} {symbol}"))


def trigger_price(raw: Mapping[str, Any]) -> Decimal | None:
    """Return the trigger price of a ccxt trigger order."""
    for key in ("triggerPrice", "stopPrice", "takeProfitPrice", "stopLossPrice"):
        value = convert.dec(raw.get(key))
        if value is not None:
            return value
    return None


def classify_stops(
    rows: list[dict[str, Any]], long: bool, reference: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """Return (take profit, stop loss) among trigger orders of a position.

    A trigger above the reference price takes profit on a long and stops a short.
    """
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    for row in rows:
        price = trigger_price(row)
        if price is None:
            continue
        if (price > reference) == long:
            take_profit = price
        else:
            stop_loss = price
    return take_profit, stop_loss


def _acknowledged(raw: Mapping[str, Any], request: OrderRequest) -> Order:
    if raw.get("symbol") is None:
        raise GatewayError(f"{request.symbol}: the order acknowledgement had no symbol")
    placed = convert.order(raw, request.amount)
    return _with(
        placed,
        client_id=placed.client_id or request.client_id,
        reduce_only=request.reduce_only,
        take_profit=placed.take_profit or request.take_profit,
        stop_loss=placed.stop_loss or request.stop_loss,
        side=request.side,
        amount=request.amount,
    )


def _with(order: Order, **changes: Any) -> Order:
    from dataclasses import replace

    return replace(order, **changes)


def _named(fn: Callable[[], T], name: str) -> Callable[[], T]:
    fn.__qualname__ = name
    return fn
