"""``/halt`` and ``/risk/check``: the supervisor's stop button and an on-demand limit check."""

from __future__ import annotations

from fastapi import APIRouter

from aifap.api.deps import Plat, User
from aifap.api.org import require_supervisor
from aifap.api.schemas import Breach, HaltOut

router = APIRouter(tags=["risk"])


@router.post("/halt", response_model=HaltOut)
def halt_all(plat: Plat, who: User) -> HaltOut:
    """Stop every running trader of every manager now (supervisor)."""
    require_supervisor(who)
    return HaltOut(stopped=plat.monitor.halt_all(who.subject))


@router.post("/risk/check", response_model=list[Breach])
def check_risk(plat: Plat, who: User) -> list[Breach]:
    """Check every manager's limits against the latest snapshots now (supervisor)."""
    require_supervisor(who)
    return [Breach.model_validate(b) for b in plat.monitor.check()]
