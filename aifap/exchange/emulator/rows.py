"""Ledger objects rendered in Bitget's v2 response shapes (the samples in ccxt's bitget.py)."""

from __future__ import annotations

import json
from decimal import Decimal

from aifap.exchange.emulator.ledger import (
    ZERO,
    Account,
    Fill,
    FundingPayment,
    Order,
    PlanOrder,
    Position,
)
from aifap.exchange.emulator.pricing import Pricing

STATUS = {
    "live": "live",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "cancelled": "canceled",
}


def s(value: Decimal | int | None) -> str:
    """Format a number the way Bitget does (plain digits, no exponent); None is ``""``."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def futures_order(o: Order) -> dict[str, object]:
    """Return a mix order row (detail, orders-pending, orders-history)."""
    status = STATUS[o.status]
    return {
        "symbol": o.symbol,
        "size": s(o.size),
        "orderId": o.order_id,
        "clientOid": o.client_oid,
        "baseVolume": s(o.filled),
        "fee": s(-o.fee),
        "price": s(o.price),
        "priceAvg": s(o.avg_price),
        "state": status,
        "status": status,
        "side": o.side,
        "force": o.force,
        "totalProfits": s(o.profit),
        "posSide": "net",
        "marginCoin": "USDT",
        "quoteVolume": s(o.quote_filled),
        "leverage": str(o.leverage),
        "marginMode": o.margin_mode,
        "enterPointSource": "API",
        "tradeSide": o.trade_side,
        "posMode": "one_way_mode",
        "orderType": o.order_type,
        "orderSource": o.source,
        "presetStopSurplusPrice": s(o.preset_tp),
        "presetStopLossPrice": s(o.preset_sl),
        "reduceOnly": "YES" if o.reduce_only else "NO",
        "cTime": str(o.created_ms),
        "uTime": str(o.updated_ms or o.created_ms),
    }


def plan_order(p: PlanOrder) -> dict[str, object]:
    """Return a trigger-order row (orders-plan-pending, orders-plan-history)."""
    return {
        "planType": p.plan_type,
        "symbol": p.symbol,
        "size": s(p.size),
        "orderId": p.order_id,
        "clientOid": p.client_oid,
        "price": s(p.execute_price),
        "executePrice": s(p.execute_price),
        "callbackRatio": "",
        "triggerPrice": s(p.trigger_price),
        "triggerType": p.trigger_type,
        "planStatus": STATUS.get(p.status, p.status),
        "side": p.side,
        "posSide": "net",
        "marginCoin": "USDT",
        "marginMode": p.margin_mode,
        "enterPointSource": "API",
        "tradeSide": "close" if p.reduce_only else "open",
        "posMode": "one_way_mode",
        "orderType": p.order_type,
        "orderSource": p.plan_type,
        "holdSide": p.hold_side if p.plan_type != "normal_plan" else "",
        "stopSurplusTriggerPrice": "",
        "stopSurplusExecutePrice": "",
        "stopSurplusTriggerType": "",
        "stopLossTriggerPrice": "",
        "stopLossExecutePrice": "",
        "stopLossTriggerType": "",
        "reduceOnly": "YES" if p.reduce_only else "NO",
        "executeOrderId": p.executed_order_id or "",
        "cTime": str(p.created_ms),
        "uTime": str(p.updated_ms or p.created_ms),
    }


def futures_fill(f: Fill) -> dict[str, object]:
    """Return a mix fill row."""
    return {
        "tradeId": f.trade_id,
        "symbol": f.symbol,
        "orderId": f.order_id,
        "clientOid": f.client_oid,
        "price": s(f.price),
        "baseVolume": s(f.size),
        "feeDetail": [
            {
                "deduction": "no",
                "feeCoin": f.fee_coin,
                "totalDeductionFee": "0",
                "totalFee": s(-f.fee),
            }
        ],
        "side": f.side,
        "quoteVolume": s(f.quote),
        "profit": s(f.profit),
        "enterPointSource": "api",
        "tradeSide": f.trade_side,
        "posMode": "one_way_mode",
        "tradeScope": f.scope,
        "orderType": f.order_type,
        "cTime": str(f.ts),
    }


def position_row(p: Position, price: Decimal) -> dict[str, object]:
    """Return a mix position row; ``totalFee`` is the funding since the position opened."""
    margin = p.margin()
    return {
        "marginCoin": "USDT",
        "symbol": p.symbol,
        "holdSide": p.side,
        "openDelegateSize": "0",
        "marginSize": s(margin),
        "available": s(abs(p.size)),
        "locked": "0",
        "total": s(abs(p.size)),
        "leverage": str(p.leverage),
        "achievedProfits": s(p.realized_pnl),
        "openPriceAvg": s(p.entry_price),
        "marginMode": p.margin_mode,
        "posMode": "one_way_mode",
        "unrealizedPL": s(p.unrealized(price)),
        "liquidationPrice": "0",
        "keepMarginRate": "0.004",
        "markPrice": s(price),
        "marginRatio": "0",
        "breakEvenPrice": s(p.entry_price),
        "totalFee": s(p.funding),
        "deductedFee": s(p.fees),
        "assetMode": "single",
        "cTime": str(p.opened_ms),
        "uTime": str(p.updated_ms),
    }


def futures_account(a: Account, pricing: Pricing, now: int) -> dict[str, object]:
    """Return the USDT row of ``/api/v2/mix/account/accounts``."""
    unrealized = a.unrealized(pricing, now)
    available = max(a.futures_available(pricing, now), ZERO)
    equity = a.futures_wallet + unrealized
    return {
        "marginCoin": "USDT",
        "locked": s(a.open_order_margin()),
        "available": s(available),
        "crossedMaxAvailable": s(available),
        "isolatedMaxAvailable": s(available),
        "maxTransferOut": s(available),
        "accountEquity": s(equity),
        "usdtEquity": s(equity),
        "btcEquity": "0",
        "crossedRiskRate": "0",
        "unrealizedPL": s(unrealized),
        "coupon": "0",
        "crossedUnrealizedPL": s(unrealized),
        "isolatedUnrealizedPL": "0",
        "unionTotalMargin": s(equity),
        "unionAvailable": s(available),
        "assetMode": "single",
    }


def funding_bill(f: FundingPayment) -> dict[str, object]:
    """Return a ``contract_settle_fee`` bill."""
    return {
        "billId": f.bill_id,
        "symbol": f.symbol,
        "amount": s(f.amount),
        "fee": "0",
        "feeByCoupon": "",
        "businessType": "contract_settle_fee",
        "coin": "USDT",
        "cTime": str(f.ts),
    }


def trade_bill(f: Fill, long_before: bool) -> dict[str, object]:
    """Return the bill of a futures fill (open_long, close_short, …)."""
    if f.trade_side == "open":
        kind = "open_long" if f.side == "buy" else "open_short"
    else:
        kind = "close_long" if long_before else "close_short"
    return {
        "billId": f.trade_id,
        "symbol": f.symbol,
        "amount": s(f.profit),
        "fee": s(-f.fee),
        "feeByCoupon": "",
        "businessType": kind,
        "coin": "USDT",
        "cTime": str(f.ts),
    }


def spot_order(o: Order) -> dict[str, object]:
    """Return a spot order row (orderInfo, unfilled-orders, history-orders)."""
    fee_detail = {
        o.fee_coin: {
            "deduction": False,
            "feeCoinCode": o.fee_coin,
            "totalDeductionFee": 0,
            "totalFee": s(-o.fee),
        }
    }
    return {
        "userId": "emulator",
        "symbol": o.symbol,
        "orderId": o.order_id,
        "clientOid": o.client_oid,
        "size": s(o.size),
        "price": s(o.price) or "0",
        "orderType": o.order_type,
        "side": o.side,
        "status": STATUS[o.status],
        "priceAvg": s(o.avg_price) or "0",
        "baseVolume": s(o.filled),
        "quoteVolume": s(o.quote_filled),
        "enterPointSource": "API",
        "orderSource": "normal",
        "feeDetail": json.dumps(fee_detail),
        "force": o.force,
        "triggerPrice": None,
        "tpslType": "normal",
        "cTime": str(o.created_ms),
        "uTime": str(o.updated_ms or o.created_ms),
    }


def spot_fill(f: Fill) -> dict[str, object]:
    """Return a spot fill row."""
    return {
        "userId": "emulator",
        "symbol": f.symbol,
        "orderId": f.order_id,
        "tradeId": f.trade_id,
        "orderType": f.order_type,
        "side": f.side,
        "priceAvg": s(f.price),
        "size": s(f.size),
        "amount": s(f.quote),
        "feeDetail": {
            "deduction": "no",
            "feeCoin": f.fee_coin,
            "totalDeductionFee": "",
            "totalFee": s(-f.fee),
        },
        "tradeScope": f.scope,
        "cTime": str(f.ts),
        "uTime": str(f.ts),
    }


def spot_asset(coin: str, available: Decimal, frozen: Decimal, now: int) -> dict[str, object]:
    """Return a ``/api/v2/spot/account/assets`` row."""
    return {
        "coin": coin,
        "available": s(available),
        "limitAvailable": "0",
        "frozen": s(frozen),
        "locked": "0",
        "uTime": str(now),
    }
