"""``aifap dashboard``: serve a session's Voila dashboard (or every session's) and print its URL."""

from __future__ import annotations

import signal
import sys
import time
import webbrowser

import typer

from aifap.cli import app


@app.command("dashboard")
def dashboard(
    session: str | None = typer.Argument(
        None,
        help="The session: its working directory, its session.yaml, or its id (with --db).",
    ),
    all_sessions: bool = typer.Option(
        False, "--all", help="Show every session of the results database (the fleet view)."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Results database URL (default: the session's, else the settings')."
    ),
    port: int | None = typer.Option(None, "--port", help="Port to serve on (default: a free one)."),
    ip: str = typer.Option("127.0.0.1", "--ip", help="Address to serve on."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    refresh: float = typer.Option(5.0, "--refresh", help="Seconds between dashboard refreshes."),
    detach: bool = typer.Option(
        False, "--detach", help="Leave the dashboard running in the background and return."
    ),
    stop: bool = typer.Option(False, "--stop", help="Stop the dashboard running for SESSION."),
) -> None:
    """Serve SESSION's dashboard with Voila and print its URL (--all: every session).

    The dashboard shows finwatcher's ROE, Sharpe ratio and max drawdown, the portfolio
    value over time, the positions with their SL/TP, recent orders, fills and alerts,
    and refreshes itself while the session runs. It is recorded in the session's working
    directory (``SessionHandle.dashboard_url``). Without --detach it runs until Ctrl-C.
    """
    from aifap.deploy.dashboard import resolve_target, start_dashboard, stop_dashboard

    if session is None and not all_sessions:
        raise typer.BadParameter("give SESSION or --all", param_hint="SESSION")
    target = resolve_target(session, db, all_sessions=all_sessions)
    if stop:
        stopped = stop_dashboard(target.record_dir)
        typer.echo("dashboard stopped" if stopped else "no dashboard was running")
        return
    running = start_dashboard(target, port=port, ip=ip, refresh_seconds=refresh)
    what = target.session_id or "every session"
    typer.echo(f"dashboard of {what}: {running.url}")
    sys.stdout.flush()
    if not no_browser:
        webbrowser.open(running.url)
    if detach:
        typer.echo(f"running in the background (pid {running.pid}); stop it with --stop")
        return
    # a terminating signal ends the wait below like Ctrl-C does, and the finally stops voila
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while running.alive():
            time.sleep(0.5)
        typer.echo("voila exited", err=True)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop_dashboard(target.record_dir)
