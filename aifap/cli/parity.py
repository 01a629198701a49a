"""``aifap parity``: replay a session's period in the backtester and explain the PV gap.

Only parsing lives here; the work is :mod:`aifap.replay`. Examples::

    aifap parity aifap-demo/session                 # a session's working directory
    aifap parity path/to/session.yaml --out reports/
    aifap parity demo-momentum --db sqlite:///aifap-demo/results.db --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from aifap.cli import app


@app.command("parity")
def parity_command(
    session: Annotated[
        str,
        typer.Argument(
            help="The session: its working directory, its session.yaml, or its id (with --db).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for <session>_parity.json and .html "
            "(default: the session's working directory's parity/, else ./parity).",
            show_default=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Results database URL (default: the session's, else the settings').",
            show_default=False,
        ),
    ] = None,
    no_html: Annotated[
        bool, typer.Option("--no-html", help="Write the JSON summary only (no papermill run).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON summary instead of the headline.")
    ] = False,
) -> None:
    """Re-run SESSION's strategy over its period in the backtester and explain the PV gap.

    Prints the PV gap at the end (session minus backtest) and its largest component,
    then the files written: a JSON summary and an HTML report with the gap split into
    different targets, execution price, fees, funding, orders not placed or filled and
    timing, the first cycle whose targets differ, and every cycle side by side.
    """
    from aifap.live.config import resolve_session
    from aifap.replay.files import default_out
    from aifap.replay.run import parity_of

    ref = resolve_session(session, db)
    report = parity_of(ref)
    written = report.save(out or default_out(report), html=not no_html)
    if as_json:
        typer.echo(json.dumps(report.summary(), indent=1, default=str))
    else:
        typer.echo(report.headline())
    for path in written.values():
        typer.echo(str(path))
