"""Order validation and placement: futures, spot, TP/SL and plan orders, cancels, leverage.

Every check raises ``BitgetError`` with the code ccxt maps to the right exception
(45110 minimum → InvalidOrder, 40762/43012 → InsufficientFunds, 40808 precision →
InvalidOrder, 40786 duplicate clientOid, 40797 leverage above the maximum, …).
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from aifap.core.markets import MarketType
from aifap.exchange.emulator.engine import Engine, fee_of
from aifap.exchange.emulator.errors import BitgetError
from aifap.exchange.emulator.ledger import ZERO, Account, Order, PlanOrder
from aifap.exchange.emulator.markets import EmulatorMarket

CLIENT_OID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
TPSL_TYPES = ("pos_profit", "pos_loss", "profit_plan", "loss_plan")
Params = dict[str, Any]


def dec(params: Params, name: str, required: bool = True) -> Decimal | None:
    """Return a Decimal parameter (None when absent or 0-like and optional)."""
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BitgetError("40019", f"Parameter {name} cannot be empty")
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BitgetError("40017", f"Parameter verification failed: {name} was {raw!r}") from None
    if not value.is_finite():
        raise BitgetError("40017", f"Parameter verification failed: {name} was {raw!r}")
    return value


def _check_scale(name: str, value: Decimal, decimals: int) -> None:
    if value != value.quantize(Decimal(1).scaleb(-decimals), ROUND_DOWN):
        raise BitgetError(
            "40808",
            f"Parameter verification exception {name} checkBDScale "
            f"error value={value} checkScale={decimals}",
        )


def _choice(params: Params, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = str(params.get(name) or default or "").lower()
    if value not in allowed:
        raise BitgetError(
            "40017",
            f"Parameter verification failed: {name} must be one of "
            f"{', '.join(allowed)}, was {params.get(name)!r}",
        )
    return value


def client_oid(engine: Engine, account: Account, params: Params) -> str:
    """Validate the clientOid (or make one) and refuse duplicates per the dedupe rule."""
    oid = params.get("clientOid")
    if oid is None or oid == "":
        return engine.next_id()
    oid = str(oid)
    if not CLIENT_OID.match(oid):
        raise BitgetError(
            "40017",
            "Parameter verification failed: clientOid must be 1 to 36 "
            f"characters of [A-Za-z0-9_-], was {oid!r}",
        )
    seen = account.client_oids.get(oid)
    if seen is not None:
        existing = account.orders.get(seen) or account.plans.get(seen)
        if engine.config.dedupe_client_oids or (existing is not None and existing.is_open):
            raise BitgetError("40786", "Duplicate clientOid")
    return oid


def _new_order(
    engine: Engine,
    account: Account,
    p: Params,
    market: EmulatorMarket,
    side: str,
    order_type: str,
    size: Decimal,
    price: Decimal | None,
    now: int,
    demo: bool,
    **fields: Any,
) -> Order:
    # a validated regular order of ``market``, registered; ``fields``: the kind's own
    oid = client_oid(engine, account, p)
    order = Order(
        engine.next_id(), oid, market.symbol, market.kind, side, order_type, size, price, now,
        force=str(p.get("force") or "gtc").lower(), updated_ms=now, demo=demo, **fields,
    )  # fmt: skip
    _register(account, order)
    return order


def _register(account: Account, order: Order | PlanOrder) -> None:
    account.client_oids[order.client_oid] = order.order_id
    if isinstance(order, Order):
        account.orders[order.order_id] = order
    else:
        account.plans[order.order_id] = order


def _check_stops(long: bool, price: Decimal, tp: Decimal | None, sl: Decimal | None) -> None:
    side = "long" if long else "short"
    if tp is not None and (tp <= price if long else tp >= price):
        relation = "above" if long else "below"
        raise BitgetError(
            "43011",
            f"The take profit price of a {side} position must be "
            f"{relation} the current price {price}, was {tp}",
        )
    if sl is not None and (sl >= price if long else sl <= price):
        relation = "below" if long else "above"
        raise BitgetError(
            "43011",
            f"The stop loss price of a {side} position must be "
            f"{relation} the current price {price}, was {sl}",
        )


def place_futures(engine: Engine, account: Account, p: Params, now: int, demo: bool) -> Order:
    """Validate and place a USDT-M futures order (one-way mode); fill it if it can."""
    market = engine.market(MarketType.FUTURES, str(p.get("symbol") or ""))
    side = _choice(p, "side", ("buy", "sell"))
    order_type = _choice(p, "orderType", ("market", "limit"))
    if p.get("tradeSide"):
        raise BitgetError(
            "40774",
            "The order type for unilateral position must also be the unilateral position type.",
        )
    size = dec(p, "size")
    assert size is not None
    _check_scale("size", size, market.amount_decimals)
    price = dec(p, "price", required=order_type == "limit")
    if price is not None:
        _check_scale("price", price, market.price_decimals)
        if price <= 0:
            raise BitgetError("43011", "The parameter does not meet the specification price <= 0")
    reduce_only = str(p.get("reduceOnly") or "NO").upper() == "YES"
    tp, sl = dec(p, "presetStopSurplusPrice", False), dec(p, "presetStopLossPrice", False)
    current = engine.pricing.price(market.symbol, now)
    if tp is not None or sl is not None:
        _check_stops(side == "buy", current, tp, sl)
    position = account.positions.get(market.symbol)
    held = position.size if position else ZERO
    reducible = abs(held) if held and (held > 0) == (side == "sell") else ZERO
    if reduce_only and reducible == 0:
        raise BitgetError("22002", "No position to close")
    fill_price = price if order_type == "limit" else current
    assert fill_price is not None
    opening = ZERO if reduce_only else max(size - reducible, ZERO)
    if opening:
        if size < market.min_amount:
            raise BitgetError(
                "45110",
                f"less than the minimum amount {market.min_amount} {market.base}, was {size}",
            )
        if size * fill_price < market.min_notional:
            raise BitgetError(
                "45110",
                f"less than the minimum amount {market.min_notional} USDT, was {size * fill_price}",
            )
        leverage = engine.leverage_of(account, market.symbol)
        needed = opening * fill_price / leverage + fee_of(size * fill_price, market.taker_fee)
        if needed > account.futures_available(engine.pricing, now):
            raise BitgetError("40762", "The order amount exceeds the balance")
    order = _new_order(
        engine, account, p, market, side, order_type, size, price, now, demo,
        reduce_only=reduce_only,
        margin_mode=account.margin_mode.get(market.symbol, "crossed"),
        leverage=engine.leverage_of(account, market.symbol),
        preset_tp=tp,
        preset_sl=sl,
    )  # fmt: skip
    crosses = price is None or (price >= current if side == "buy" else price <= current)
    if crosses and order.force != "post_only":
        amount = min(size, reducible) if reduce_only else size
        if order_type == "market":  # a partial-fill rule may hold part back for later
            amount = engine.partials.first_part(market.symbol, amount, market.amount_decimals)
        engine.fill_futures(account, order, amount, current, now, "taker")
        if reduce_only and amount == min(size, reducible):
            order.status = "filled"
    elif order.force in ("ioc", "fok") or (crosses and order.force == "post_only"):
        engine.cancel_order(account, order, now)
    return order


def place_spot(engine: Engine, account: Account, p: Params, now: int, demo: bool) -> Order:
    """Validate and place a spot order; market buys are sized in the quote coin."""
    market = engine.market(MarketType.SPOT, str(p.get("symbol") or ""))
    side = _choice(p, "side", ("buy", "sell"))
    order_type = _choice(p, "orderType", ("market", "limit"))
    size = dec(p, "size")
    assert size is not None
    price = dec(p, "price", required=order_type == "limit")
    current = engine.pricing.price(market.symbol, now)
    quote_sized = order_type == "market" and side == "buy"
    _check_scale("size", size, 8 if quote_sized else market.amount_decimals)
    if price is not None:
        _check_scale("price", price, market.price_decimals)
    notional = size if quote_sized else size * (price or current)
    if notional < market.min_notional:
        raise BitgetError(
            "45110", f"less than the minimum amount {market.min_notional} USDT, was {notional}"
        )
    spend_coin = market.quote if side == "buy" else market.base
    spend = notional if side == "buy" else size
    if account.spot.get(spend_coin, ZERO) < spend:
        raise BitgetError("43012", f"Insufficient balance of {spend_coin}")
    order = _new_order(
        engine, account, p, market, side, order_type, size, price, now, demo,
        fee_coin=market.base if side == "buy" else market.quote, leverage=1,
    )  # fmt: skip
    if order_type == "market":
        base = (size / current).quantize(Decimal("1e-8"), ROUND_DOWN) if quote_sized else size
        engine.fill_spot(account, order, base, current, now, "taker")
        if quote_sized:  # the quote amount is spent: the base bought is rounded down to 1e-8
            order.quote_filled = size
            order.status = "filled"
        return order
    account.spot[spend_coin] -= spend
    account.spot_frozen[spend_coin] += spend
    assert price is not None
    if price >= current if side == "buy" else price <= current:
        engine.fill_spot(account, order, size, price, now, "taker")
    return order


def _hold_side_closing(p: Params, position_size: Decimal | None) -> str:
    hold = str(p.get("holdSide") or "").lower()
    if hold in ("buy", "long"):
        return "sell"
    if hold in ("sell", "short"):
        return "buy"
    if position_size is not None:
        return "sell" if position_size > 0 else "buy"
    raise BitgetError("40019", "Parameter holdSide cannot be empty")


def place_tpsl(engine: Engine, account: Account, p: Params, now: int) -> PlanOrder:
    """Place a separate TP/SL trigger order on an open position (``place-tpsl-order``)."""
    market = engine.market(MarketType.FUTURES, str(p.get("symbol") or ""))
    plan_type = _choice(p, "planType", TPSL_TYPES)
    trigger = dec(p, "triggerPrice")
    assert trigger is not None
    _check_scale("triggerPrice", trigger, market.price_decimals)
    position = account.positions.get(market.symbol)
    closing = _hold_side_closing(p, position.size if position else None)
    if position is None or (position.size > 0) != (closing == "sell"):
        raise BitgetError("22002", "No position to close")
    size = dec(p, "size", required=plan_type in ("profit_plan", "loss_plan"))
    if size is not None and plan_type in ("profit_plan", "loss_plan"):
        _check_scale("size", size, market.amount_decimals)
    long = closing == "sell"
    current = engine.pricing.price(market.symbol, now)
    profit = plan_type.endswith("profit") or plan_type == "profit_plan"
    _check_stops(long, current, trigger if profit else None, None if profit else trigger)
    oid = client_oid(engine, account, p)
    if plan_type.startswith("pos_"):  # one position TP and one SL: a new one replaces it
        for old in account.plans.values():
            if old.symbol == market.symbol and old.plan_type == plan_type and old.is_open:
                old.status, old.updated_ms = "cancelled", now
    execute = dec(p, "executePrice", False)
    plan = PlanOrder(
        engine.next_id(),
        oid,
        market.symbol,
        plan_type,
        closing,
        trigger,
        rises=(long == profit),
        created_ms=now,
        size=None if plan_type.startswith("pos_") else size,
        execute_price=execute if execute else None,
        trigger_type=str(p.get("triggerType") or "mark_price"),
        order_type="limit" if execute else "market",
        updated_ms=now,
        margin_mode=account.margin_mode.get(market.symbol, "crossed"),
    )
    _register(account, plan)
    return plan


def place_plan(engine: Engine, account: Account, p: Params, now: int) -> PlanOrder:
    """Place a ``normal_plan`` trigger order (``place-plan-order``)."""
    market = engine.market(MarketType.FUTURES, str(p.get("symbol") or ""))
    plan_type = _choice(p, "planType", ("normal_plan",), "normal_plan")
    side = _choice(p, "side", ("buy", "sell"))
    order_type = _choice(p, "orderType", ("market", "limit"))
    trigger = dec(p, "triggerPrice")
    size = dec(p, "size")
    assert trigger is not None
    assert size is not None
    _check_scale("size", size, market.amount_decimals)
    _check_scale("triggerPrice", trigger, market.price_decimals)
    if size < market.min_amount:
        raise BitgetError(
            "45110", f"less than the minimum amount {market.min_amount} {market.base}, was {size}"
        )
    execute = dec(p, "executePrice", False) or dec(p, "price", False)
    current = engine.pricing.price(market.symbol, now)
    oid = client_oid(engine, account, p)
    plan = PlanOrder(
        engine.next_id(),
        oid,
        market.symbol,
        plan_type,
        side,
        trigger,
        rises=trigger > current,
        created_ms=now,
        size=size,
        execute_price=execute if order_type == "limit" else None,
        trigger_type=str(p.get("triggerType") or "mark_price"),
        order_type=order_type,
        reduce_only=str(p.get("reduceOnly") or "NO").upper() == "YES",
        updated_ms=now,
        margin_mode=account.margin_mode.get(market.symbol, "crossed"),
    )
    _register(account, plan)
    return plan


def set_leverage(engine: Engine, account: Account, p: Params) -> int:
    """Set the leverage of a symbol; above the market's maximum is refused (40797)."""
    market: EmulatorMarket = engine.market(MarketType.FUTURES, str(p.get("symbol") or ""))
    raw = p.get("leverage") or p.get("longLeverage") or p.get("shortLeverage")
    try:
        leverage = int(Decimal(str(raw)))
    except (InvalidOperation, TypeError, ValueError):
        raise BitgetError("40019", "Parameter leverage cannot be empty") from None
    if not 1 <= leverage <= market.max_leverage:
        raise BitgetError(
            "40797",
            f"Exceeded the maximum settable leverage: leverage must be "
            f"1 to {market.max_leverage}, was {leverage}",
        )
    account.leverage[market.symbol] = leverage
    position = account.positions.get(market.symbol)
    if position is not None:
        position.leverage = leverage
    return leverage


def set_margin_mode(engine: Engine, account: Account, p: Params) -> str:
    """Set crossed/isolated for a symbol; refused while a position or order is open."""
    market = engine.market(MarketType.FUTURES, str(p.get("symbol") or ""))
    mode = _choice(p, "marginMode", ("crossed", "isolated"))
    busy = market.symbol in account.positions or any(
        o.symbol == market.symbol and o.is_open and o.kind is MarketType.FUTURES
        for o in account.orders.values()
    )
    if busy and account.margin_mode.get(market.symbol, "crossed") != mode:
        raise BitgetError(
            "45117", "Currently holding positions or orders, the margin mode cannot be adjusted"
        )
    account.margin_mode[market.symbol] = mode
    return mode


def set_position_mode(account: Account, p: Params) -> str:
    """Accept one-way mode (the only mode the emulator implements)."""
    mode = _choice(p, "posMode", ("one_way_mode", "hedge_mode"))
    if mode != "one_way_mode":
        raise BitgetError(
            "40017",
            "Parameter verification failed: the emulator supports "
            "posMode one_way_mode only, was hedge_mode",
        )
    account.pos_mode = mode
    return mode
