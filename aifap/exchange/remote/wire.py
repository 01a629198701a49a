"""What crosses the wire between ``RemoteGateway`` and the gateway service.

Values are the core dataclasses (``Order``, ``Fill``, ``Position``, ``MarketSpec``...)
as JSON through pydantic: Decimals travel as strings, never through a float;
datetimes as ISO 8601. Errors travel as ``{"error": {"type", "message", "fields"}}``
and come back out as the same AIFAP exception class with the same message and fields
(``OrderRejectedError`` stays one, with its reason in the message).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import pandas as pd
from pydantic import TypeAdapter

from aifap.auth.tokens import ScopeError, TokenError
from aifap.core import errors
from aifap.core.errors import (
    AifapError,
    ConfigError,
    ExchangeAuthError,
    GatewayError,
    OrderRejectedError,
    TransientGatewayError,
)
from aifap.exchange.ccxt.gateway_convert import bars as bars_frame

# How long an idle connection between a session and the service stays open. A session
# calls once a cycle (1 to 5 minutes apart, typically), so the default few seconds of
# uvicorn and httpx would open a TCP connection per cycle. The client lets go first, so
# it never sends on a connection the service is closing.
CLIENT_IDLE_SECONDS = 320.0
SERVICE_IDLE_SECONDS = 350


@lru_cache(maxsize=64)
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def warm(types: Iterable[Any]) -> None:
    """Build the adapters of ``types`` now (ms each the first time), not on a cycle's path."""
    for tp in types:
        _adapter(tp)


def dump(value: Any, tp: Any) -> Any:
    """Return ``value`` (of type ``tp``) as JSON-ready data."""
    return _adapter(tp).dump_python(value, mode="json")


def load(tp: Any, data: Any) -> Any:
    """Return the ``tp`` value of :func:`dump`'s output."""
    return _adapter(tp).validate_python(data)


def dump_json(value: Any, tp: Any = Any) -> bytes:
    """Return ``value`` (of type ``tp``) as JSON text: :func:`dump`, encoded in one step."""
    return _adapter(tp).dump_json(value)


def load_json(tp: Any, text: bytes | str) -> Any:
    """Return the ``tp`` value of :func:`dump_json`'s output, parsed and checked in one step."""
    return _adapter(tp).validate_json(text)


def dump_bars(frame: pd.DataFrame) -> dict[str, Any]:
    """Return an ``aifap.core.bars`` frame as rows ``[ms, open, high, low, close, volume]``."""
    ms = (frame.index.asi8 // 1_000_000).tolist() if len(frame) else []
    return {"rows": [[t, *row] for t, row in zip(ms, frame.to_numpy().tolist(), strict=True)]}


def load_bars(data: dict[str, Any]) -> pd.DataFrame:
    """Return the frame of :func:`dump_bars`'s output."""
    return bars_frame(list(data["rows"]))


# ---- errors ----------------------------------------------------------------------------


def _classes(root: type[BaseException]) -> dict[str, type[BaseException]]:
    found = {root.__name__: root}
    for sub in root.__subclasses__():
        found.update(_classes(sub))
    return found


def error_classes() -> dict[str, type[BaseException]]:
    """Return the exception classes that cross the wire by name (every ``AifapError``)."""
    known = {cls.__name__: cls for cls in vars(errors).values() if isinstance(cls, type)}
    known.update(_classes(AifapError))
    known["ValueError"] = ValueError
    return {n: c for n, c in known.items() if issubclass(c, BaseException)}


def status_of(exc: BaseException) -> int:
    """Return the HTTP status the service answers ``exc`` with."""
    if isinstance(exc, ScopeError):
        return 403
    if isinstance(exc, TokenError):
        return 401
    if isinstance(exc, TransientGatewayError):
        return 503
    if isinstance(exc, ExchangeAuthError):
        return 502
    if isinstance(exc, OrderRejectedError | ConfigError | ValueError):
        return 422
    return 500


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def error_body(exc: BaseException) -> dict[str, Any]:
    """Return ``exc`` as ``{"error": {"type", "message", "fields"}}``."""
    fields = {k: v for k, v in vars(exc).items() if not k.startswith("_") and _plain(v)}
    return {"error": {"type": type(exc).__name__, "message": str(exc), "fields": fields}}


def error_from(body: Any, status: int) -> BaseException:
    """Return the exception an error body describes (same class, message and fields).

    A body that is not ours (a proxy's page) or names an unknown class gives a
    ``GatewayError``; a 502/503/504 without one a ``TransientGatewayError``.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("type"), str):
        detail = body.get("detail") if isinstance(body, dict) else None
        text = f"gateway service answered HTTP {status}: {detail or str(body)[:200]}"
        if status in (502, 503, 504):
            return TransientGatewayError(text)
        if status == 401:
            return TokenError(text)
        if status == 403:
            return ScopeError(text)
        return GatewayError(text)
    name, message = error["type"], str(error.get("message", ""))
    cls = error_classes().get(name)
    if cls is None:
        return GatewayError(f"{name}: {message}")
    exc = cls.__new__(cls)
    BaseException.__init__(exc, message)
    for key, value in (error.get("fields") or {}).items():
        setattr(exc, key, value)
    return exc
