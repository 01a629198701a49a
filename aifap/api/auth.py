"""Logins: argon2 password hashes, access + refresh tokens, logout, lockout.

Tokens are the platform's signed JWTs (:mod:`aifap.auth.tokens`): an access token
carries the scope ``platform:user`` and lives ``access_ttl`` (15 minutes); a refresh
token carries ``platform:refresh``, lives ``refresh_ttl`` (7 days), is recorded by its
``jti`` and is single use (refreshing revokes it and issues a new pair). Logout revokes
the refresh token and the access token presented (other API processes trust a token
they checked for at most ``CACHE_SECONDS`` more: a logout or a removed user reaches
them within 2 s). A checked token is cached by its text, so a request whose token was
checked in the last ``CACHE_SECONDS`` costs neither a signature check nor a query
(argon2 runs only at login). After ``max_failures`` wrong
passwords in a row a user is locked for ``lockout`` (answers 423); a right password
resets the count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aifap.api.audit import now_ms, record
from aifap.api.errors import Locked, Unauthorized
from aifap.api.models import AuthToken, Manager, User
from aifap.auth.tokens import TokenClaims, issue_token, parse_ttl, verify_token

CACHE_SECONDS = 2.0  # how long a checked access token is trusted without the database
CACHE_SIZE = 10_000
USER_SCOPE = "platform:user"
REFRESH_SCOPE = "platform:refresh"
WRONG_LOGIN = "username and password must match an active user, they do not"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("aifap: equalizes the time of unknown usernames")


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password``."""
    return _hasher.hash(password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (with role) or a session's service token.

    ``manager_id``: the manager row a manager is, or the one a viewer is tied to.
    ``session_id``: set for service tokens (role ``service``).
    """

    subject: str
    role: str
    user_id: int | None = None
    manager_id: int | None = None
    session_id: str | None = None
    scopes: tuple[str, ...] = ()
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh answers."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


class Authenticator:
    """Logins, refreshes, logouts and token checks against the platform database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        key: str,
        access_ttl: str | timedelta = "15m",
        refresh_ttl: str | timedelta = "7d",
        max_failures: int = 5,
        lockout: str | timedelta = "15m",
    ) -> None:
        self.sessions = sessions
        self.key = key
        self.access_ttl = parse_ttl(access_ttl)
        self.refresh_ttl = parse_ttl(refresh_ttl)
        self.max_failures = max_failures
        self.lockout_ms = int(parse_ttl(lockout).total_seconds() * 1000)
        # recently checked tokens: token text -> (trusted until, monotonic s; principal)
        self._recent: dict[str, tuple[float, Principal]] = {}

    def login(self, username: str, password: str) -> TokenPair:
        """Return a token pair for right credentials.

        Raises:
            Unauthorized: unknown user or wrong password (the same message for both).
            Locked: too many failures in a row; wait for the lockout to pass.
        """
        refused: Exception | None = None
        with self.sessions.begin() as db:  # commits the failure count before refusing
            user = db.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                _verify(_DUMMY_HASH, password)
                raise Unauthorized(WRONG_LOGIN)
            now = now_ms()
            if user.locked_until_ms is not None and user.locked_until_ms > now:
                raise Locked(
                    f"user {username} is locked after {self.max_failures} failed logins, "
                    f"for {(user.locked_until_ms - now) // 1000 + 1} more seconds"
                )
            if _verify(user.password_hash, password):
                user.failed_logins = 0
                user.locked_until_ms = None
                return self._pair(db, user)
            user.failed_logins += 1
            refused = Unauthorized(WRONG_LOGIN)
            if user.failed_logins >= self.max_failures:
                user.locked_until_ms = now + self.lockout_ms
                user.failed_logins = 0
                record(db, username, "user.locked", f"user:{user.id}")
        raise refused

    def _pair(self, db: Session, user: User) -> TokenPair:
        subject = f"user:{user.id}"
        access = issue_token(subject, [USER_SCOPE], ttl=self.access_ttl, key=self.key)
        refresh = issue_token(subject, [REFRESH_SCOPE], ttl=self.refresh_ttl, key=self.key)
        claims = verify_token(refresh, key=self.key)
        db.add(
            AuthToken(
                jti=claims.token_id,
                user_id=user.id,
                kind="refresh",
                expires_ms=int(claims.expires_at.timestamp() * 1000),
            )
        )
        return TokenPair(access, refresh)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Return a new pair for a valid, unused refresh token (which is revoked).

        Raises:
            Unauthorized: the token is invalid, expired, revoked or its user gone.
        """
        claims = self._claims(refresh_token, REFRESH_SCOPE)
        with self.sessions.begin() as db:
            row = db.get(AuthToken, claims.token_id)
            if row is None or row.kind != "refresh" or row.revoked_ms is not None:
                raise Unauthorized("refresh token must be unused and not revoked, it was not")
            row.revoked_ms = now_ms()
            user = db.get(User, row.user_id)
            if user is None or not user.active:
                raise Unauthorized("refresh token must belong to an active user, it does not")
            return self._pair(db, user)

    def logout(self, access: Principal, refresh_token: str | None) -> None:
        """Revoke the caller's access token and, when given, its refresh token."""
        if access.token_id is not None:
            for token, (_, cached) in list(self._recent.items()):
                if cached.token_id == access.token_id:
                    self._recent.pop(token, None)
        now = now_ms()
        with self.sessions.begin() as db:
            if access.token_id is not None and db.get(AuthToken, access.token_id) is None:
                db.add(
                    AuthToken(
                        jti=access.token_id,
                        user_id=access.user_id or 0,
                        kind="access",
                        expires_ms=now + int(self.access_ttl.total_seconds() * 1000),
                        revoked_ms=now,
                    )
                )
            if refresh_token:
                claims = self._claims(refresh_token, REFRESH_SCOPE)
                row = db.get(AuthToken, claims.token_id)
                if row is not None and row.user_id == access.user_id and row.revoked_ms is None:
                    row.revoked_ms = now
            if access.user_id is not None:
                record(db, access.subject, "user.logout", access.subject)

    def _claims(self, token: str | None, scope: str | None) -> TokenClaims:
        try:
            return verify_token(token, scope=scope, key=self.key)
        except Exception as exc:  # TokenError and its kinds: all a 401 here
            raise Unauthorized(str(exc)) from exc

    def cached(self, token: str | None) -> Principal | None:
        """Return who presents ``token`` if it was checked in the last ``CACHE_SECONDS``.

        No signature check and no query: cheap enough for the event loop.
        """
        if not token:
            return None
        found = self._recent.get(token)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def principal(self, token: str | None) -> Principal:
        """Return who presents ``token``: a user (access token) or a session (service token).

        Raises:
            Unauthorized: missing, invalid, expired or revoked, or its user is gone.
        """
        if not token:
            raise Unauthorized("token must be given (Authorization: Bearer ...), was missing")
        cached = self.cached(token)
        if cached is not None:
            return cached
        claims = self._claims(token, None)
        if claims.allows(REFRESH_SCOPE) and not claims.allows(USER_SCOPE):
            raise Unauthorized("token must be an access token, was a refresh token")
        if not claims.allows(USER_SCOPE):
            if claims.session_id is None:
                raise Unauthorized("service token must name its session (sid), it does not")
            who = Principal(
                subject=claims.subject,
                role="service",
                session_id=claims.session_id,
                scopes=claims.scopes,
                token_id=claims.token_id,
            )
        else:
            who = self._user_principal(claims)
        self._remember(token, claims, who)
        return who

    def _remember(self, token: str, claims: TokenClaims, who: Principal) -> None:
        # trusted for CACHE_SECONDS, never past the token's own expiry
        left = claims.expires_at.timestamp() - time.time()
        if left <= 0:
            return
        if len(self._recent) > CACHE_SIZE:
            self._recent.clear()
        self._recent[token] = (time.monotonic() + min(CACHE_SECONDS, left), who)

    def _user_principal(self, claims: TokenClaims) -> Principal:
        # one query: the user, its manager row and whether this token was revoked
        user_id = _user_id(claims.subject)
        revoked = (
            select(AuthToken.revoked_ms)
            .where(AuthToken.jti == claims.token_id)
            .scalar_subquery()
        )
        query = (
            select(User.username, User.role, User.active, User.manager_id, Manager.id, revoked)
            .outerjoin(Manager, Manager.user_id == User.id)
            .where(User.id == (user_id if user_id is not None else -1))
        )
        with self.sessions() as db:
            row = db.execute(query).first()
        if row is not None and row[5] is not None:
            raise Unauthorized("token must not be revoked, it was (logged out)")
        if row is None or not row.active:
            raise Unauthorized("token must belong to an active user, it does not")
        username, role, _, viewer_of, manager_row, _ = row
        return Principal(
            subject=username,
            role=role,
            user_id=user_id,
            manager_id=manager_row if role == "manager" else viewer_of,
            scopes=claims.scopes,
            token_id=claims.token_id,
        )


def _user_id(subject: str) -> int | None:
    kind, _, value = subject.partition(":")
    return int(value) if kind == "user" and value.isdigit() else None
