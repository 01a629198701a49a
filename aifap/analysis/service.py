"""The tear-sheet service (``aifap serve tearsheets``, the seed's PyfolioAPI).

:func:`tearsheet_router` is an ``APIRouter`` the platform API mounts behind its
authentication; :func:`create_app` adds ``/health`` and ``/ready`` for its own process.

- ``GET /sessions/{id}/perf``: the session's headline metrics as JSON
  (:func:`aifap.analysis.report.session_metrics`: finwatcher's last snapshot plus the
  core's summary);
- ``GET /sessions/{id}/tearsheet.html``: the session's report, rendered like
  ``aifap report`` (papermill + nbconvert) and cached per session and snapshot count,
  so a new snapshot renders a new page and a repeated request is served from memory.

Unknown session: 404; unreachable results database: 503 (``{"detail": …}``).
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from aifap.analysis.report import session_metrics, session_report
from aifap.db import database_url, make_engine
from aifap.watch.results import ResultsReader
from aifap.watch.schemas import Error
from aifap.watch.service import ResultsRoute, add_health, install_query_errors, readiness

CACHE_SIZE = 16


class Perf(BaseModel):
    """A session's headline metrics (fractions, quote currency; :mod:`aifap.core.metrics`)."""

    session_id: str
    snapshots: int = Field(description="Finwatcher snapshots the metrics cover.")
    initial: float | None = Field(description="The starting allocation.")
    final_equity: float | None = Field(default=None, description="PV of the last snapshot.")
    pnl: float | None = None
    roe: float | None = None
    sharpe: float | None = Field(default=None, description="Daily returns, √365; null < 2 days.")
    max_drawdown: float | None = None
    volatility: float | None = Field(default=None, description="Of daily returns, √365.")
    upnl: float | None = None
    funding: float | None = None
    days: int | None = None
    trades: int = Field(description="Fills recorded.")
    fees: float
    start: datetime | None = None
    end: datetime | None = None


class TearSheetCache:
    """Rendered pages by (session, snapshot count); one render at a time per key."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.pages: OrderedDict[tuple[str, int], str] = OrderedDict()
        self.renders = 0
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, int], threading.Lock] = {}

    def get(self, key: tuple[str, int], render: Any) -> str:
        """Return the page of ``key``, rendering it with ``render()`` when missing."""
        with self._lock:
            if key in self.pages:
                self.pages.move_to_end(key)
                return self.pages[key]
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self.pages:
                    return self.pages[key]
            page: str = render()
            self.renders += 1
            with self._lock:
                self.pages[key] = page
                while len(self.pages) > self.size:
                    self.pages.popitem(last=False)
                self._key_locks.pop(key, None)
        return page


def tearsheet_router(engine: Engine, url: str, cache: TearSheetCache | None = None) -> APIRouter:
    """Return the tear-sheet routes over the results database (``engine`` opened on ``url``)."""
    reader = ResultsReader(engine)
    pages = cache or TearSheetCache()
    router = APIRouter(
        route_class=ResultsRoute,
        tags=["tear sheets"],
        responses={
            404: {"model": Error, "description": "No session has this id."},
            503: {"model": Error, "description": "The results database is unreachable."},
        },
    )

    @router.get("/sessions/{session_id}/perf", response_model=Perf)
    def perf(session_id: str) -> Any:
        """Return the session's metrics: PV, ROE, PnL, Sharpe (√365), max drawdown..."""
        reader.require(session_id)
        return {"session_id": session_id, **session_metrics(reader, session_id)}

    @router.get(
        "/sessions/{session_id}/tearsheet.html",
        response_class=HTMLResponse,
        responses={
            200: {"content": {"text/html": {}}, "description": "The report page."},
            404: {
                "model": Error,
                "description": "No session has this id.",
                "content": {"application/json": {}},
            },
            503: {
                "model": Error,
                "description": "The results database is unreachable.",
                "content": {"application/json": {}},
            },
        },
    )
    def tearsheet(session_id: str) -> HTMLResponse:
        """Return the session's tear sheet as one self-contained HTML page."""
        reader.require(session_id)
        key = (session_id, reader.snapshot_count(session_id))

        def render() -> str:
            with tempfile.TemporaryDirectory(prefix="aifap-tearsheet-") as out:
                return session_report(url, session_id, out).read_text(encoding="utf-8")

        return HTMLResponse(pages.get(key, render))

    return router


def create_app(url: str | None = None) -> FastAPI:
    """Return the tear-sheet service over the results database at ``url`` (default: settings)."""
    db_url = url or database_url("results")
    engine = make_engine(db_url)
    app = FastAPI(title="AIFAP tear-sheet service", version="1", description=__doc__)
    install_query_errors(app)
    add_health(app, lambda: readiness(ResultsReader(engine), db_url))
    app.include_router(tearsheet_router(engine, db_url))
    return app
