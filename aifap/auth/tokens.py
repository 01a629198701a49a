"""Signed service tokens: who calls, what they may do, until when.

A token is a JWT signed with HS256 under the platform's secret key
(``AIFAP_SECRET_KEY``, or the file ``AIFAP_SECRET_KEY_FILE`` names). Its claims:

- ``sub``: the subject (a user, a session, a CronJob...);
- ``scopes``: what it may do, ``area:target`` strings (``gateway:acct-1``); a
  granted ``gateway:*`` covers every ``gateway:...`` scope, ``*`` covers all;
- ``sid``: the session it was issued for (optional);
- ``iat`` / ``exp``: issued at / expires at (UTC seconds); ``jti``: its id.

Errors::

    AifapError
    └── TokenError            # 401: missing, malformed, badly signed
        ├── TokenExpiredError # 401: past its ``exp``
        └── ScopeError        # 403: valid, but not for this
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from aifap.core.errors import AifapError, ConfigError
from aifap.settings import Settings, get_settings

ALGORITHM = "HS256"
ISSUER = "aifap"
MIN_KEY_BYTES = 32  # RFC 7518 3.2: an HS256 key as long as the hash
_TTL_PART = re.compile(r"(\d+)\s*([smhdw])")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class TokenError(AifapError):
    """A token is missing, malformed or badly signed (HTTP 401)."""

    status_code = 401


class TokenExpiredError(TokenError):
    """A token is past its expiry (HTTP 401)."""


class ScopeError(TokenError):
    """A valid token lacks the scope a request needs (HTTP 403)."""

    status_code = 403


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says.

    Attributes:
        subject: who the token was issued to.
        scopes: what it may do (``area:target`` strings).
        expires_at: when it stops being accepted (UTC).
        issued_at: when it was signed (UTC).
        token_id: a unique id (to revoke or audit one token).
        session_id: the session it was issued for, if any.
    """

    subject: str
    scopes: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    token_id: str
    session_id: str | None = None

    def allows(self, scope: str) -> bool:
        """Tell whether one of the token's scopes covers ``scope``."""
        return any(scope_covers(granted, scope) for granted in self.scopes)


def scope_covers(granted: str, wanted: str) -> bool:
    """Tell whether the ``granted`` scope covers ``wanted`` (``gateway:*`` covers ``gateway:x``)."""
    if granted in ("*", wanted):
        return True
    return granted.endswith(":*") and wanted.startswith(granted[:-1])


def parse_ttl(text: str | timedelta) -> timedelta:
    """Return the duration of ``30d``, ``12h``, ``1h 30m``, ``90s`` or ``2w``.

    Raises:
        ConfigError: the text is no such duration, or is not positive.
    """
    if isinstance(text, timedelta):
        ttl = text
    else:
        compact = text.strip().lower()
        parts = _TTL_PART.findall(compact)
        if not parts or _TTL_PART.sub("", compact).strip():
            raise ConfigError(f"ttl must be a duration like 30d, 12h or 1h 30m, was {text!r}")
        ttl = timedelta(seconds=sum(int(n) * _TTL_UNITS[u] for n, u in parts))
    if ttl <= timedelta(0):
        raise ConfigError(f"ttl must be > 0, was {text!r}")
    return ttl


def secret_key(settings: Settings | None = None) -> str:
    """Return the signing key: ``AIFAP_SECRET_KEY``, else the file ``AIFAP_SECRET_KEY_FILE``.

    Raises:
        ConfigError: neither is set, the file is unreadable, or the key is too short.
    """
    settings = settings or get_settings()
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        where = "AIFAP_SECRET_KEY"
    elif settings.secret_key_file is not None:
        where = "AIFAP_SECRET_KEY_FILE"
        try:
            key = settings.secret_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{where} must name a readable file, was {settings.secret_key_file}"
            ) from exc
    else:
        raise ConfigError("AIFAP_SECRET_KEY (or AIFAP_SECRET_KEY_FILE) must be set, was missing")
    if len(key.encode()) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{where} must hold at least {MIN_KEY_BYTES} bytes, was {len(key.encode())}"
        )
    return key


def issue_token(
    subject: str,
    scopes: Sequence[str],
    *,
    ttl: str | timedelta,
    session_id: str | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> str:
    """Return a signed token for ``subject`` with ``scopes``, valid for ``ttl``.

    Args:
        subject: who the token is for (non-empty).
        scopes: what it may do (at least one, ``area:target``).
        ttl: how long it is valid (``30d``, ``12h``... or a ``timedelta``).
        session_id: the session it is issued for.
        key: the signing key (default: :func:`secret_key`).
        now: the issue time (UTC; default: the wall clock).
    """
    if not subject:
        raise ConfigError("subject must be non-empty, was ''")
    if not scopes or any(not s or any(c.isspace() for c in s) for s in scopes):
        raise ConfigError(f"scopes must be non-empty words like gateway:acct-1, was {scopes!r}")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "scopes": list(scopes),
        "iat": issued,
        "exp": issued + parse_ttl(ttl),
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, key if key is not None else secret_key(), algorithm=ALGORITHM)


def verify_token(
    token: str | None,
    *,
    scope: str | None = None,
    key: str | None = None,
    now: datetime | None = None,
) -> TokenClaims:
    """Return the claims of a valid ``token``; with ``scope``, require it too.

    Raises:
        TokenError: missing, malformed, badly signed, or from another issuer.
        TokenExpiredError: past its expiry.
        ScopeError: valid, but none of its scopes covers ``scope``.
    """
    if not token:
        raise TokenError("token must be given (Authorization: Bearer ...), was missing")
    options: Any = {"require": ["exp", "iat", "sub", "jti"]}
    leeway = 0.0
    if now is not None:  # checked here against ``now`` instead of the wall clock
        options["verify_exp"] = False
        options["verify_iat"] = False
    try:
        data = jwt.decode(
            token,
            key if key is not None else secret_key(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options=options,
            leeway=leeway,
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpiredError("token must not be expired, was expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"token must be valid and signed by this platform, was {exc}") from exc
    scopes = data.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise TokenError("token scopes must be a list of strings, was malformed")
    claims = TokenClaims(
        subject=str(data["sub"]),
        scopes=tuple(scopes),
        expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
        issued_at=datetime.fromtimestamp(int(data["iat"]), UTC),
        token_id=str(data["jti"]),
        session_id=data.get("sid"),
    )
    if now is not None and now >= claims.expires_at:
        raise TokenExpiredError(
            f"token must not be expired, was expired at {claims.expires_at.isoformat()}"
        )
    if scope is not None and not claims.allows(scope):
        raise ScopeError(
            f"token scopes must include {scope}, were {', '.join(claims.scopes) or 'none'}"
        )
    return claims


class TokenVerifier:
    """``verify_token`` for one scope, each valid token's claims remembered until it expires.

    A service verifying the same few tokens on every request (a session's) pays the
    signature check once per token, not once per request; a remembered token is still
    refused from its ``exp`` on. Refused tokens are not remembered.

    Args:
        scope: the scope every token must cover.
        key: the signing key (default: ``secret_key()``).
        size: tokens remembered at most (all are forgotten when it is reached).
    """

    def __init__(self, scope: str, *, key: str | None = None, size: int = 1024) -> None:
        self.scope = scope
        self.key = key if key is not None else secret_key()
        self.size = size
        self._known: dict[str, tuple[float, TokenClaims]] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str | None) -> TokenClaims:
        """Return the claims of ``token``; raise as ``verify_token`` does."""
        if token:
            hit = self._known.get(token)
            if hit is not None and time.time() < hit[0]:
                return hit[1]
        claims = verify_token(token, scope=self.scope, key=self.key)
        with self._lock:
            if len(self._known) >= self.size:
                self._known.clear()
            self._known[str(token)] = (claims.expires_at.timestamp(), claims)
        return claims


def bearer(header: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` header (None if absent)."""
    if not header:
        return None
    kind, _, value = header.partition(" ")
    return value.strip() if kind.lower() == "bearer" and value.strip() else None


def require_scopes(claims: TokenClaims, scopes: Iterable[str]) -> None:
    """Raise ``ScopeError`` unless ``claims`` covers every one of ``scopes``."""
    missing = [s for s in scopes if not claims.allows(s)]
    if missing:
        raise ScopeError(
            f"token scopes must include {', '.join(missing)}, "
            f"were {', '.join(claims.scopes) or 'none'}"
        )
