"""The ASGI app: one dispatcher that logs, injects faults, checks signatures and routes.

Routing is a table ``(METHOD, path) -> Route``; handlers are plain functions of a
``Call`` that return the ``data`` of Bitget's envelope
``{"code": "00000", "msg": "success", "requestTime": ms, "data": ...}`` or raise
``BitgetError``. Handlers run on the server's event loop under the emulator's lock,
so state changes are atomic; injected latency and held requests are ``await``-ed
outside the lock, so concurrent requests really overlap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route as StarletteRoute

from aifap.exchange.emulator.auth import fingerprint
from aifap.exchange.emulator.errors import BitgetError
from aifap.exchange.emulator.faults import Decision, RequestRecord, safe_headers

if TYPE_CHECKING:
    from aifap.exchange.emulator.emulator import BitgetEmulator

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    method: str
    path: str
    params: dict[str, Any]
    now_ms: int
    key: str | None = None
    demo: bool = False

    def get(self, name: str, default: Any = None) -> Any:
        """Return a parameter (query or JSON body) or ``default``."""
        value = self.params.get(name, default)
        return default if value == "" else value

    def require(self, name: str) -> Any:
        """Return a required parameter or raise Bitget's 40019."""
        value = self.get(name)
        if value is None:
            raise BitgetError("40019", f"Parameter {name} cannot be empty")
        return value


Handler = Callable[[Call], object]


@dataclass(frozen=True, slots=True)
class Route:
    """A handler and whether it needs a signed request."""

    handler: Handler
    private: bool = False


@dataclass(slots=True)
class Router:
    """The ``(METHOD, path) -> Route`` table."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)

    def add(self, method: str, path: str, handler: Handler, private: bool = False) -> None:
        """Register a handler; registering the same method and path twice is an error."""
        key = (method.upper(), path)
        if key in self.routes:
            raise ValueError(f"route {method} {path} is already registered")
        self.routes[key] = Route(handler, private)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot serialize {type(value).__name__}")


def envelope(data: object, now_ms: int, code: str = "00000", msg: str = "success") -> bytes:
    """Return Bitget's JSON envelope."""
    body = {"code": code, "msg": msg, "requestTime": now_ms, "data": data}
    return json.dumps(body, default=_json_default, separators=(",", ":")).encode()


def build_app(emulator: BitgetEmulator) -> Starlette:
    """Return the Starlette app serving ``emulator``."""

    async def dispatch(request: Request) -> Response:
        method, path = request.method.upper(), request.url.path
        query = list(request.query_params.multi_items())
        raw_body = await request.body()
        params: dict[str, Any] = dict(query)
        body_text = raw_body.decode("utf-8", errors="replace")
        record = RequestRecord(
            method,
            path,
            {},
            safe_headers(request.headers),
            start=time.perf_counter(),
            demo=request.headers.get("paptrading") == "1",
        )
        emulator.request_log.append(record)
        try:
            if body_text.strip():
                try:
                    decoded = json.loads(body_text)
                except ValueError:
                    raise BitgetError(
                        "40017", "Parameter verification failed: body is not JSON"
                    ) from None
                if isinstance(decoded, dict):
                    params.update(decoded)
            record.params = dict(params)
            decision = emulator.faults.decide(method, path)
            if decision.gate is not None and not await _wait_gate(
                decision.gate.opened, decision.gate.hold_seconds, emulator.stopping
            ):
                record.fault = "gate_timeout"
            if decision.latency > 0:
                await asyncio.sleep(decision.latency)
            if decision.kind in ("rate_limit", "server_error", "timeout"):
                record.fault = decision.kind
                return await _fail(request, decision, record, emulator.stopping)
            response = _execute(emulator, method, path, query, params, body_text, request, record)
            if decision.kind == "lost":
                record.fault = "lost"
                return await _lose(request, decision, record, emulator.stopping)
            return response
        except BitgetError as exc:
            record.status, record.code = exc.status, exc.code
            return Response(
                envelope(None, emulator.now_ms(), exc.code, exc.msg),
                status_code=exc.status,
                media_type="application/json",
            )
        finally:
            record.end = time.perf_counter()

    routes = [StarletteRoute("/{path:path}", dispatch, methods=["GET", "POST", "DELETE"])]
    return Starlette(routes=routes)


def _execute(
    emulator: BitgetEmulator,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    params: dict[str, Any],
    body_text: str,
    request: Request,
    record: RequestRecord,
) -> Response:
    route = emulator.router.routes.get((method, path))
    if route is None:
        raise BitgetError("40404", f"Request URL NOT FOUND: {method} {path}", status=404)
    key = None
    if route.private:
        request_path = path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
        presented = request.headers.get("access-key")
        record.account = fingerprint(presented) if presented else None
        key = emulator.keys.verify(
            request.headers, method, request_path, body_text if method == "POST" else ""
        )
    with emulator.lock:
        now = emulator.advance()
        call = Call(method, path, params, now, key, record.demo)
        data = route.handler(call)
    record.status, record.code = 200, "00000"
    return Response(envelope(data, now), media_type="application/json")


async def _wait_gate(opened: threading.Event, seconds: float, stopping: threading.Event) -> bool:
    deadline = time.monotonic() + seconds
    while not opened.is_set():
        if time.monotonic() >= deadline or stopping.is_set():
            return False
        await asyncio.sleep(0.005)
    return True


async def _hold(request: Request, seconds: float, stopping: threading.Event) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping.is_set():
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02)


async def _fail(
    request: Request, decision: Decision, record: RequestRecord, stopping: threading.Event
) -> Response:
    if decision.kind == "rate_limit":
        record.status, record.code = 429, "429"
        body = json.dumps(
            {
                "code": "429",
                "msg": "Too Many Requests",
                "requestTime": int(time.time() * 1000),
                "data": None,
            }
        )
        return Response(body, status_code=429, media_type="application/json")
    if decision.kind == "server_error":
        record.status = decision.status
        return PlainTextResponse(
            f"{decision.status} emulated server error", status_code=decision.status
        )
    await _hold(request, decision.hold_seconds, stopping)
    record.status = 504
    return PlainTextResponse("504 Gateway Time-out", status_code=504)


async def _lose(
    request: Request, decision: Decision, record: RequestRecord, stopping: threading.Event
) -> Response:
    if decision.lost_as == "timeout":
        await _hold(request, decision.hold_seconds, stopping)
        record.status = 504
        return PlainTextResponse("504 Gateway Time-out", status_code=504)
    status = int(decision.lost_as)
    record.status = status
    return PlainTextResponse(f"{status} response lost", status_code=status)
