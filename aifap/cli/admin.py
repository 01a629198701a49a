"""``aifap admin``: platform administration (service tokens, first logins).

::

    aifap admin token --scope gateway:acct-1 --session sess-1 --ttl 30d
    AIFAP_ADMIN_PASSWORD=... aifap admin create-supervisor --username root
    aifap admin create-viewer --username auditor [--manager-id 3]

The token is signed with ``AIFAP_SECRET_KEY`` (or the file ``AIFAP_SECRET_KEY_FILE``)
and printed alone on stdout, so ``TOKEN=$(aifap admin token ...)`` works. Passwords
come from ``AIFAP_ADMIN_PASSWORD`` or a hidden prompt, never from the command line.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from aifap.cli import app

admin_app = typer.Typer(
    no_args_is_help=True, help="Administer the platform (service tokens, first logins)."
)
PASSWORD_ENV = "AIFAP_ADMIN_PASSWORD"  # noqa: S105 (a variable's name)
Username = Annotated[str, typer.Option("--username", help="The login name.")]
Db = Annotated[
    str | None,
    typer.Option("--db", help="Platform database URL (default: from AIFAP_* settings).",
                 show_default=False),
]  # fmt: skip
app.add_typer(admin_app, name="admin")


@admin_app.command("token")
def token_command(
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="A scope to grant, like gateway:ACCOUNT (repeatable)."),
    ],
    session: Annotated[
        str | None, typer.Option("--session", help="The session id the token is for.")
    ] = None,
    ttl: Annotated[str, typer.Option(help="How long it is valid: 30d, 12h, 1h 30m...")] = "30d",
    subject: Annotated[
        str | None,
        typer.Option(help="Who the token is for (default: the session id, else 'service')."),
    ] = None,
) -> None:
    """Print a signed service token with the given scopes."""
    from aifap.auth.tokens import issue_token

    name = subject or session or "service"
    typer.echo(issue_token(name, scope, ttl=ttl, session_id=session))


def _password() -> str:
    # AIFAP_ADMIN_PASSWORD, else a hidden prompt typed twice
    value = os.environ.get(PASSWORD_ENV)
    if value is None:
        value = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return str(value)


def _create(db: str | None, username: str, role: str, manager_id: int | None = None) -> None:
    from aifap.api.users import create_user
    from aifap.db import database_url

    user = create_user(db or database_url("platform"), username, _password(), role, manager_id)
    typer.echo(f"{role} {user.username} created (id {user.id})")


@admin_app.command("create-supervisor")
def create_supervisor_command(username: Username, db: Db = None) -> None:
    """Create a supervisor login (password from AIFAP_ADMIN_PASSWORD or a prompt)."""
    _create(db, username, "supervisor")


@admin_app.command("create-viewer")
def create_viewer_command(
    username: Username,
    manager_id: Annotated[
        int | None,
        typer.Option("--manager-id", help="Only this manager's resources (default: all)."),
    ] = None,
    db: Db = None,
) -> None:
    """Create a read-only login (password from AIFAP_ADMIN_PASSWORD or a prompt)."""
    _create(db, username, "viewer", manager_id)
