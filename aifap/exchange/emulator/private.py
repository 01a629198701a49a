"""Signed endpoints: accounts, positions, orders, trigger orders, fills, bills, settings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aifap.core.markets import MarketType
from aifap.exchange.emulator import rows, trading
from aifap.exchange.emulator.app import Call, Router
from aifap.exchange.emulator.errors import BitgetError
from aifap.exchange.emulator.ledger import ZERO, Account, Fill, Order, PlanOrder

if TYPE_CHECKING:
    from aifap.exchange.emulator.emulator import BitgetEmulator

T = TypeVar("T")
MIX = "/api/v2/mix"
SPOT = "/api/v2/spot"


def _page(
    items: Iterable[T],
    call: Call,
    ident: Callable[[T], str],
    ts: Callable[[T], int],
    default_limit: int = 100,
) -> list[T]:
    """Newest first, filtered by startTime/endTime/idLessThan, cut to ``limit``."""
    start, end = call.get("startTime"), call.get("endTime")
    below = call.get("idLessThan")
    limit = min(int(call.get("limit", default_limit)), 100)
    chosen = [
        i
        for i in items
        if (start is None or ts(i) >= int(start))
        and (end is None or ts(i) <= int(end))
        and (below is None or int(ident(i)) < int(below))
    ]
    chosen.sort(key=lambda i: int(ident(i)), reverse=True)
    return chosen[:limit]


def _listing(
    rows_: Sequence[dict[str, object]], key: str, id_key: str = "orderId"
) -> dict[str, object]:
    return {key: list(rows_), "endId": str(rows_[-1][id_key]) if rows_ else ""}


def register_private(router: Router, emu: BitgetEmulator) -> None:
    """Register the signed endpoints of ``emu`` on ``router``."""
    engine = emu.engine

    def acct(call: Call) -> Account:
        assert call.key is not None
        return engine.account(call.key, call.now_ms)

    def symbol_filter(call: Call) -> str | None:
        value = call.get("symbol")
        return str(value).upper() if value else None

    def find_order(call: Call, kind: MarketType) -> Order:
        order = acct(call).order_by(call.get("orderId"), call.get("clientOid"))
        if order is None or order.kind is not kind:
            if call.get("orderId") is None and call.get("clientOid") is None:
                raise BitgetError("40019", "Parameter orderId cannot be empty")
            raise BitgetError("40768", "Order does not exist")
        return order

    # -- futures accounts and positions ----------------------------------------------
    def accounts(call: Call) -> object:
        return [rows.futures_account(acct(call), emu.pricing, call.now_ms)]

    def single_account(call: Call) -> object:
        a = acct(call)
        symbol = str(call.require("symbol")).upper()
        leverage = engine.leverage_of(a, symbol)
        row = rows.futures_account(a, emu.pricing, call.now_ms)
        row.update(
            {
                "symbol": symbol,
                "marginMode": a.margin_mode.get(symbol, "crossed"),
                "crossedMarginLeverage": leverage,
                "isolatedLongLever": leverage,
                "isolatedShortLever": leverage,
                "posMode": a.pos_mode,
            }
        )
        return row

    def positions(call: Call) -> object:
        a, only = acct(call), symbol_filter(call)
        return [
            rows.position_row(p, emu.pricing.price(s, call.now_ms))
            for s, p in sorted(a.positions.items())
            if only is None or s == only
        ]

    # -- futures orders ----------------------------------------------------------------
    def place_order(call: Call) -> object:
        order = trading.place_futures(engine, acct(call), call.params, call.now_ms, call.demo)
        return {"orderId": order.order_id, "clientOid": order.client_oid}

    def batch_place(call: Call) -> object:
        success, failure = [], []
        shared = {k: v for k, v in call.params.items() if k != "orderList"}
        for item in call.params.get("orderList") or []:
            params: dict[str, Any] = {**shared, **item}
            try:
                order = trading.place_futures(engine, acct(call), params, call.now_ms, call.demo)
                success.append({"orderId": order.order_id, "clientOid": order.client_oid})
            except BitgetError as exc:
                failure.append(
                    {
                        "orderId": "",
                        "clientOid": params.get("clientOid", ""),
                        "errorMsg": exc.msg,
                        "errorCode": exc.code,
                    }
                )
        return {"successList": success, "failureList": failure}

    def cancel_open(call: Call, kind: MarketType, missing: BitgetError) -> object:
        order = find_order(call, kind)
        if not order.is_open:
            raise missing
        engine.cancel_order(acct(call), order, call.now_ms)
        return {"orderId": order.order_id, "clientOid": order.client_oid}

    def cancel(call: Call) -> object:
        return cancel_open(call, MarketType.FUTURES, BitgetError("40768", "Order does not exist"))

    def batch_cancel(call: Call) -> object:
        success, failure = [], []
        for item in call.params.get("orderIdList") or []:
            order = acct(call).order_by(item.get("orderId"), item.get("clientOid"))
            if order is None or not order.is_open:
                failure.append({**item, "errorMsg": "Order does not exist", "errorCode": "40768"})
                continue
            engine.cancel_order(acct(call), order, call.now_ms)
            success.append({"orderId": order.order_id, "clientOid": order.client_oid})
        return {"successList": success, "failureList": failure}

    def futures_orders(call: Call, open_: bool) -> list[Order]:
        only = symbol_filter(call)
        return [
            o
            for o in acct(call).orders.values()
            if o.kind is MarketType.FUTURES
            and o.is_open == open_
            and (only is None or o.symbol == only)
            and (call.get("clientOid") is None or o.client_oid == call.get("clientOid"))
            and (call.get("orderId") is None or o.order_id == call.get("orderId"))
        ]

    def detail(call: Call) -> object:
        return rows.futures_order(find_order(call, MarketType.FUTURES))

    def pending(call: Call) -> object:
        chosen = _page(
            futures_orders(call, True), call, lambda o: o.order_id, lambda o: o.created_ms
        )
        return _listing([rows.futures_order(o) for o in chosen], "entrustedList")

    def history(call: Call) -> object:
        chosen = _page(
            futures_orders(call, False), call, lambda o: o.order_id, lambda o: o.created_ms
        )
        return _listing([rows.futures_order(o) for o in chosen], "entrustedList")

    def fills_of(call: Call, kind: MarketType) -> list[Fill]:
        only = symbol_filter(call)
        order_id = call.get("orderId")
        chosen = [
            f
            for f in acct(call).fills
            if f.kind is kind
            and (only is None or f.symbol == only)
            and (order_id is None or f.order_id == str(order_id))
        ]
        return _page(chosen, call, lambda f: f.trade_id, lambda f: f.ts)

    def futures_fills(call: Call) -> object:
        return _listing(
            [rows.futures_fill(f) for f in fills_of(call, MarketType.FUTURES)],
            "fillList",
            "tradeId",
        )

    def bills(call: Call) -> object:
        a, only = acct(call), symbol_filter(call)
        business = call.get("businessType")
        items: list[tuple[int, str, dict[str, object]]] = [
            (f.ts, f.bill_id, rows.funding_bill(f)) for f in a.funding
        ]
        for f in a.fills:
            if f.kind is MarketType.FUTURES:
                items.append((f.ts, f.trade_id, rows.trade_bill(f, f.side == "sell")))
        chosen = [
            row
            for ts, bill_id, row in items
            if (only is None or row["symbol"] == only)
            and (business is None or row["businessType"] == business)
        ]
        chosen = _page(chosen, call, lambda r: str(r["billId"]), lambda r: int(str(r["cTime"])))
        return _listing(chosen, "bills", "billId")

    # -- trigger orders ------------------------------------------------------------------
    def tpsl(call: Call) -> object:
        plan = trading.place_tpsl(engine, acct(call), call.params, call.now_ms)
        return {"orderId": plan.order_id, "clientOid": plan.client_oid}

    def pos_tpsl(call: Call) -> object:
        placed = []
        for price_key, plan_type in (
            ("stopSurplusTriggerPrice", "pos_profit"),
            ("stopLossTriggerPrice", "pos_loss"),
        ):
            if call.get(price_key) is not None:
                params = {
                    **call.params,
                    "planType": plan_type,
                    "triggerPrice": call.get(price_key),
                    "clientOid": None,
                }
                plan = trading.place_tpsl(engine, acct(call), params, call.now_ms)
                placed.append({"orderId": plan.order_id, "clientOid": plan.client_oid})
        return placed

    def plan(call: Call) -> object:
        placed = trading.place_plan(engine, acct(call), call.params, call.now_ms)
        return {"orderId": placed.order_id, "clientOid": placed.client_oid}

    def plans_of(call: Call, open_: bool) -> list[PlanOrder]:
        only = symbol_filter(call)
        plan_type = call.get("planType", "normal_plan")
        wanted = trading.TPSL_TYPES if plan_type == "profit_loss" else (plan_type,)
        return [
            p
            for p in acct(call).plans.values()
            if p.is_open == open_
            and p.plan_type in wanted
            and (only is None or p.symbol == only)
            and (call.get("orderId") is None or p.order_id == call.get("orderId"))
            and (call.get("clientOid") is None or p.client_oid == call.get("clientOid"))
        ]

    def plan_pending(call: Call) -> object:
        chosen = _page(plans_of(call, True), call, lambda p: p.order_id, lambda p: p.created_ms)
        return _listing([rows.plan_order(p) for p in chosen], "entrustedList")

    def plan_history(call: Call) -> object:
        chosen = _page(plans_of(call, False), call, lambda p: p.order_id, lambda p: p.created_ms)
        return _listing([rows.plan_order(p) for p in chosen], "entrustedList")

    def cancel_plan(call: Call) -> object:
        a = acct(call)
        wanted = list(call.params.get("orderIdList") or [])
        if not wanted and (call.get("orderId") or call.get("clientOid")):
            wanted = [{"orderId": call.get("orderId"), "clientOid": call.get("clientOid")}]
        only = symbol_filter(call)
        if not wanted:  # cancel every armed plan of the symbol (and plan type)
            plan_type = call.get("planType")
            wanted = [
                {"orderId": p.order_id}
                for p in a.plans.values()
                if p.is_open
                and (only is None or p.symbol == only)
                and (
                    plan_type is None
                    or p.plan_type == plan_type
                    or (plan_type == "profit_loss" and p.plan_type in trading.TPSL_TYPES)
                )
            ]
        success, failure = [], []
        for item in wanted:
            found = None
            if item.get("orderId"):
                found = a.plans.get(str(item["orderId"]))
            elif item.get("clientOid"):
                found = a.plans.get(a.client_oids.get(str(item["clientOid"]), ""))
            if found is None or not found.is_open:
                failure.append(
                    {**item, "errorMsg": "Plan order does not exist", "errorCode": "43025"}
                )
                continue
            found.status, found.updated_ms = "cancelled", call.now_ms
            success.append({"orderId": found.order_id, "clientOid": found.client_oid})
        if wanted and not success and len(wanted) == 1:
            raise BitgetError("43025", "Plan order does not exist")
        return {"successList": success, "failureList": failure}

    # -- settings -----------------------------------------------------------------------
    def leverage(call: Call) -> object:
        value = trading.set_leverage(engine, acct(call), call.params)
        symbol = str(call.require("symbol")).upper()
        return {
            "symbol": symbol,
            "marginCoin": "USDT",
            "longLeverage": str(value),
            "shortLeverage": str(value),
            "crossMarginLeverage": str(value),
            "marginMode": acct(call).margin_mode.get(symbol, "crossed"),
        }

    def margin_mode(call: Call) -> object:
        mode = trading.set_margin_mode(engine, acct(call), call.params)
        lev = engine.leverage_of(acct(call), str(call.require("symbol")).upper())
        return {
            "symbol": str(call.require("symbol")).upper(),
            "marginCoin": "USDT",
            "longLeverage": str(lev),
            "shortLeverage": str(lev),
            "marginMode": mode,
        }

    def position_mode(call: Call) -> object:
        return {"posMode": trading.set_position_mode(acct(call), call.params)}

    def close_positions(call: Call) -> object:
        a, only = acct(call), symbol_filter(call)
        success = []
        for symbol, position in list(a.positions.items()):
            if only is not None and symbol != only:
                continue
            params = {
                "symbol": symbol,
                "side": "sell" if position.size > 0 else "buy",
                "orderType": "market",
                "size": str(abs(position.size)),
                "reduceOnly": "YES",
            }
            order = trading.place_futures(engine, a, params, call.now_ms, call.demo)
            success.append({"orderId": order.order_id, "clientOid": order.client_oid})
        return {"successList": success, "failureList": []}

    # -- spot ---------------------------------------------------------------------------
    def assets(call: Call) -> object:
        a = acct(call)
        coin = call.get("coin")
        coins = sorted(set(a.spot) | {c for c, v in a.spot_frozen.items() if v})
        return [
            rows.spot_asset(c, a.spot.get(c, ZERO), a.spot_frozen.get(c, ZERO), call.now_ms)
            for c in coins
            if coin is None or c == coin
        ]

    def spot_place(call: Call) -> object:
        order = trading.place_spot(engine, acct(call), call.params, call.now_ms, call.demo)
        return {"orderId": order.order_id, "clientOid": order.client_oid}

    def spot_cancel(call: Call) -> object:
        return cancel_open(call, MarketType.SPOT, BitgetError("43001", "The order does not exist"))

    def spot_orders(call: Call, open_: bool) -> list[Order]:
        only = symbol_filter(call)
        chosen = [
            o
            for o in acct(call).orders.values()
            if o.kind is MarketType.SPOT
            and o.is_open == open_
            and (only is None or o.symbol == only)
        ]
        return _page(chosen, call, lambda o: o.order_id, lambda o: o.created_ms)

    def spot_info(call: Call) -> object:
        return [rows.spot_order(find_order(call, MarketType.SPOT))]

    add = router.add
    add("GET", f"{MIX}/account/accounts", accounts, True)
    add("GET", f"{MIX}/account/account", single_account, True)
    add("GET", f"{MIX}/account/bill", bills, True)
    add("POST", f"{MIX}/account/set-leverage", leverage, True)
    add("POST", f"{MIX}/account/set-margin-mode", margin_mode, True)
    add("POST", f"{MIX}/account/set-position-mode", position_mode, True)
    add("GET", f"{MIX}/position/all-position", positions, True)
    add("GET", f"{MIX}/position/single-position", positions, True)
    add("POST", f"{MIX}/order/place-order", place_order, True)
    add("POST", f"{MIX}/order/batch-place-order", batch_place, True)
    add("POST", f"{MIX}/order/cancel-order", cancel, True)
    add("POST", f"{MIX}/order/batch-cancel-orders", batch_cancel, True)
    add("POST", f"{MIX}/order/close-positions", close_positions, True)
    add("GET", f"{MIX}/order/detail", detail, True)
    add("GET", f"{MIX}/order/orders-pending", pending, True)
    add("GET", f"{MIX}/order/orders-history", history, True)
    add("GET", f"{MIX}/order/fills", futures_fills, True)
    add("GET", f"{MIX}/order/fill-history", futures_fills, True)
    add("POST", f"{MIX}/order/place-tpsl-order", tpsl, True)
    add("POST", f"{MIX}/order/place-pos-tpsl", pos_tpsl, True)
    add("POST", f"{MIX}/order/place-plan-order", plan, True)
    add("POST", f"{MIX}/order/cancel-plan-order", cancel_plan, True)
    add("GET", f"{MIX}/order/orders-plan-pending", plan_pending, True)
    add("GET", f"{MIX}/order/orders-plan-history", plan_history, True)
    add("GET", f"{SPOT}/account/assets", assets, True)
    add("POST", f"{SPOT}/trade/place-order", spot_place, True)
    add("POST", f"{SPOT}/trade/cancel-order", spot_cancel, True)
    add("GET", f"{SPOT}/trade/orderInfo", spot_info, True)
    add(
        "GET",
        f"{SPOT}/trade/unfilled-orders",
        lambda c: [rows.spot_order(o) for o in spot_orders(c, True)],
        True,
    )
    add(
        "GET",
        f"{SPOT}/trade/history-orders",
        lambda c: [rows.spot_order(o) for o in spot_orders(c, False)],
        True,
    )
    add(
        "GET",
        f"{SPOT}/trade/fills",
        lambda c: [rows.spot_fill(f) for f in fills_of(c, MarketType.SPOT)],
        True,
    )
