"""Authentication shared by the services and the platform API: signed, scoped tokens."""

from aifap.auth.tokens import (
    ScopeError,
    TokenClaims,
    TokenError,
    TokenExpiredError,
    issue_token,
    verify_token,
)

__all__ = [
    "ScopeError",
    "TokenClaims",
    "TokenError",
    "TokenExpiredError",
    "issue_token",
    "verify_token",
]
