"""``POST /results/sessions/{session_id}/snapshots``: a session writes its own results.

A trader's session holds a service token scoped to itself (``results:<sid>``); with it,
and only with it, the session may add finwatcher snapshots to its own results (a
session on Kubernetes needs no results-database credentials this way). Users read
results and never write them (403); another session's results are not found (404, by
the results routes' guard). A snapshot already stored for that time is left as it is
(200, ``stored: false``), so a retried post is harmless.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from aifap.api.deps import Caller, Plat
from aifap.api.errors import Forbidden
from aifap.api.schemas import Symbol
from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot
from aifap.watch.snapshots import SnapshotStore

router = APIRouter(tags=["results"])

Price = Annotated[Decimal, Field(ge=0, le=Decimal("1e15"), allow_inf_nan=False)]
Signed = Annotated[Decimal, Field(ge=Decimal("-1e15"), le=Decimal("1e15"), allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]


class PositionIn(BaseModel):
    """One open position of the snapshot."""

    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    size: Signed = Field(description="Signed size (contracts): > 0 long, < 0 short.")
    entry_price: Price
    mark_price: Price
    leverage: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal(1)
    contract_size: Annotated[Decimal, Field(gt=0, le=Decimal("1e9"))] = Decimal(1)
    take_profit: Price | None = None
    stop_loss: Price | None = None
    funding_fee: Signed = Decimal(0)


class SnapshotIn(BaseModel):
    """Finwatcher's metrics at one interval (as :class:`aifap.core.snapshot.Snapshot`)."""

    model_config = ConfigDict(extra="forbid")

    timestamp: datetime = Field(description="The interval's due time (UTC; naive = UTC).")
    balance: Signed
    pv: Signed
    roe: Ratio = 0.0
    unrealized_pnl: Signed = Decimal(0)
    sharpe: Ratio | None = None
    max_drawdown: Ratio = 0.0
    funding_fees: Signed = Decimal(0)
    positions: list[PositionIn] = Field(default_factory=list, max_length=500)


class Stored(BaseModel):
    """What a snapshot post did."""

    session_id: str
    timestamp: datetime
    stored: bool = Field(description="False: a snapshot for that time was already there.")


def _snapshot(session_id: str, body: SnapshotIn) -> Snapshot:
    when = body.timestamp if body.timestamp.tzinfo else body.timestamp.replace(tzinfo=UTC)
    return Snapshot(
        session_id=session_id,
        timestamp=when.astimezone(UTC),
        balance=body.balance,
        positions=tuple(Position(**p.model_dump()) for p in body.positions),
        pv=body.pv,
        roe=body.roe,
        unrealized_pnl=body.unrealized_pnl,
        sharpe=body.sharpe,
        max_drawdown=body.max_drawdown,
        funding_fees=body.funding_fees,
    )


@router.post(
    "/sessions/{session_id}/snapshots",
    response_model=Stored,
    status_code=201,
    responses={200: {"model": Stored, "description": "Already stored for that time."}},
)
def write_snapshot(
    plat: Plat, who: Caller, session_id: str, body: SnapshotIn, response: Response
) -> Stored:
    """Add a finwatcher snapshot to the session's results (the session's own token only)."""
    if who.role != "service" or who.session_id != session_id:
        raise Forbidden(
            "results must be written by the session's own token (results:<session id>); "
            f"role {who.role} may only read them"
        )
    snapshot = _snapshot(session_id, body)
    stored = SnapshotStore(plat.results_engine, session_id).save(snapshot, datetime.now(UTC))
    if not stored:
        response.status_code = 200
    return Stored(session_id=session_id, timestamp=snapshot.timestamp, stored=stored)
