"""Tables of the ``results`` database written by live sessions and finwatcher.

Times are UTC epoch milliseconds (``*_ms``) on the session clock (simulated time on a
replay), except lease and heartbeat times, which are wall time. Money is ``Amount``.

- ``live_sessions``: one row per session id; status, exit code, the book baseline.
- ``live_leases``: the one-account-one-session rule, one row per (account, symbol).
- ``live_cycles``: every rebalancing cycle with its state, plan and ``context.state``.
- ``live_orders``: every intended order by client id, journaled before it is sent.
- ``live_fills``: every execution the session knows of (idempotent on ``fill_key``).
- ``live_events``: alerts and notable events.
- finwatcher's ``watch_snapshots`` / ``watch_positions`` are in ``aifap.watch.models``.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aifap.db import Amount, Base


class LiveSession(Base):
    """A session: its config (secrets redacted), status and book baseline."""

    __tablename__ = "live_sessions"

    session_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trader: Mapped[str] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(200))
    account_key: Mapped[str] = mapped_column(String(200))
    config_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # running, stopped, failed
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)  # first start, session clock
    run_started_ms: Mapped[int] = mapped_column(BigInteger)  # this run, session clock
    stopped_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    initial_equity: Mapped[Decimal] = mapped_column(Amount)  # the allocation
    initial_wallet: Mapped[Decimal] = mapped_column(Amount)  # wallet balance at first start
    clock_ms: Mapped[int] = mapped_column(BigInteger)  # newest session-clock time seen
    baseline_json: Mapped[str] = mapped_column(Text, default="{}")  # symbol -> size
    baseline_epoch: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=1)
    workdir: Mapped[str] = mapped_column(Text)


class LiveLease(Base):
    """Who trades ``symbol`` on ``account`` until ``expires_wall_ms``."""

    __tablename__ = "live_leases"

    account_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(64))  # host:pid:token of the holding run
    expires_wall_ms: Mapped[int] = mapped_column(BigInteger)


class LiveCycle(Base):
    """One rebalancing cycle: planned -> executing -> done, or skipped / failed."""

    __tablename__ = "live_cycles"

    session_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))
    scheduled_ms: Mapped[int] = mapped_column(BigInteger)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    targets_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    plan_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    prices_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    equity: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    positions_before_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    positions_after_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # context.state after
    replayed: Mapped[bool] = mapped_column(Boolean, default=False)


class LiveOrder(Base):
    """An intended order, journaled with its client id before it is sent."""

    __tablename__ = "live_orders"
    __table_args__ = (Index("ix_live_orders_cycle", "session_id", "cycle"),)

    client_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(40))
    cycle: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # position in the plan (closes first)
    batch: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(Amount)
    reduce_only: Mapped[bool] = mapped_column(Boolean, default=False)
    leg: Mapped[str] = mapped_column(String(16))
    take_profit: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    stop_loss: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    # intended -> open / partially_filled / filled / canceled / rejected / missing
    status: Mapped[str] = mapped_column(String(20))
    exchange_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    filled: Mapped[Decimal] = mapped_column(Amount, default=Decimal(0))
    average_price: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    sends: Mapped[int] = mapped_column(Integer, default=0)  # times handed to the gateway
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class LiveFill(Base):
    """One execution, recorded once (``fill_key`` is the trade id or a stable digest)."""

    __tablename__ = "live_fills"
    __table_args__ = (
        UniqueConstraint("session_id", "fill_key", name="uq_live_fills_key"),
        Index("ix_live_fills_session_ts", "session_id", "ts_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(40))
    fill_key: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(Amount)
    price: Mapped[Decimal] = mapped_column(Amount)
    fee: Mapped[Decimal] = mapped_column(Amount)
    fee_currency: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    ours: Mapped[bool] = mapped_column(Boolean)  # our order or our SL/TP, not a hand trade
    epoch: Mapped[int] = mapped_column(Integer, default=0)  # the book baseline it counts on


class LiveEvent(Base):
    """An alert or notable event of a session."""

    __tablename__ = "live_events"
    __table_args__ = (Index("ix_live_events_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(40))
    cycle: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
