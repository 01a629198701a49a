r"""``aifap sweep``: backtest a strategy over a parameter grid on Dask; write table + heatmap.

Only parsing lives here; the work is :func:`aifap.sweep`. Example::

    aifap sweep strategies/momentum.py --grid lookback=10,20,40 --grid window=50,100 \\
        --data ../shared/data/ohlcv/futures --symbols BTCUSDT --out sweep/
    aifap sweep strategies/momentum.py --grid lookback=10,20 --scheduler tcp://dask:8786 --out s/
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols, table_cell
from aifap.cli.run_options import (
    BaseConfig,
    Capital,
    Data,
    Days,
    End,
    Fee,
    Grid,
    Market,
    MarketOption,
    Objective,
    Progress,
    Rebalance,
    Scheduler,
    Start,
    StrategyFile,
    Symbols,
    Workers,
    bar_data,
    config_option,
    grid_option,
    run_kwargs,
)


class Search(StrEnum):
    """How the combinations are chosen."""

    GRID = "grid"
    RANDOM = "random"
    OPTUNA = "optuna"


@app.command("sweep")
def sweep_command(
    strategy_file: StrategyFile,
    grid: Grid,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory for table.csv, table.parquet, best.json and heatmap.png.",
            show_default=False,
        ),
    ],
    data: Data = None,
    days: Days = None,
    symbols: Symbols = None,
    objective: Objective = "sharpe",
    search: Annotated[
        Search,
        typer.Option(
            "--search", help="grid: every combination; random / optuna: --trials of them."
        ),
    ] = Search.GRID,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            min=1,
            help="Combinations to try with --search random/optuna.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of random/optuna.")] = 0,
    workers: Workers = None,
    scheduler: Scheduler = None,
    rebalance: Rebalance = "5m",
    capital: Capital = 10_000.0,
    fee: Fee = 0.0006,
    market: MarketOption = Market.FUTURES,
    start: Start = None,
    end: End = None,
    config: BaseConfig = None,
    progress: Progress = True,
) -> None:
    """Backtest STRATEGY_FILE once per --grid combination on Dask; write the table and heatmap."""
    import aifap

    space = grid_option(grid)
    symbol_list = parse_symbols(symbols)
    result = aifap.sweep(
        str(strategy_file),
        bar_data(data, days, symbol_list),
        space,
        objective=objective,
        search=search.value,
        trials=trials,
        seed=seed,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        config=config_option(config),
        **run_kwargs(symbol_list, start, end, capital, rebalance, market, fee),
    )
    written = result.save(out)
    _print(result)
    Console(stderr=True).print(f"sweep table and heatmap written to {written}")
    failed = len(result.failed)
    if failed == len(result.table):
        Console(stderr=True).print(
            f"[red]every combination failed ({failed}): see the error column[/red]"
        )
        raise typer.Exit(1)
    if failed:
        Console(stderr=True).print(f"[yellow]{failed} combination(s) failed[/yellow]")


def _print(result: Any) -> None:
    """Print the table's parameters, objective, key metrics and errors (those it has)."""
    wanted = [*result.params, result.objective, "roe", "max_drawdown", "trades", "error"]
    shown = [c for c in dict.fromkeys(wanted) if c in result.table.columns]
    table = Table(title=f"Sweep ranked by {result.objective}")
    for column in shown:
        table.add_column(column)
    for _, row in result.table.iterrows():
        table.add_row(*(table_cell(row[c]) for c in shown))
    Console().print(table)
