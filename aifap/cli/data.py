r"""``aifap data``: import, export, gaps, collect and serve market data.

Only parsing and printing live here; the work is in :mod:`aifap.data`. Examples::

    aifap data import ../shared/data/ohlcv --exchange binance
    aifap data export out/ --exchange binance --symbols BTCUSDT
    aifap data gaps --symbols ADABTC
    aifap data collect --exchange bitget --market futures --symbols BTCUSDT,ETHUSDT \\
        --timeframe 1m --since 2026-01-01
    aifap data serve --port 8900

The market database is ``--database``, else ``AIFAP_MARKET_DATABASE_URL``, else
``AIFAP_DATABASE_URL``, else a SQLite file in the data directory.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols
from aifap.core.timeframes import parse_duration
from aifap.db import database_url
from aifap.redaction import redact_url

data_app = typer.Typer(no_args_is_help=True, help="Import, export, collect and serve OHLCV bars.")
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)

Database = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="Market database URL (default: from AIFAP_* settings).",
        show_default=False,
    ),
]
Exchange = Annotated[str | None, typer.Option(help="Only this exchange.", show_default=False)]
MarketOpt = Annotated[
    str | None,
    typer.Option("--market", help="Only this market: spot or futures.", show_default=False),
]
Symbols = Annotated[
    str | None, typer.Option(help="Comma-separated symbols (default: all).", show_default=False)
]
Timeframe = Annotated[str | None, typer.Option(help="Only this timeframe.", show_default=False)]


def _url(database: str | None) -> str:
    url = database or database_url("market")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return url


def _when(ms: int | None) -> str:
    return "-" if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")


@data_app.command("import")
def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Bar files or directories (recursive).")],
    exchange: Annotated[str, typer.Option(help="The exchange the files came from.")] = "bitget",
    market: MarketOpt = None,
    skip_bad_lines: Annotated[
        bool, typer.Option(help="Load a file's good lines instead of rejecting the file.")
    ] = False,
    database: Database = None,
) -> None:
    """Import SYMBOL_TIMEFRAME.csv[.gz] and SYMBOL_funding.csv[.gz] files, one transaction each.

    The market is --market, else a parent directory named spot or futures, else futures.
    A bad file is reported with its line and skipped; the others load; exit 1 if any failed.
    """
    from aifap.data.importer import import_paths

    url = _url(database)
    report = import_paths(
        url, paths, exchange=exchange, market=market, skip_bad_lines=skip_bad_lines
    )
    table = Table("file", "market", "rows", "new or changed", title=f"import → {redact_url(url)}")
    for outcome in report.loaded:
        table.add_row(outcome.path.name, outcome.market, str(outcome.rows), str(outcome.written))
    out.print(table)
    for outcome in report.failed:
        err.print(f"[red]rejected[/red] {outcome.error}")
    if report.failed:
        raise typer.Exit(1)


@data_app.command("export")
def export_command(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write {market}/SYMBOL_TF.csv.gz.")],
    exchange: Exchange = None,
    market: MarketOpt = None,
    symbols: Symbols = None,
    timeframe: Timeframe = None,
    funding: Annotated[bool, typer.Option(help="Export funding rates too.")] = True,
    database: Database = None,
) -> None:
    """Export stored bars (and funding rates) as files the importer reads back unchanged."""
    from aifap.data.exporter import export_series

    written = export_series(
        _url(database),
        out_dir,
        exchange=exchange,
        market=market,
        symbols=parse_symbols(symbols),
        timeframes=None if timeframe is None else [timeframe],
        funding=funding,
    )
    for path in written:
        out.print(str(path))
    err.print(f"{len(written)} files written")


@data_app.command("gaps")
def gaps_command(
    exchange: Exchange = None,
    market: MarketOpt = None,
    symbols: Symbols = None,
    timeframe: Timeframe = None,
    details: Annotated[bool, typer.Option(help="List every gap.")] = False,
    database: Database = None,
) -> None:
    """Report missing bars per series (holes between stored bars; confirmed-empty apart)."""
    from aifap.data.gaps import gap_reports

    reports = gap_reports(
        _url(database),
        exchange=exchange,
        market=market,
        symbols=parse_symbols(symbols),
        timeframe=timeframe,
    )
    table = Table("series", "first", "last", "bars", "missing", "largest gap", "confirmed empty")
    for r in reports:
        table.add_row(
            str(r.key),
            _when(r.first),
            _when(r.last),
            str(r.stored),
            str(r.missing),
            str(r.largest),
            str(r.confirmed_empty),
        )
    out.print(table)
    if details:
        for r in reports:
            for gap in r.gaps:
                kind = "confirmed empty" if gap.confirmed_empty else "missing"
                out.print(f"{r.key}: {_when(gap.start)} → {_when(gap.end)}: {gap.bars} {kind}")


@data_app.command("collect")
def collect_command(
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols, e.g. BTCUSDT,ETHUSDT.")],
    exchange: Annotated[str, typer.Option(help="bitget, binance or bybit.")] = "bitget",
    market: Annotated[str, typer.Option(help="spot or futures.")] = "futures",
    timeframe: Annotated[str, typer.Option(help="Bar timeframe to collect.")] = "1m",
    since: Annotated[
        datetime | None,
        typer.Option(
            help="Collect from this UTC time (default: resume, or --lookback ago).",
            show_default=False,
        ),
    ] = None,
    lookback: Annotated[str, typer.Option(help="How far back a first run starts.")] = "1d",
    funding: Annotated[bool, typer.Option(help="Collect funding rates (futures).")] = True,
    api_url: Annotated[
        str | None,
        typer.Option(
            help="Send every exchange request to this base URL (an emulator).", show_default=False
        ),
    ] = None,
    database: Database = None,
) -> None:
    """Fetch closed bars from the exchange into the market database (one CronJob run).

    Resumes from the last stored bar, backfills gaps, never stores the still-open bar.
    Exit 0 when done (or when another run holds the lock); 1 when the exchange or the
    database stays unreachable after retries, or a symbol failed.
    """
    from aifap.data.collector import collect

    start = None if since is None else since.replace(tzinfo=since.tzinfo or UTC)
    report = collect(
        _url(database),
        exchange=exchange,
        market=market,
        symbols=parse_symbols(symbols) or [],
        timeframe=timeframe,
        since=start,
        funding=funding,
        lookback=timedelta(seconds=parse_duration(lookback).total_seconds()),
        api_url=api_url,
    )
    if report.skipped:
        err.print(report.skipped)
        return
    table = Table("symbol", "new bars", "backfilled", "still missing", "funding", "requests")
    for r in report.results:
        table.add_row(
            r.symbol,
            str(r.new_bars),
            str(r.backfilled),
            str(r.missing),
            str(r.funding),
            str(r.requests),
        )
    out.print(table)
    for r in report.results:
        if r.error:
            err.print(f"[red]error:[/red] {r.error}")
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8900,
    database: Database = None,
) -> None:
    """Serve the market database over HTTP: /ohlcv (JSON or Arrow), /symbols, /funding, /health."""
    import uvicorn

    from aifap.data.service import create_app

    url = _url(database)
    err.print(f"serving {redact_url(url)} on http://{host}:{port}")
    uvicorn.run(create_app(url), host=host, port=port, log_level="info")
