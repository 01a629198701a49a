"""Turn ccxt's unified structures into AIFAP's values (markets, orders, fills, positions).

ccxt hands back floats and strings; every amount and price here goes through
``to_decimal`` on its shortest repr, so ``0.1`` stays ``0.1``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from aifap.core.bars import BAR_COLUMNS, empty_bars
from aifap.core.markets import MarketSpec, MarketType, to_decimal
from aifap.core.orders import Fill, FillReason, Order, OrderStatus, Side
from aifap.core.portfolio import Position
from aifap.core.timeconv import EPOCH, from_ms
from aifap.exchange.ccxt.symbols import to_compact
from aifap.exchange.gateway import FundingPayment

log = logging.getLogger(__name__)

DECIMAL_PLACES = 2  # ccxt.base.decimal_to_precision constants
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4

_STATUS = {
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def dec(value: Any) -> Decimal | None:
    """Return ``value`` as a Decimal, or None for None and empty strings."""
    if value is None or value == "":
        return None
    return to_decimal(value)


def ts(milliseconds: Any) -> datetime | None:
    """Return a UTC datetime from epoch milliseconds, or None."""
    if milliseconds is None:
        return None
    return from_ms(int(milliseconds))


def step(precision: Any, mode: int) -> Decimal:
    """Return a precision as a step: ``0.001`` from tick size 0.001 or from 3 decimals."""
    value = dec(precision)
    if value is None:
        return Decimal(0)
    if mode == TICK_SIZE:
        return value
    return Decimal(1).scaleb(-int(value))


def market_spec(market: Mapping[str, Any], market_type: MarketType, mode: int) -> MarketSpec:
    """Return the ``MarketSpec`` of one ccxt market."""
    limits = market.get("limits") or {}
    precision = market.get("precision") or {}
    leverage = (limits.get("leverage") or {}).get("max")
    return MarketSpec(
        symbol=to_compact(market["symbol"]),
        market_type=market_type,
        base=market["base"],
        quote=market["quote"],
        amount_step=step(precision.get("amount"), mode),
        price_step=step(precision.get("price"), mode),
        min_amount=dec((limits.get("amount") or {}).get("min")) or Decimal(0),
        min_notional=dec((limits.get("cost") or {}).get("min")) or Decimal(0),
        contract_size=dec(market.get("contractSize")) or Decimal(1),
        max_leverage=int(leverage) if leverage else 1,
    )


def order(raw: Mapping[str, Any], request_amount: Decimal | None = None) -> Order:
    """Return the ``Order`` of one ccxt order structure."""
    filled = dec(raw.get("filled")) or Decimal(0)
    amount = dec(raw.get("amount")) or request_amount or filled
    status = _STATUS.get(str(raw.get("status")), OrderStatus.OPEN)
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.FILLED if filled >= amount else OrderStatus.PARTIALLY_FILLED
    return Order(
        client_id=str(raw.get("clientOrderId") or ""),
        symbol=to_compact(raw["symbol"]),
        side=Side(str(raw.get("side") or "buy").lower()),
        amount=amount,
        status=status,
        exchange_id=None if raw.get("id") is None else str(raw["id"]),
        filled=filled,
        average_price=dec(raw.get("average")) if filled > 0 else None,
        reduce_only=bool(raw.get("reduceOnly")),
        take_profit=dec(raw.get("takeProfitPrice")),
        stop_loss=dec(raw.get("stopLossPrice")),
        created_at=ts(raw.get("timestamp")),
    )


def fill(raw: Mapping[str, Any], quote: str) -> Fill:
    """Return the ``Fill`` of one ccxt trade, its fee as charged (currency and amount).

    A fee charged in the base coin (a spot buy on Bitget, Binance or Bybit) keeps its
    currency and amount, with ``fee_quote = fee × price`` its quote value. A fee in
    a third coin (BNB, BGB discounts) cannot be valued here: it is kept as charged,
    valued at 0 in the quote (``fee_quote``), and logged.
    """
    fee = raw.get("fee") or {}
    cost = abs(dec(fee.get("cost")) or Decimal(0))
    currency = str(fee.get("currency") or quote)
    price = to_decimal(raw["price"])
    fee_quote: Decimal | None = None
    if currency != quote:
        base = str(raw["symbol"]).split("/")[0]
        if currency == base:
            fee_quote = cost * price
        else:
            log.warning(
                "%s: a fee of %s %s cannot be valued in %s; counted as 0",
                raw["symbol"],
                cost,
                currency,
                quote,
            )
            fee_quote = Decimal(0)
    pnl = dec((raw.get("info") or {}).get("profit"))
    return Fill(
        symbol=to_compact(raw["symbol"]),
        side=Side(str(raw["side"]).lower()),
        amount=to_decimal(raw["amount"]),
        price=price,
        fee=cost,
        timestamp=ts(raw["timestamp"]) or EPOCH,
        client_id=_client_id(raw),
        order_id=None if raw.get("order") is None else str(raw["order"]),
        trade_id=None if raw.get("id") is None else str(raw["id"]),
        fee_currency=currency,
        reason=FillReason.REBALANCE,
        realized_pnl=pnl,
        fee_quote=fee_quote,
    )


def _client_id(raw: Mapping[str, Any]) -> str | None:
    info = raw.get("info") or {}
    value = raw.get("clientOrderId") or info.get("clientOid") or info.get("clientOrderId")
    return None if value is None else str(value)


def position(raw: Mapping[str, Any], spec: MarketSpec | None) -> Position | None:
    """Return the ``Position`` of one ccxt position, or None when it is flat."""
    contracts = dec(raw.get("contracts")) or Decimal(0)
    if contracts == 0:
        return None
    sign = -1 if raw.get("side") == "short" else 1
    entry = dec(raw.get("entryPrice")) or Decimal(0)
    return Position(
        symbol=to_compact(raw["symbol"]),
        size=sign * abs(contracts),
        entry_price=entry,
        mark_price=dec(raw.get("markPrice")) or entry,
        leverage=dec(raw.get("leverage")) or Decimal(1),
        contract_size=spec.contract_size if spec else dec(raw.get("contractSize")) or Decimal(1),
        take_profit=dec(raw.get("takeProfitPrice")),
        stop_loss=dec(raw.get("stopLossPrice")),
    )


def funding(raw: Mapping[str, Any]) -> FundingPayment:
    """Return a funding settlement: ccxt's amount is received (+), ours is paid (+)."""
    amount = dec(raw.get("amount")) or Decimal(0)
    return FundingPayment(
        symbol=to_compact(raw["symbol"]),
        amount=-amount,
        rate=dec((raw.get("info") or {}).get("fundingRate")),
        timestamp=ts(raw.get("timestamp")) or EPOCH,
        payment_id=None if raw.get("id") is None else str(raw["id"]),
    )


def bars(rows: list[list[Any]]) -> pd.DataFrame:
    """Return ccxt's OHLCV rows as an ``aifap.core.bars`` frame."""
    if not rows:
        return empty_bars()
    frame = pd.DataFrame(rows, columns=["timestamp", *BAR_COLUMNS])
    index = pd.to_datetime(frame.pop("timestamp"), unit="ms", utc=True)
    frame.index = pd.DatetimeIndex(index, name="timestamp").as_unit("ns")
    return frame.astype("float64")
