"""The platform API (``aifap serve api``): auth, supervisor → managers → traders, risk.

Routes (OpenAPI at ``/docs``; every route but ``/health``, ``/ready``, ``/metrics`` and
``/auth/token``/``/auth/refresh`` needs ``Authorization: Bearer <access token>``):

- ``POST /auth/token`` (form ``username``, ``password``) → ``{access_token,
  refresh_token, token_type}``; ``POST /auth/refresh``; ``POST /auth/logout``;
- ``/managers`` (supervisor writes), ``/accounts`` (keys in, never out; or a gateway
  account: its gateway service's URL and account name, no keys), ``/traders`` with
  ``start``, ``stop``, ``status``, ``logs``;
- ``POST /halt`` (supervisor: stop every trader), ``POST /risk/check``;
- the results, tear-sheet and OHLCV routers under ``/results``, ``/tearsheets`` and
  ``/ohlcv``, with the same rights (a manager sees only its traders' sessions);
  ``POST /results/sessions/{id}/snapshots``: a session's own token writes its results.

Errors answer ``{"detail": "…"}``: 401 no valid token, 403 the role may not, 404 not
found or not yours, 409 a rule of the current state (budget), 422 a bad field, 423 a
locked login. The risk monitor checks the managers' limits every ``risk_interval``
seconds in the background (0: only on ``POST /risk/check``); of several worker
processes on one sessions directory, the one holding its risk-loop lock does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from aifap.analysis.service import tearsheet_router
from aifap.api.auth import Authenticator, Principal
from aifap.api.deps import Caller, Platform, platform, user
from aifap.api.errors import ApiError, NotFound
from aifap.api.launch import TraderRunner
from aifap.api.metrics import install_metrics
from aifap.api.risk import RiskMonitor
from aifap.api.routes_auth import router as auth_router
from aifap.api.routes_org import router as org_router
from aifap.api.routes_results import router as results_writes
from aifap.api.routes_risk import router as risk_router
from aifap.api.routes_traders import router as traders_router
from aifap.api.schemas import Message
from aifap.api.strategy_paths import default_roots
from aifap.api.visibility import Visibility
from aifap.auth.tokens import TokenError, secret_key
from aifap.core.errors import ConfigError
from aifap.data.service import ohlcv_router
from aifap.db import database_url, make_engine, migrate, session_factory
from aifap.deploy.base import Launcher
from aifap.deploy.launchers import get_launcher
from aifap.live.config import SESSION_ID
from aifap.locks import FileLock
from aifap.redaction import redact_url
from aifap.settings import get_settings
from aifap.watch.schemas import Health
from aifap.watch.service import add_health, install_query_errors, results_router

log = logging.getLogger(__name__)

_ERROR_TEXTS = {
    400: "A bad query.",
    401: "No valid access token.",
    403: "The caller's role may not do this.",
    404: "Not found, or not the caller's.",
    409: "Refused by the current state (budget, running).",
    422: "A field breaks a rule (the message names it).",
    423: "The login is locked after failed attempts.",
    503: "A database is unreachable.",
}
# JSON on every route, also those answering HTML when they succeed (the tear sheet)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Message, "description": text, "content": {"application/json": {}}}
    for code, text in _ERROR_TEXTS.items()
}


async def _visible(
    plat: Annotated[Platform, Depends(platform)], who: Caller
) -> Collection[str] | None:
    # the session ids the caller may read results of (None: all); from memory on the
    # event loop when answered in the last seconds, else queried on a worker thread
    found, ids = plat.visibility.cached(who)
    if found:
        return ids
    return await run_in_threadpool(plat.visibility.lookup, who)


async def _session_guard(
    request: Request, visible: Annotated[Collection[str] | None, Depends(_visible)]
) -> None:
    # a session the caller may not see answers 404, as an unknown one does
    sid = request.path_params.get("session_id")
    if sid is None:
        return
    if not SESSION_ID.match(str(sid)) or (visible is not None and sid not in visible):
        raise NotFound(f"session {sid!r} not found")


def _errors(app: FastAPI) -> None:
    install_query_errors(app)

    @app.exception_handler(ApiError)
    def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(TokenError)
    def token_error(_request: Request, exc: TokenError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(ConfigError)
    def config_error(_request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(IntegrityError)
    def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # two requests raced for one unique name: the later one conflicts
        return JSONResponse(
            {"detail": f"the change conflicts with another ({type(exc.orig).__name__})"},
            status_code=409,
        )

    @app.exception_handler(SQLAlchemyError)
    def database_error(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("platform database error: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": f"database unavailable ({type(exc).__name__})"}, status_code=503
        )


class _Alerts:
    """Risk alerts through the alert service (console, Discord), started on first use."""

    def __init__(self, results_url: str) -> None:
        self.results_url = results_url
        self.service: Any = None
        self.lock = threading.Lock()

    def __call__(self, who: str, message: str) -> None:
        from aifap.alerts import AlertConfig
        from aifap.alerts.service import AlertService

        with self.lock:
            if self.service is None:
                config = AlertConfig.from_settings(
                    session_id="platform-risk", trader_label="Risk", system_label="Platform"
                )
                self.service = AlertService(config, self.results_url).start()
        self.service.error("risk", message, level="critical", summary=f"{who}: {message}")

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()


RISK_LOCK = "risk-loop.lock"  # in the sessions directory: one loop per directory
SERVE_OPTIONS = "AIFAP_API_SERVE_OPTIONS"  # the CLI's create_app options, for its workers


def _risk_loop(
    monitor: RiskMonitor, interval: float, stop: threading.Event, lock: FileLock
) -> None:
    # every worker process runs this; the lock's holder checks, the others stand by
    # (and take over within an interval when the holder dies)
    try:
        while not stop.wait(interval):
            if not lock.acquire():
                continue
            try:
                monitor.check()
            except Exception as exc:  # the loop outlives a bad check; the next one retries
                log.error("risk check failed: %s", type(exc).__name__)
    finally:
        lock.release()


def create_app(
    platform_url: str | None = None,
    results_url: str | None = None,
    market_url: str | None = None,
    *,
    launcher: str | Launcher = "local",
    sessions_dir: Path | None = None,
    risk_interval: float = 30.0,
    stop_timeout: float = 60.0,
    migrate_db: bool = True,
    strategy_roots: Sequence[str | Path] | None = None,
    **auth_options: Any,
) -> FastAPI:
    """Return the platform API over its databases (default: the settings').

    Args:
        platform_url: the platform database (users, managers, traders, audit).
        results_url: the results database (sessions' snapshots, orders, fills).
        market_url: the market database (OHLCV).
        launcher: where traders run (a registered launcher name or a Launcher).
        sessions_dir: where traders' working directories go (default: data dir).
        risk_interval: seconds between background risk checks (0: none).
        stop_timeout: seconds a stopping session gets before it is killed.
        strategy_roots: the directories a trader's strategy file or package must lie in
            (default: the strategies directory, ``AIFAP_STRATEGIES_DIR``).
        migrate_db: upgrade the databases first (worker processes leave it to their
            parent, which did it once: concurrent upgrades would race).
        **auth_options: :class:`~aifap.api.auth.Authenticator` options
            (``access_ttl``, ``refresh_ttl``, ``max_failures``, ``lockout``).
    """
    p_url = platform_url or database_url("platform")
    r_url = results_url or database_url("results")
    m_url = market_url or database_url("market")
    signing = secret_key()  # signs tokens; the account keys' cipher derives from it too
    if migrate_db:
        for url in dict.fromkeys((p_url, r_url)):
            migrate(url)
    # pooled: a server keeps its SQLite connections open (closing the last one of a
    # WAL database checkpoints it, an fsync per request)
    p_engine = make_engine(p_url, pooled=True)
    r_engine = p_engine if r_url == p_url else make_engine(r_url, pooled=True)
    sessions = session_factory(p_engine)
    root = sessions_dir or get_settings().data_dir / "platform" / "sessions"
    runner = TraderRunner(get_launcher(launcher), root, r_url, signing)
    alerts = _Alerts(r_url)
    monitor = RiskMonitor(sessions, r_engine, runner, alerts, stop_timeout=stop_timeout)
    plat = Platform(
        sessions=sessions,
        auth=Authenticator(sessions, key=signing, **auth_options),
        runner=runner,
        monitor=monitor,
        platform_engine=p_engine,
        results_engine=r_engine,
        platform_url=p_url,
        results_url=r_url,
        market_url=m_url,
        visibility=Visibility(sessions),
        strategy_roots=tuple(Path(r) for r in strategy_roots or default_roots()),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if risk_interval > 0:
            lock = FileLock(root / RISK_LOCK)
            threading.Thread(
                target=_risk_loop, args=(monitor, risk_interval, stop, lock), daemon=True,
                name="aifap-risk",
            ).start()  # fmt: skip
        yield
        stop.set()
        alerts.stop()

    app = FastAPI(
        title="AIFAP platform API",
        version="1",
        description=__doc__,
        responses=ERRORS,
        lifespan=lifespan,
    )
    app.state.platform = plat
    _errors(app)
    add_health(app, lambda: _readiness(plat))
    install_metrics(app)
    app.include_router(auth_router)
    app.include_router(org_router)
    app.include_router(traders_router)
    app.include_router(risk_router)
    guarded = [Depends(_session_guard)]
    app.include_router(
        results_router(r_engine, visible=_visible), prefix="/results", dependencies=guarded
    )
    app.include_router(results_writes, prefix="/results", dependencies=guarded)
    app.include_router(
        tearsheet_router(r_engine, r_url), prefix="/tearsheets", dependencies=guarded
    )
    app.include_router(ohlcv_router(m_url), prefix="/ohlcv", dependencies=[Depends(user)])
    return app


def app_from_env() -> FastAPI:
    """Return the app of the options ``aifap serve api`` put in ``AIFAP_API_SERVE_OPTIONS``.

    uvicorn's worker processes call this (by its import path) to build their own app;
    the serving command migrated the databases once before starting them. The variable
    is taken out of the environment (it may hold a database password), so the sessions
    this worker launches do not inherit it.
    """
    options: dict[str, Any] = json.loads(os.environ.pop(SERVE_OPTIONS, "{}"))
    return create_app(**options, migrate_db=False)


def _readiness(plat: Platform) -> JSONResponse:
    # 200 when the platform and results databases answer, else 503 naming the failure
    try:
        with plat.platform_engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM platform_users"))
        with plat.results_engine.connect() as conn:
            sessions = conn.execute(text("SELECT count(*) FROM live_sessions")).scalar()
    except SQLAlchemyError as exc:
        body = Health(
            status="unavailable", database=redact_url(plat.platform_url), error=type(exc).__name__
        )
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    body = Health(
        status="ok", database=redact_url(plat.platform_url), sessions=int(sessions or 0)
    )
    return JSONResponse(body.model_dump(exclude_none=True))


__all__ = ["Principal", "app_from_env", "create_app"]
