"""Paper-trading state tables: accounts, orders, fills, funding and position stops.

Fills and funding are the source of truth: on restart the account is rebuilt by
replaying them through the core ``Ledger``, so the paper book never drifts from what
was recorded. Amounts and prices are ``aifap.db.Amount(any_scale=True)``, exact
decimal text on every backend: the fill model's fees carry more than NUMERIC(38, 18)'s
18 decimals, and a replay must give back the very same numbers the backtester computes.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aifap.db import Amount, Base

# every amount and price: exact decimal text on every backend (see the module doc)
PaperAmount = Amount(any_scale=True)


class PaperAccount(Base):
    """One paper account (a session's trading account).

    ``processed_until_ms``: bars opening before it are booked. ``version`` counts the
    changes to the account's book (fills, funding, stops); every process keeps its
    in-memory ledger keyed by it and reloads (incrementally) only when it moved.
    """

    __tablename__ = "paper_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    market_type: Mapped[str] = mapped_column(String(16))
    capital: Mapped[Decimal] = mapped_column(PaperAmount)
    leverage: Mapped[Decimal] = mapped_column(PaperAmount)
    processed_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)  # +1 on every change


class PaperOrder(Base):
    """An order as the paper exchange knows it; the client id is unique per account."""

    __tablename__ = "paper_orders"
    __table_args__ = (UniqueConstraint("account", "client_id", name="uq_paper_orders_client"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), index=True)
    client_id: Mapped[str] = mapped_column(String(36))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(PaperAmount)
    status: Mapped[str] = mapped_column(String(20))
    filled: Mapped[Decimal] = mapped_column(PaperAmount)
    average_price: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    take_profit: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class PaperFill(Base):
    """One execution, in booking order (``seq``).

    ``fee`` is in ``fee_currency`` as the fill model charged it (a spot buy's in the
    base coin) and ``fee_quote`` its quote value; rows written before these columns
    existed have NULLs: a USDT fee.
    """

    __tablename__ = "paper_fills"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(PaperAmount)
    price: Mapped[Decimal] = mapped_column(PaperAmount)
    fee: Mapped[Decimal] = mapped_column(PaperAmount)  # in fee_currency
    fee_currency: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: USDT
    fee_quote: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)  # None: fee
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    client_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reason: Mapped[str] = mapped_column(String(20))
    take_profit: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)


class PaperFunding(Base):
    """One funding settlement on a position (``amount`` > 0 paid)."""

    __tablename__ = "paper_funding"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(PaperAmount)
    rate: Mapped[Decimal] = mapped_column(PaperAmount)
    mark: Mapped[Decimal] = mapped_column(PaperAmount)
    ts_ms: Mapped[int] = mapped_column(BigInteger)


class PaperStops(Base):
    """SL/TP set on a held position after its last fill (``set_stops``)."""

    __tablename__ = "paper_stops"

    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    after_fill_seq: Mapped[int] = mapped_column(Integer)
    take_profit: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(PaperAmount, nullable=True)
