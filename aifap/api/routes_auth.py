"""``/auth``: the OAuth2 password flow, refresh and logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from aifap.api.deps import Caller, Plat
from aifap.api.errors import Forbidden, Unauthorized
from aifap.api.schemas import LogoutIn, Message, RefreshIn, TokenOut

router = APIRouter(prefix="/auth", tags=["auth"])
USERNAME_MAX = 64


@router.post("/token", response_model=TokenOut)
def token(plat: Plat, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Log in with form fields ``username`` and ``password``; answer an access/refresh pair."""
    name = form.username
    if not name or len(name) > USERNAME_MAX or not name.isprintable():
        raise Unauthorized("username and password must match an active user, they do not")
    pair = plat.auth.login(name, form.password)
    return TokenOut(access_token=pair.access_token, refresh_token=pair.refresh_token)


@router.post("/refresh", response_model=TokenOut)
def refresh(plat: Plat, body: RefreshIn) -> TokenOut:
    """Exchange an unused refresh token for a new pair (the old one is revoked)."""
    pair = plat.auth.refresh(body.refresh_token)
    return TokenOut(access_token=pair.access_token, refresh_token=pair.refresh_token)


@router.post("/logout", response_model=Message)
def logout(plat: Plat, who: Caller, body: LogoutIn | None = None) -> Message:
    """Revoke the access token presented and, when given, the refresh token."""
    if who.role == "service":
        raise Forbidden("a session's token cannot log out; it expires")
    plat.auth.logout(who, body.refresh_token if body else None)
    return Message(detail="logged out")
