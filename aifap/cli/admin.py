"""``aifap admin``: platform administration (service tokens).

::

    aifap admin token --scope gateway:acct-1 --session sess-1 --ttl 30d

The token is signed with ``AIFAP_SECRET_KEY`` (or the file ``AIFAP_SECRET_KEY_FILE``)
and printed alone on stdout, so ``TOKEN=$(aifap admin token ...)`` works.
"""

from __future__ import annotations

from typing import Annotated

import typer

from aifap.cli import app

admin_app = typer.Typer(no_args_is_help=True, help="Administer the platform (service tokens).")
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
