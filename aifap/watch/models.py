"""Finwatcher's results tables: one metrics row per interval and its open positions.

Created by the ``results`` Alembic branch (``results_0001_live``), with the journal's.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Double, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aifap.db import Amount, Base


class WatchSnapshot(Base):
    """Finwatcher's metrics row for one interval."""

    __tablename__ = "watch_snapshots"
    __table_args__ = (UniqueConstraint("session_id", "ts_ms", name="uq_watch_snapshots_ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(40))
    ts_ms: Mapped[int] = mapped_column(BigInteger)  # the interval's due time
    taken_ms: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[Decimal] = mapped_column(Amount)
    pv: Mapped[Decimal] = mapped_column(Amount)
    roe: Mapped[float] = mapped_column(Double)
    unrealized_pnl: Mapped[Decimal] = mapped_column(Amount)
    sharpe: Mapped[float | None] = mapped_column(Double, nullable=True)
    max_drawdown: Mapped[float] = mapped_column(Double)
    funding_fees: Mapped[Decimal] = mapped_column(Amount)


class WatchPosition(Base):
    """One open position in a finwatcher snapshot."""

    __tablename__ = "watch_positions"

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("watch_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    size: Mapped[Decimal] = mapped_column(Amount)
    entry_price: Mapped[Decimal] = mapped_column(Amount)
    mark_price: Mapped[Decimal] = mapped_column(Amount)
    leverage: Mapped[Decimal] = mapped_column(Amount)
    take_profit: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    funding_fee: Mapped[Decimal] = mapped_column(Amount)
    unrealized_pnl: Mapped[Decimal] = mapped_column(Amount)
