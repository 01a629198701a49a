"""``aifap report``: one self-contained HTML tear sheet of a session or a saved backtest.

Only parsing lives here; the work is :mod:`aifap.analysis.report` and
:mod:`aifap.analysis.schedule`. Examples::

    aifap report aifap-demo/session --out reports/ --period 7d    # a session's workdir
    aifap report path/to/session.yaml --out reports/
    aifap report demo-momentum --db sqlite:///aifap-demo/results.db --out reports/
    aifap report backtest-out/ --out reports/       # what `aifap backtest --save` wrote
    aifap report schedule --every 1d SESSION... --out reports/   # or --cron "0 8 * * *"
    aifap report aifap-demo/session --out reports/ --parity   # and the parity report

``aifap report SOURCE`` is short for ``aifap report create SOURCE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from aifap.cli import app
from aifap.core.errors import ConfigError
from aifap.core.timeframes import parse_duration

err = Console(stderr=True)


class _DefaultCreate(TyperGroup):
    """Route ``aifap report SOURCE ...`` to ``aifap report create SOURCE ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


report_app = typer.Typer(
    cls=_DefaultCreate,
    no_args_is_help=True,
    help="Write tear-sheet reports of sessions and saved backtests (HTML, figures embedded). "
    "`aifap report SOURCE --out DIR` is short for `aifap report create SOURCE --out DIR`.",
)
app.add_typer(report_app, name="report")

Out = Annotated[
    Path, typer.Option("--out", help="Directory the HTML report is written to.", show_default=False)
]
Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Results database URL for a SOURCE given as a session id "
        "(default: AIFAP_RESULTS_DATABASE_URL / AIFAP_DATABASE_URL / the local SQLite file).",
        show_default=False,
    ),
]
Period = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Sessions only: also report the last PERIOD (7d, 24h); panels cover that window.",
        show_default=False,
    ),
]


WithParity = Annotated[
    bool,
    typer.Option(
        "--parity",
        help="Sessions only: also write the parity report (aifap parity) into --out.",
    ),
]


@dataclass
class Source:
    """A resolved report source: a session in a results database, or a backtest directory."""

    name: str
    session_id: str | None = None
    url: str | None = None
    backtest_dir: Path | None = None
    config: Any = None  # the SessionConfig when the source was a session.yaml


def resolve_source(text: str, db: str | None) -> Source:
    """Resolve SOURCE: a session dir or session.yaml, a backtest dir, or a session id."""
    from aifap.live.config import CONFIG_NAME, config_file, resolve_session

    path = Path(text)
    if path.is_dir() and config_file(path) is None:
        if (path / "metrics.json").is_file():
            return Source(path.resolve().name, backtest_dir=path)
        raise ConfigError(
            f"SOURCE directory must hold {CONFIG_NAME} (a session) or metrics.json "
            f"(aifap backtest --save), was {text}"
        )
    ref = resolve_session(text, db, what="SOURCE", also=", a saved backtest directory")
    return Source(ref.session_id, session_id=ref.session_id, url=ref.url, config=ref.config)


def _period(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(f"must be a duration like 7d or 24h: {exc}") from exc
    if value <= timedelta(0):
        raise typer.BadParameter(f"must be > 0, was {text}")
    return value


def render(
    source: Source, out: Path, period: timedelta | None, parity: bool = False
) -> Path:
    """Write the report of ``source`` into ``out`` (and its parity report) and return its path."""
    from aifap.analysis.report import backtest_report, session_report

    if source.backtest_dir is not None:
        if period is not None:
            raise typer.BadParameter("applies to sessions only", param_hint="--period")
        if parity:
            raise typer.BadParameter("applies to sessions only", param_hint="--parity")
        return backtest_report(source.backtest_dir, out)
    assert source.url is not None
    assert source.session_id is not None
    path = session_report(source.url, source.session_id, out, period=period)
    if parity:
        write_parity(source, out)
    return path


def write_parity(source: Source, out: Path) -> list[Path]:
    """Write the session's parity report (JSON and HTML) into ``out``; return the paths."""
    from aifap.live.config import SessionRef
    from aifap.replay.run import parity_of

    assert source.url is not None
    assert source.session_id is not None
    report = parity_of(SessionRef(source.session_id, source.url, source.config))
    return list(report.save(out).values())


@report_app.command("create")
def create_command(
    source: Annotated[
        str,
        typer.Argument(
            help="A session's working directory or session.yaml, a session id (with --db), "
            "or a directory written by `aifap backtest --save`.",
            show_default=False,
        ),
    ],
    out: Out,
    period: Period = None,
    db: Db = None,
    parity: WithParity = False,
) -> None:
    """Write SOURCE's tear sheet (one HTML file) into --out and print its path.

    With --parity, the session's parity report (aifap parity) is written beside it and
    its JSON and HTML paths are printed after the tear sheet's.
    """
    from aifap.watch.results import SessionNotFound

    resolved = resolve_source(source, db)
    if parity and resolved.session_id is None:
        raise typer.BadParameter("applies to sessions only", param_hint="--parity")
    try:
        path = render(resolved, out, _period(period))
        extra = write_parity(resolved, out) if parity else []
    except SessionNotFound as exc:
        raise ConfigError(str(exc.args[0])) from None
    typer.echo(str(path))
    for file in extra:
        typer.echo(str(file))


@report_app.command("schedule")
def schedule_command(
    sources: Annotated[
        list[str],
        typer.Argument(help="Sessions (or saved backtests) to report on.", show_default=False),
    ],
    out: Out,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Run every DURATION (1d, 12h).", show_default=False),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option(
            "--cron", help="Run on a five-field crontab, UTC ('0 8 * * *').", show_default=False
        ),
    ] = None,
    period: Period = None,
    db: Db = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run each report once now and exit (for tests).")
    ] = False,
    parity: WithParity = False,
) -> None:
    """Report on SOURCES on a schedule and announce each report on its session's alert channel.

    A session given by its directory or session.yaml uses that session's alert channel;
    one given by id uses the settings' (AIFAP_DISCORD_WEBHOOK_URL, else the log).
    With --parity each session's parity report is written beside its tear sheet.
    """
    from aifap.analysis.schedule import ReportTarget, make_trigger, schedule_reports
    from aifap.liveness import beat

    beat()

    if (every is None) == (cron is None):
        raise typer.BadParameter("give exactly one of --every / --cron")
    try:
        make_trigger(_period(every) if every else None, cron)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cron") from exc
    window = _period(period)
    targets = [_target(resolve_source(s, db), window, parity) for s in sources]

    def done(target: ReportTarget, path: Path) -> None:
        beat()
        typer.echo(str(path))

    schedule_reports(
        targets,
        out,
        every=_period(every) if every else None,
        cron=cron,
        period=period,
        once=once,
        done=done,
    )


def _target(source: Source, period: timedelta | None, parity: bool = False) -> Any:
    from aifap.alerts.config import AlertConfig
    from aifap.analysis.schedule import ReportTarget

    if source.backtest_dir is not None:
        import json

        meta = source.backtest_dir / "metrics.json"
        return ReportTarget(
            source.name,
            render=lambda out: render(source, out, None),
            metrics=lambda: json.loads(meta.read_text(encoding="utf-8")).get("metrics", {}),
        )
    from aifap.analysis.report import session_metrics
    from aifap.db import make_engine
    from aifap.watch.results import ResultsReader

    assert source.url is not None
    assert source.session_id is not None
    url, sid = source.url, source.session_id
    if source.config is not None:
        from aifap.live.alerting import alert_config

        alerts = alert_config(source.config)
    else:
        alerts = AlertConfig.from_settings(session_id=sid, trader_label=sid)
    return ReportTarget(
        sid,
        render=lambda out: render(source, out, period, parity),
        metrics=lambda: session_metrics(ResultsReader(make_engine(url)), sid),
        alerts=alerts,
        results_url=url,
    )
