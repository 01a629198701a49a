"""Load and save a paper account: the ledger is rebuilt by replaying recorded events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aifap.core.ledger import Ledger
from aifap.core.markets import MarketSpec, MarketType
from aifap.core.orders import Fill, FillReason, Order, OrderStatus, Side
from aifap.exchange.gateway import FundingPayment
from aifap.exchange.paper.models import (
    PaperAccount,
    PaperFill,
    PaperFunding,
    PaperOrder,
    PaperStops,
)


def from_ms(ms: int) -> datetime:
    """Return the UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


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
        reason=FillReason(row.reason),
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


def replay(engine: Engine, account: PaperAccount, markets: Mapping[str, MarketSpec]) -> Ledger:
    """Rebuild the ledger of ``account`` from its recorded fills, funding and stops."""
    ledger = Ledger(account.capital, markets, leverage=account.leverage)
    with Session(engine) as session:
        fills = session.scalars(select(PaperFill).where(PaperFill.account == account.name)).all()
        funding = session.scalars(
            select(PaperFunding).where(PaperFunding.account == account.name)
        ).all()
        stops = session.scalars(select(PaperStops).where(PaperStops.account == account.name)).all()
    events: list[tuple[int, int, int, Any]] = [(f.ts_ms, 1, f.seq, f) for f in fills]
    events += [(p.ts_ms, 0, p.seq, p) for p in funding]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    for _, kind, _, row in events:
        if kind == 1:
            ledger.apply(fill_of(row), take_profit=row.take_profit, stop_loss=row.stop_loss)
        else:
            ledger.apply_funding(row.symbol, row.rate, row.mark)
    last_seq = max((f.seq for f in fills), default=0)
    for stop in stops:
        if stop.after_fill_seq == last_seq or _last_fill_seq(fills, stop.symbol) <= (
            stop.after_fill_seq
        ):
            ledger.set_stops(stop.symbol, stop.take_profit, stop.stop_loss)
    return ledger


def _last_fill_seq(fills: Any, symbol: str) -> int:
    return max((f.seq for f in fills if f.symbol == symbol), default=0)
