"""The JSON rows of the results service (stable, documented in its OpenAPI schema).

Times are ISO 8601 UTC. Metrics (PV, ROE, uPnL, Sharpe, drawdown) are JSON numbers
(float64, quote currency, fractions not percent, as :mod:`aifap.core.metrics`);
exchange amounts and prices are exact decimal strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class Error(_Row):
    """An error answer: what was wrong."""

    detail: str = Field(description="The rule that was broken, or what is unavailable.")


class Health(_Row):
    """Liveness or readiness of a service."""

    status: str = Field(description="'ok', or 'unavailable' (HTTP 503).")
    database: str | None = Field(default=None, description="The database URL, password hidden.")
    sessions: int | None = Field(default=None, description="Sessions with snapshots.")
    error: str | None = Field(default=None, description="Why the service is not ready.")


class Page(_Row, Generic[T]):
    """One page of rows; pass ``next_cursor`` as ``cursor`` for the next (null: the last)."""

    items: list[T]
    next_cursor: str | None = Field(description="Cursor of the next page, null after the last.")


class SessionRow(_Row):
    """A session of the results database."""

    session_id: str
    trader: str | None = None
    strategy: str | None = None
    status: str = Field(description="running, stopped, failed or unknown (snapshots only).")
    exit_code: int | None = None
    reason: str | None = None
    started: datetime | None = Field(description="First start (session clock).")
    stopped: datetime | None = None
    allocation: float | None = Field(description="The allocation at start (ROE's base).")
    runs: int = 0
    snapshots: int = Field(description="Finwatcher snapshots stored.")
    first_snapshot: datetime | None = None
    last_snapshot: datetime | None = None


class SnapshotRow(_Row):
    """Finwatcher's metrics at one interval."""

    time: datetime = Field(description="The interval's due time (session clock, UTC).")
    ts_ms: int = Field(description="The same time in epoch milliseconds.")
    pv: float = Field(description="Portfolio value = balance + uPnL.")
    balance: float = Field(description="Wallet balance of the trader.")
    roe: float = Field(description="(PV - allocation) / allocation.")
    upnl: float = Field(description="Unrealized PnL of the open positions.")
    sharpe: float | None = Field(description="Sharpe of daily returns × √365; null under 2 days.")
    max_drawdown: float = Field(description="Worst PV / running peak - 1 (<= 0).")
    funding_fees: float = Field(description="Funding paid since the session began.")


class PositionRow(_Row):
    """One open position in one snapshot."""

    time: datetime
    ts_ms: int
    symbol: str
    side: str = Field(description="long or short.")
    size: Decimal = Field(description="Signed size (contracts), exact.")
    entry_price: Decimal
    mark_price: Decimal
    value: float = Field(description="size × mark price (signed, quote currency).")
    leverage: Decimal
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    funding_fee: Decimal
    upnl: float


class OrderRow(_Row):
    """An intended order, journaled before it was sent."""

    time: datetime | None = Field(description="Start of the order's rebalancing cycle.")
    client_id: str
    cycle: int
    seq: int = Field(description="Position in the plan (closes first).")
    batch: int
    symbol: str
    side: str
    amount: Decimal
    reduce_only: bool
    leg: str
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    status: str
    exchange_id: str | None = None
    filled: Decimal
    average_price: Decimal | None = None
    reason: str | None = None
    updated: datetime | None = None


class FillRow(_Row):
    """One execution."""

    time: datetime
    id: int
    client_id: str | None = None
    order_id: str | None = None
    symbol: str
    side: str
    amount: Decimal = Field(description="Unsigned amount.")
    price: Decimal
    fee: Decimal
    fee_currency: str
    reason: str = Field(description="rebalance, stop_loss, take_profit, ...")
    realized_pnl: Decimal | None = None
    ours: bool = Field(description="False for a trade made by hand on the account.")


class AlertRow(_Row):
    """An alert or notable event of the session."""

    time: datetime
    id: int
    cycle: int | None = None
    level: str
    kind: str
    message: str
