"""``aifap demo``: backtest, promote to a paper session, trade a simulated day, report.

No servers and no network: the synthetic market, SQLite and local processes. The
work is :func:`aifap.notebook.demo.run_demo`; this module parses and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols
from aifap.notebook.demo import REBALANCE_EVERY, SESSION_DAYS, SYMBOLS, DemoResult


def _number(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write everything.")] = Path(
        "aifap-demo"
    ),
    days: Annotated[
        float, typer.Option("--days", min=0.01, help="Simulated days the paper session trades.")
    ] = SESSION_DAYS,
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols.")] = (
        "BTCUSDT,ETHUSDT,SOLUSDT"
    ),
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            min=0.0,
            help="Simulated seconds per real second; 0 runs as fast as the processes go.",
        ),
    ] = 0.0,
    rebalance: Annotated[
        str,
        typer.Option(
            "--rebalance",
            help="How often the strategy runs (5m, 1h, 1d...); its bars stay daily.",
        ),
    ] = REBALANCE_EVERY,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Wall seconds the paper session may take.")
    ] = 900.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results and paths as one JSON object.")
    ] = False,
) -> None:
    """Backtest the momentum strategy, run it as a paper session, write the reports.

    The backtest covers 180 days of the built-in synthetic market, rebalanced daily;
    the paper session trades the same strategy and config for --days simulated days.
    """
    from aifap.notebook.demo import run_demo

    console = Console(stderr=as_json)
    with console.status("backtesting strategies/momentum.py on the synthetic market") as spin:

        def progress(status: object) -> None:
            spin.update(f"paper session: {status}")

        result = run_demo(
            out,
            days=days,
            symbols=parse_symbols(symbols) or list(SYMBOLS),
            speed=speed,
            rebalance_every=rebalance,
            timeout=timeout,
            progress=progress,
        )
    if as_json:
        typer.echo(json.dumps(_as_json(result), indent=2, default=str))
        return
    print_result(result, console)


def print_result(result: DemoResult, console: Console) -> None:
    """Print the headline numbers as a table, then every path whole on its own line."""
    metrics, session = result.backtest_metrics, result.session
    numbers = Table(title="AIFAP demo", show_header=True)
    numbers.add_column("")
    numbers.add_column(f"backtest ({metrics.get('days')} days)", justify="right")
    numbers.add_column("paper session", justify="right")
    numbers.add_row(
        "final PV", _number(metrics.get("final_equity"), 2), _number(session.get("PV"), 2)
    )
    numbers.add_row("ROE", _number(metrics.get("roe")), _number(session.get("ROE")))
    numbers.add_row("buy-and-hold ROE", _number(metrics.get("benchmark_roe")), "")
    numbers.add_row(
        "max drawdown", _number(metrics.get("max_drawdown")), _number(session.get("max drawdown"))
    )
    numbers.add_row("fees", _number(metrics.get("fees"), 2), "")
    numbers.add_row("orders / trades", str(metrics.get("trades")), str(session.get("orders")))
    numbers.add_row("cycles", str(metrics.get("rebalances")), str(session.get("cycles done")))
    console.print(numbers)
    # one path a line, never wrapped or cut: terminals and scripts can copy them whole
    console.print("Where everything is:")
    for what, path in result.paths.items():
        console.print(f"  {what}:", highlight=False)
        console.print(f"    {path}", soft_wrap=True, highlight=False, markup=False)


def _as_json(result: DemoResult) -> dict[str, object]:
    return {
        "out": str(result.out),
        "backtest": result.backtest_metrics,
        "session": result.session,
        "status": result.status.as_dict() if result.status is not None else None,
        "paths": {what: str(path) for what, path in result.paths.items()},
    }
