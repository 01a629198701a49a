"""Logins created outside the API: the first supervisor, and viewers (``aifap admin``)."""

from __future__ import annotations

import re

from sqlalchemy import select

from aifap.api.audit import now_ms, record
from aifap.api.auth import hash_password
from aifap.api.models import ROLES, Manager, User
from aifap.core.errors import ConfigError
from aifap.db import make_engine, migrate, session_factory

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 8


def create_user(
    url: str, username: str, password: str, role: str, manager_id: int | None = None
) -> User:
    """Create a login in the platform database at ``url`` (migrated first); audit it.

    Raises:
        ConfigError: a bad username, a short password, an unknown role or manager,
            or the username is taken.
    """
    if not USERNAME.match(username):
        raise ConfigError(f"username must be 3-64 of [A-Za-z0-9_.@-], was {username!r}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password must have at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, was {role!r}")
    migrate(url)
    with session_factory(make_engine(url)).begin() as db:
        if db.scalar(select(User.id).where(User.username == username)) is not None:
            raise ConfigError(f"username must be new, {username!r} is taken")
        if manager_id is not None and db.get(Manager, manager_id) is None:
            raise ConfigError(f"manager_id must name a manager, {manager_id} does not")
        user = User(
            username=username,
            password_hash=hash_password(password),
            role=role,
            manager_id=manager_id,
            active=True,
            failed_logins=0,
            created_ms=now_ms(),
        )
        db.add(user)
        db.flush()
        record(db, "cli", "user.create", f"user:{user.id}", username=username, role=role)
    return user
