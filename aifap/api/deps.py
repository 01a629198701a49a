"""What every route of the platform API shares: the :class:`Platform` and the caller.

``app.state.platform`` holds the databases, the authenticator, the trader runner and
the risk monitor; the dependencies below resolve the caller from its bearer token
(``401`` without a valid one). Routes open their platform-database transaction in
their own body (one thread): a pooled connection is never held across the thread
hops between dependencies, which could starve the pool under load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from aifap.api.auth import Authenticator, Principal
from aifap.api.errors import Forbidden
from aifap.api.launch import TraderRunner
from aifap.api.risk import RiskMonitor
from aifap.api.visibility import Visibility


@dataclass
class Platform:
    """The platform API's parts, shared by every request."""

    sessions: sessionmaker[Session]
    auth: Authenticator
    runner: TraderRunner
    monitor: RiskMonitor
    platform_engine: Engine
    results_engine: Engine
    platform_url: str
    results_url: str
    market_url: str
    visibility: Visibility
    strategy_roots: tuple[Path, ...]


oauth2 = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def platform(request: Request) -> Platform:
    """Return the app's :class:`Platform`."""
    found: Platform = request.app.state.platform
    return found


Plat = Annotated[Platform, Depends(platform)]


async def caller(plat: Plat, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """Return who calls: a user or a session's service token (401 without a valid token).

    A token checked in the last seconds is answered from memory on the event loop.
    Otherwise the check may query the database, so it runs on a worker thread: the
    event loop must never wait for a pooled connection (the connection's holder may
    need the loop to finish its request: a deadlock until the pool times out).
    """
    cached = plat.auth.cached(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(plat.auth.principal, token)


async def user(who: Annotated[Principal, Depends(caller)]) -> Principal:
    """Return the calling user; a session's service token gets 403 here."""
    if who.role == "service":
        raise Forbidden("a session's token may only read its own trader and results")
    return who


Caller = Annotated[Principal, Depends(caller)]
User = Annotated[Principal, Depends(user)]
