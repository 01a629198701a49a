"""``aifap demo``: backtest, promote to a paper session, trade a simulated day, report.

No servers and no network: the synthetic market, SQLite and local processes. The
work is :func:`aifap.notebook.demo.run_demo`; this module parses and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols


def _number(value: object, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Where to write everything.")] = Path(
        "aifap-demo"
    ),
    days: Annotated[
        float, typer.Option("--days", min=0.01, help="Simulated days the paper session trades.")
    ] = 1.0,
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
        str, typer.Option("--rebalance", help="How often the strategy runs: 5m, 15m, 1h...")
    ] = "15m",
    timeout: Annotated[
        float, typer.Option("--timeout", help="Wall seconds the paper session may take.")
    ] = 900.0,
) -> None:
    """Backtest the momentum strategy, run it as a paper session, write the reports."""
    from aifap.notebook.demo import run_demo

    console = Console()
    with console.status("backtesting strategies/momentum.py on the synthetic market") as spin:

        def progress(status: object) -> None:
            spin.update(f"paper session: {status}")

        result = run_demo(
            out,
            days=days,
            symbols=parse_symbols(symbols),
            speed=speed,
            rebalance_every=rebalance,
            timeout=timeout,
            progress=progress,
        )
    metrics, session = result.backtest_metrics, result.session
    numbers = Table(title="AIFAP demo", show_header=True)
    numbers.add_column("")
    numbers.add_column("backtest", justify="right")
    numbers.add_column("paper session", justify="right")
    numbers.add_row(
        "final PV", _number(metrics.get("final_equity"), 2), _number(session.get("PV"), 2)
    )
    numbers.add_row("ROE", _number(metrics.get("roe")), _number(session.get("ROE")))
    numbers.add_row(
        "max drawdown", _number(metrics.get("max_drawdown")), _number(session.get("max drawdown"))
    )
    numbers.add_row("orders / trades", str(metrics.get("trades")), str(session.get("orders")))
    numbers.add_row("cycles", "", str(session.get("cycles done")))
    console.print(numbers)
    paths = Table(title="Where everything is", show_header=True)
    paths.add_column("what")
    paths.add_column("path", overflow="fold")
    for what, path in result.paths.items():
        paths.add_row(what, str(path))
    console.print(paths)
