"""``/traders``: traders (strategies with capital) and their sessions through the launcher."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from aifap.api import org
from aifap.api.audit import record
from aifap.api.deps import Caller, Plat, User
from aifap.api.errors import Conflict
from aifap.api.models import ExchangeAccount, Manager
from aifap.api.models import User as UserRow
from aifap.api.schemas import (
    RowId,
    TraderCreate,
    TraderLogs,
    TraderOut,
    TraderPatch,
    TraderStatus,
)
from aifap.deploy.base import SessionStatus

router = APIRouter(prefix="/traders", tags=["traders"])


def _status(trader_id: int, status: SessionStatus) -> TraderStatus:
    return TraderStatus(
        trader_id=trader_id,
        session_id=status.session_id,
        state=status.state,
        cycle=status.cycle,
        sim_time=status.sim_time,
        exit_code=status.exit_code,
        reason=status.reason,
        heartbeat_age=status.heartbeat_age,
    )


@router.post("", response_model=TraderOut, status_code=201)
def create_trader(plat: Plat, who: User, body: TraderCreate) -> Any:
    """Create a trader (a manager for itself, the supervisor with ``manager_id``)."""
    with plat.sessions.begin() as db:
        made = org.trader_view(
            org.create_trader(db, who, body, plat.strategy_roots, plat.runner.check_account)
        )
    plat.visibility.forget()
    return made


@router.get("", response_model=list[TraderOut])
def list_traders(plat: Plat, who: Caller) -> Any:
    """List the traders the caller may see (a session: its own)."""
    with plat.sessions.begin() as db:
        return [org.trader_view(t) for t in org.list_traders(db, who)]


@router.get("/{trader_id}", response_model=TraderOut)
def get_trader(plat: Plat, who: Caller, trader_id: RowId) -> Any:
    """Return one trader (a session's token: its own config)."""
    with plat.sessions.begin() as db:
        return org.trader_view(org.get_trader(db, who, trader_id))


@router.patch("/{trader_id}", response_model=TraderOut)
def update_trader(plat: Plat, who: User, trader_id: RowId, body: TraderPatch) -> Any:
    """Change a stopped trader (its allocation within the manager's budget)."""
    with plat.sessions.begin() as db:
        return org.trader_view(
            org.update_trader(
                db, who, trader_id, body, plat.strategy_roots, plat.runner.check_account
            )
        )


@router.delete("/{trader_id}", status_code=204)
def delete_trader(plat: Plat, who: User, trader_id: RowId) -> Response:
    """Delete a stopped trader."""
    with plat.sessions.begin() as db:
        org.delete_trader(db, who, trader_id)
    plat.visibility.forget()
    return Response(status_code=204)


@router.post("/{trader_id}/start", response_model=TraderStatus)
def start_trader(plat: Plat, who: User, trader_id: RowId) -> TraderStatus:
    """Launch the trader's session (refused while running or while its manager is breached)."""
    with plat.sessions.begin() as db:
        trader = org.writable_trader(db, who, trader_id)
        manager = db.get(Manager, trader.manager_id)
        assert manager is not None
        if manager.breached:
            raise Conflict(
                f"manager {manager.id} breached its limits ({manager.breached}); "
                "its limits must be changed before its traders start again"
            )
        if plat.runner.status(trader).running:
            raise Conflict(f"trader {trader_id} must be stopped to start, it is running")
        account = db.get(ExchangeAccount, trader.account_id) if trader.account_id else None
        owner = db.get(UserRow, manager.user_id)
        status = plat.runner.start(trader, account, owner.username if owner else "manager")
        trader.state = "running"
        record(db, who.subject, "trader.start", f"trader:{trader.id}", session_id=trader.session_id)
        return _status(trader.id, status)


@router.post("/{trader_id}/stop", response_model=TraderStatus)
def stop_trader(plat: Plat, who: User, trader_id: RowId) -> TraderStatus:
    """Stop the trader's session cleanly (positions are kept)."""
    with plat.sessions.begin() as db:
        trader = org.writable_trader(db, who, trader_id)
        status = plat.runner.stop(trader)
        trader.state = "stopped"
        record(db, who.subject, "trader.stop", f"trader:{trader.id}", state=status.state)
        return _status(trader.id, status)


@router.get("/{trader_id}/status", response_model=TraderStatus)
def trader_status(plat: Plat, who: User, trader_id: RowId) -> TraderStatus:
    """Return the state of the trader's session (state, cycle, clock, heartbeat age)."""
    with plat.sessions.begin() as db:
        trader = org.get_trader(db, who, trader_id)
        return _status(trader.id, plat.runner.status(trader))


@router.get("/{trader_id}/logs", response_model=TraderLogs)
def trader_logs(
    plat: Plat,
    who: User,
    trader_id: RowId,
    lines: Annotated[int, Query(ge=1, le=5000, description="How many last lines.")] = 100,
) -> TraderLogs:
    """Return the last lines of the trader's session log."""
    with plat.sessions.begin() as db:
        trader = org.get_trader(db, who, trader_id)
        return TraderLogs(trader_id=trader.id, lines=plat.runner.logs(trader, lines))
