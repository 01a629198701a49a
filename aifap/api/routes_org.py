"""``/managers`` and ``/accounts``: the org model's managers and exchange accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from aifap.api import org
from aifap.api.deps import Plat, User
from aifap.api.schemas import (
    AccountCreate,
    AccountOut,
    ManagerCreate,
    ManagerOut,
    ManagerPatch,
    RowId,
)

router = APIRouter()


@router.post("/managers", response_model=ManagerOut, status_code=201, tags=["managers"])
def create_manager(plat: Plat, who: User, body: ManagerCreate) -> Any:
    """Hire a manager: its login, capital budget and risk limits (supervisor)."""
    with plat.sessions.begin() as db:
        return org.manager_view(db, org.create_manager(db, who, body))


@router.get("/managers", response_model=list[ManagerOut], tags=["managers"])
def list_managers(plat: Plat, who: User) -> Any:
    """List the managers the caller may see."""
    with plat.sessions.begin() as db:
        return [org.manager_view(db, m) for m in org.list_managers(db, who)]


@router.get("/managers/{manager_id}", response_model=ManagerOut, tags=["managers"])
def get_manager(plat: Plat, who: User, manager_id: RowId) -> Any:
    """Return one manager with its budget, allocation and limits."""
    with plat.sessions.begin() as db:
        return org.manager_view(db, org.get_manager(db, who, manager_id))


@router.patch("/managers/{manager_id}", response_model=ManagerOut, tags=["managers"])
def update_manager(plat: Plat, who: User, manager_id: RowId, body: ManagerPatch) -> Any:
    """Change a manager's budget, limits or password (supervisor)."""
    with plat.sessions.begin() as db:
        return org.manager_view(db, org.update_manager(db, who, manager_id, body))


@router.delete("/managers/{manager_id}", status_code=204, tags=["managers"])
def delete_manager(plat: Plat, who: User, manager_id: RowId) -> Response:
    """Delete a manager without traders or accounts (supervisor)."""
    with plat.sessions.begin() as db:
        org.delete_manager(db, who, manager_id)
        return Response(status_code=204)


@router.post("/accounts", response_model=AccountOut, status_code=201, tags=["accounts"])
def create_account(plat: Plat, who: User, body: AccountCreate) -> Any:
    """Store an exchange account: its keys (encrypted, never answered), or its gateway service."""
    with plat.sessions.begin() as db:
        return org.account_view(org.create_account(db, who, body))


@router.get("/accounts", response_model=list[AccountOut], tags=["accounts"])
def list_accounts(plat: Plat, who: User) -> Any:
    """List the accounts the caller may see (without keys)."""
    with plat.sessions.begin() as db:
        return [org.account_view(a) for a in org.list_accounts(db, who)]


@router.get("/accounts/{account_id}", response_model=AccountOut, tags=["accounts"])
def get_account(plat: Plat, who: User, account_id: RowId) -> Any:
    """Return one account (without keys)."""
    with plat.sessions.begin() as db:
        return org.account_view(org.get_account(db, who, account_id))
