"""``aifap live``: run, inspect and stop live and paper trading sessions."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import typer

from aifap.cli import app, console

live_app = typer.Typer(help="Live and paper trading sessions.", no_args_is_help=True)
app.add_typer(live_app, name="live")


@live_app.command("run")
def run(
    config: Path = typer.Argument(  # noqa: B008 - typer reads its defaults
        ..., help="Session config file (YAML or JSON).", exists=True, dir_okay=False
    ),
    direct: bool = typer.Option(
        False, "--direct", help="Run the session in this process instead of under papermill."
    ),
    output: Path | None = typer.Option(  # noqa: B008
        None, "--output", help="Executed notebook (default: <workdir>/session.ipynb)."
    ),
    heartbeat_timeout: float = typer.Option(
        30.0, "--heartbeat-timeout", help="Seconds a running session's heartbeat may be old."
    ),
    launcher: str | None = typer.Option(
        None,
        "--launcher",
        help="Start the session through a registered launcher (kubernetes: as a Job) "
        "and return, instead of running it here.",
        show_default=False,
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="With --launcher kubernetes: print the manifests, create nothing."
    ),
    namespace: str | None = typer.Option(
        None,
        "--namespace",
        help="Kubernetes namespace (default AIFAP_SESSION_NAMESPACE).",
        show_default=False,
    ),
    image: str | None = typer.Option(
        None,
        "--image",
        help="AIFAP image of the Job (default AIFAP_SESSION_IMAGE).",
        show_default=False,
    ),
    wait: bool = typer.Option(
        False, "--wait", help="With --launcher: wait for the session's end, exit with its code."
    ),
) -> None:
    """Run the session in CONFIG until it ends; exit non-zero on failure.

    By default the session runs inside templates/live_session.ipynb under papermill
    (what a Kubernetes pod runs), watched from outside the kernel: a dead kernel, a
    stale heartbeat or a failed notebook ends the run with a non-zero exit.
    `--launcher kubernetes` creates that pod's Job instead (`--dry-run`: prints it).
    """
    from aifap.core.errors import AifapError
    from aifap.live import load_config
    from aifap.live.failures import config_failure, read_failure, session_failure

    # every failure ends with one line on stderr: session, account, cause, what to check
    try:
        session = load_config(config)
    except AifapError as exc:
        typer.echo(config_failure(config, exc), err=True)
        raise typer.Exit(1) from None
    if launcher is not None or dry_run:
        from aifap.cli.launch import launch_session

        options = {"namespace": namespace, "image": image, "heartbeat_timeout": heartbeat_timeout}
        raise typer.Exit(
            launch_session(config, session, launcher or "kubernetes", options, dry_run, wait)
        )
    if direct:
        from aifap.live import run_session

        # the session logs to its file and stdout with session id and cycle on each line
        logging.getLogger().handlers.clear()
        try:
            code = run_session(session)
        except AifapError as exc:  # nothing started (another session holds the account)
            typer.echo(session_failure(session, exc), err=True)
            raise typer.Exit(1) from None
        if code != 0:
            typer.echo(
                read_failure(session.working_directory)
                or session_failure(session, f"the session failed with exit code {code}"),
                err=True,
            )
        raise typer.Exit(code)
    from aifap.deploy.papermill_run import live_run_via_papermill

    raise typer.Exit(
        live_run_via_papermill(config, output=output, heartbeat_timeout=heartbeat_timeout)
    )


@live_app.command("status")
def status(
    session: str | None = typer.Argument(None, help="Session id (default: every session)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the status of one session or of all sessions."""
    from aifap.live.control import session_status

    rows = session_status(session)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("no sessions")
        return
    for row in rows:
        typer.echo(
            f"{row['session_id']}: {row['status']} cycle={row['cycle']} "
            f"runs={row['runs']} exit={row['exit_code']} pid={row['pid']} "
            f"heartbeat_age={row['heartbeat_age']} {row['reason'] or ''}".rstrip()
        )


@live_app.command("stop")
def stop(
    session: str = typer.Argument(..., help="Session id."),
    timeout: float = typer.Option(60.0, help="Seconds to wait for the session to exit."),
) -> None:
    """Stop a running session (SIGTERM to its parent process)."""
    from aifap.live.control import stop_session

    if not stop_session(session, timeout=timeout):
        console.print(f"[red]error:[/red] session {session} still runs after {timeout:g} s")
        raise typer.Exit(1)
    typer.echo(f"session {session} stopped")


@live_app.command("logs")
def logs(
    session: str = typer.Argument(..., help="Session id."),
    lines: int = typer.Option(50, "--lines", "-n", help="How many last lines to print."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
) -> None:
    """Print the end of a session's log file."""
    from aifap.live.control import log_path

    path = log_path(session)
    if not path.exists():
        console.print(f"[red]error:[/red] session {session}: {path} must exist, it does not")
        raise typer.Exit(1)
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle.readlines()[-lines:] if lines > 0 else []:
            sys.stdout.write(line)
        while follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.5)
