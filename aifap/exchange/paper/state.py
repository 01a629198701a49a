"""Paper account rows and their conversion to the core types (the ledger: ``book``)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aifap.core.markets import MarketType
from aifap.core.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, Side
from aifap.core.timeconv import from_ms
from aifap.exchange.gateway import FundingPayment
from aifap.exchange.paper.models import (
    PaperAccount,
    PaperFill,
    PaperFunding,
    PaperOrder,
)


def order_of(row: PaperOrder) -> Order:
    """Return the ``Order`` of a stored row."""
    return Order(
        client_id=row.client_id,
        symbol=row.symbol,
        side=Side(row.side),
        amount=row.amount,
        status=OrderStatus(row.status),
        exchange_id=f"paper-{row.id}",
        filled=row.filled,
        average_price=row.average_price,
        reduce_only=row.reduce_only,
        take_profit=row.take_profit,
        stop_loss=row.stop_loss,
        created_at=from_ms(row.created_ms),
        reason=row.reason,
    )


def fill_of(row: PaperFill) -> Fill:
    """Return the ``Fill`` of a stored row."""
    return Fill(
        symbol=row.symbol,
        side=Side(row.side),
        amount=row.amount,
        price=row.price,
        fee=row.fee,
        timestamp=from_ms(row.ts_ms),
        client_id=row.client_id,
        order_id=None,
        trade_id=f"paper-{row.seq}",
        fee_currency=row.fee_currency or "USDT",
        reason=FillReason(row.reason),
        fee_quote=row.fee_quote,
    )


def funding_of(row: PaperFunding) -> FundingPayment:
    """Return the ``FundingPayment`` of a stored row."""
    return FundingPayment(
        symbol=row.symbol,
        amount=row.amount,
        rate=row.rate,
        timestamp=from_ms(row.ts_ms),
        payment_id=f"paper-{row.seq}",
    )


def open_account(
    engine: Engine,
    name: str,
    market_type: MarketType,
    capital: Decimal,
    leverage: Decimal,
) -> PaperAccount:
    """Return the stored account ``name``, creating it on first use."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        account = session.get(PaperAccount, name)
        if account is None:
            account = PaperAccount(
                name=name,
                market_type=str(market_type),
                capital=capital,
                leverage=leverage,
                processed_until_ms=0,
            )
            session.add(account)
        elif account.market_type != str(market_type):
            raise ValueError(
                f"paper account {name!r}: market_type must stay {account.market_type}, "
                f"was {market_type}"
            )
        return account


def new_order(account: str, request: OrderRequest, now_ms: int) -> PaperOrder:
    """Return the row of a newly placed (open) order."""
    return PaperOrder(
        account=account,
        client_id=request.client_id,
        symbol=request.symbol,
        side=request.side.value,
        amount=request.amount,
        status=OrderStatus.OPEN.value,
        filled=Decimal(0),
        average_price=None,
        reduce_only=request.reduce_only,
        take_profit=request.take_profit,
        stop_loss=request.stop_loss,
        created_ms=now_ms,
        reason=None,
    )
