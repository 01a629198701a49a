"""The results service (``aifap serve results``, the seed's RqueryAPI): a session's rows.

:func:`results_router` is an ``APIRouter`` the platform API mounts behind its
authentication; :func:`create_app` wraps it with ``/health`` and ``/ready`` for its
own process. Routes (all ``GET``, JSON, schemas in :mod:`aifap.watch.schemas`):

- ``/sessions``, ``/sessions/{id}``;
- ``/sessions/{id}/snapshots``, ``/positions`` (``latest=true``: the newest
  snapshot's only), ``/orders``, ``/fills``, ``/alerts``.

Lists take ``start`` / ``end`` (ISO 8601; ``start <= time < end``), ``limit``
(1-5000) and ``cursor`` (the ``next_cursor`` of the page before) and answer
``{"items": [...], "next_cursor": ...}``. An unknown session answers 404, a bad
range, limit or cursor 422, an unreachable database 503; each with ``{"detail": …}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from aifap.db import database_url, make_engine
from aifap.redaction import redact_url
from aifap.watch import results
from aifap.watch.results import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    QueryError,
    ResultsReader,
    SessionNotFound,
    TimeRange,
)
from aifap.watch.schemas import (
    AlertRow,
    Error,
    FillRow,
    Health,
    OrderRow,
    Page,
    PositionRow,
    SessionRow,
    SnapshotRow,
)

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Error, "description": "No session has this id."},
    422: {"description": "A bad time range, limit or cursor."},
    503: {"model": Error, "description": "The results database is unreachable."},
}


class ResultsRoute(APIRoute):
    """A route whose store errors answer JSON: unknown session 404, bad query 422, DB down 503.

    Set per router (not as app exception handlers) so the mapping travels with the
    router into whatever app mounts it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler with the error map."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SessionNotFound as exc:
                return JSONResponse({"detail": str(exc.args[0])}, status_code=404)
            except QueryError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=422)
            except SQLAlchemyError as exc:
                log.warning("results database unavailable: %s", type(exc).__name__)
                return JSONResponse(
                    {"detail": f"results database unavailable ({type(exc).__name__})"},
                    status_code=503,
                )

        return guarded


def page_response(reader: ResultsReader, session_id: str, page: results.Page) -> Response:
    """Return ``page`` as its JSON body, written directly from the reader's rows.

    The rows are built by :mod:`aifap.watch.results` with exactly the documented fields
    and types, so they skip FastAPI's per-row validation against the response model
    (which stays on the route for the OpenAPI schema); orjson writes the same JSON the
    model would (times ``…Z``, decimals as their exact text, NaN as null) in a fraction
    of the time.
    An empty page answers 404 if the session itself is unknown.
    """
    if not page.items:
        reader.require(session_id)
    body = orjson.dumps(
        {"items": page.items, "next_cursor": page.next_cursor}, default=str,
        option=orjson.OPT_UTC_Z,
    )  # fmt: skip
    return Response(body, media_type="application/json")


def readiness(reader: ResultsReader, url: str) -> JSONResponse:
    """Return 200 with the session count when the results schema answers, else 503."""
    try:
        count = reader.ping()
    except SQLAlchemyError as exc:
        body = Health(status="unavailable", database=redact_url(url), error=type(exc).__name__)
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    body = Health(status="ok", database=redact_url(url), sessions=count)
    return JSONResponse(body.model_dump(exclude_none=True))


def add_health(app: FastAPI, ready: Callable[[], JSONResponse]) -> None:
    """Add ``/health`` (the process answers) and ``/ready`` (its database answers)."""

    @app.get("/health", response_model=Health, response_model_exclude_none=True, tags=["health"])
    def health() -> Health:
        return Health(status="ok")

    @app.get(
        "/ready",
        response_model=Health,
        tags=["health"],
        responses={503: {"model": Health, "description": "The database is unreachable."}},
    )
    def ready_route() -> JSONResponse:
        return ready()


async def _range(  # async: computed on the event loop, no thread hop per request
    start: Annotated[
        datetime | None, Query(description="ISO 8601; rows at or after it. Naive = UTC.")
    ] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601; rows before it.")] = None,
) -> TimeRange:
    return TimeRange.of(start, end)


Span = Annotated[TimeRange, Depends(_range)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page.")]


def _every_session() -> None:
    return None


def results_router(
    engine: Engine, visible: Callable[..., Collection[str] | None] | None = None
) -> APIRouter:
    """Return the results routes over ``engine`` (read only).

    ``visible``: a FastAPI dependency answering the session ids the caller may list
    (None: all); the platform API passes its row-level rights here.
    """
    reader = ResultsReader(engine)
    router = APIRouter(route_class=ResultsRoute, tags=["results"], responses=ERRORS)
    only_visible = Depends(visible or _every_session)

    @router.get("/sessions", response_model=Page[SessionRow])
    def sessions(
        span: Span,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        only: Collection[str] | None = only_visible,
    ) -> Any:
        """List sessions by id; the range filters on their start."""
        return reader.sessions(span, limit, cursor, only)

    @router.get("/sessions/{session_id}", response_model=SessionRow)
    def session(session_id: str) -> Any:
        """Return one session: status, allocation, snapshot count and span."""
        return reader.session(session_id)

    _add_page(router, reader, "snapshots")

    @router.get("/sessions/{session_id}/positions", response_model=Page[PositionRow])
    def positions(
        session_id: str,
        span: Span,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        latest: Annotated[bool, Query(description="Only the newest snapshot's.")] = False,
    ) -> Any:
        """Return the open positions of each snapshot, by time then symbol."""
        page = reader.positions(session_id, span, limit, cursor, latest=latest)
        return page_response(reader, session_id, page)

    for name in ("orders", "fills", "alerts"):
        _add_page(router, reader, name)
    return router


# the paged lists of a session without extra parameters: reader method -> (page, doc)
_PAGES: dict[str, tuple[type[BaseModel], str]] = {
    "snapshots": (
        Page[SnapshotRow],
        "Return finwatcher's metrics rows (PV, ROE, uPnL, Sharpe, max drawdown), oldest first.",
    ),
    "orders": (Page[OrderRow], "Return the journaled orders by cycle and plan position."),
    "fills": (Page[FillRow], "Return the session's executions, oldest first."),
    "alerts": (Page[AlertRow], "Return the session's alerts and notable events, oldest first."),
}


def _add_page(router: APIRouter, reader: ResultsReader, name: str) -> None:
    # GET /sessions/{session_id}/<name>: one page of the reader's method of that name
    page, doc = _PAGES[name]
    fetch = getattr(reader, name)

    def endpoint(
        session_id: str, span: Span, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> Response:
        return page_response(reader, session_id, fetch(session_id, span, limit, cursor))

    endpoint.__name__ = endpoint.__qualname__ = name  # the operation id and summary
    endpoint.__doc__ = doc
    router.add_api_route(
        f"/sessions/{{session_id}}/{name}", endpoint, response_model=page, methods=["GET"]
    )


def create_app(url: str | None = None) -> FastAPI:
    """Return the results service over the results database at ``url`` (default: settings)."""
    db_url = url or database_url("results")
    # pooled: SQLite without a connect and pragmas per request; autocommit: PostgreSQL
    # without BEGIN/ROLLBACK round trips around each read
    engine = make_engine(db_url, pooled=True, autocommit=True)
    app = FastAPI(
        title="AIFAP results service",
        version="1",
        description=__doc__,
        responses={422: {"model": Error, "description": "A bad query parameter."}},
    )
    install_query_errors(app)
    add_health(app, lambda: readiness(ResultsReader(engine), db_url))
    app.include_router(results_router(engine))
    return app


def install_query_errors(app: FastAPI) -> None:
    """Answer FastAPI's own validation errors (bad dates, limits) as 422 with a detail."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        )
        return JSONResponse({"detail": problems}, status_code=422)
