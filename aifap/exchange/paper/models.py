"""Paper-trading state tables: accounts, orders, fills, funding and position stops.

Fills and funding are the source of truth: on restart the account is rebuilt by
replaying them through the core ``Ledger``, so the paper book never drifts from what
was recorded. Amounts and prices are stored as exact decimal text (``DecimalText``):
the fill model's fees carry more than NUMERIC(38, 18)'s 18 decimals, and a replay must
give back the very same numbers the backtester computes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from aifap.db import Base


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal of any precision, stored as its text on every backend."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Write the exact decimal string; reject non-finite values."""
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"amount must be finite, was {value!r}")
        return format(number, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Return a Decimal."""
        return None if value is None else Decimal(value)


Amount = DecimalText


class PaperAccount(Base):
    """One paper account (a session's trading account).

    ``processed_until_ms``: bars opening before it are booked. ``version`` counts the
    changes to the account's book (fills, funding, stops); every process keeps its
    in-memory ledger keyed by it and reloads (incrementally) only when it moved.
    """

    __tablename__ = "paper_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    market_type: Mapped[str] = mapped_column(String(16))
    capital: Mapped[Decimal] = mapped_column(Amount())
    leverage: Mapped[Decimal] = mapped_column(Amount())
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
    amount: Mapped[Decimal] = mapped_column(Amount())
    status: Mapped[str] = mapped_column(String(20))
    filled: Mapped[Decimal] = mapped_column(Amount())
    average_price: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    take_profit: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class PaperFill(Base):
    """One execution, in booking order (``seq``)."""

    __tablename__ = "paper_fills"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(Amount())
    price: Mapped[Decimal] = mapped_column(Amount())
    fee: Mapped[Decimal] = mapped_column(Amount())
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    client_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reason: Mapped[str] = mapped_column(String(20))
    take_profit: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)


class PaperFunding(Base):
    """One funding settlement on a position (``amount`` > 0 paid)."""

    __tablename__ = "paper_funding"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Amount())
    rate: Mapped[Decimal] = mapped_column(Amount())
    mark: Mapped[Decimal] = mapped_column(Amount())
    ts_ms: Mapped[int] = mapped_column(BigInteger)


class PaperStops(Base):
    """SL/TP set on a held position after its last fill (``set_stops``)."""

    __tablename__ = "paper_stops"

    account: Mapped[str] = mapped_column(ForeignKey("paper_accounts.name"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    after_fill_seq: Mapped[int] = mapped_column(Integer)
    take_profit: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(Amount(), nullable=True)
