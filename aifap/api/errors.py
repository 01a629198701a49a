"""The API's errors: each carries its HTTP status; the app answers ``{"detail": …}``."""

from __future__ import annotations

from aifap.core.errors import AifapError


class ApiError(AifapError):
    """A request the API refuses; ``status_code`` is the HTTP status it answers."""

    status_code = 400


class Unauthorized(ApiError):
    """No valid credentials (401)."""

    status_code = 401


class Forbidden(ApiError):
    """Authenticated, but the caller's role may not do this (403)."""

    status_code = 403


class NotFound(ApiError):
    """No such resource, or not one the caller may see (404: existence is not leaked)."""

    status_code = 404


class Conflict(ApiError):
    """The change breaks a rule of the current state (409), e.g. a budget."""

    status_code = 409


class Locked(ApiError):
    """The account is locked after repeated failed logins (423)."""

    status_code = 423
