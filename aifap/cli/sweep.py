r"""``aifap sweep``: backtest a strategy over a parameter grid on Dask; write table + heatmap.

Only parsing lives here; the work is :func:`aifap.sweep`. Example::

    aifap sweep strategies/momentum.py --grid lookback=10,20,40 --grid window=50,100 \\
        --data ../shared/data/ohlcv/futures --symbols BTCUSDT,ETHUSDT --out sweep/
    aifap sweep strategies/momentum.py --grid lookback=10,20 --scheduler tcp://dask:8786 --out s/
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols
from aifap.cli.run_options import (
    Capital,
    Data,
    Days,
    End,
    Fee,
    Market,
    MarketOption,
    Rebalance,
    Start,
    StrategyFile,
    Symbols,
    as_utc,
    config_option,
)
from aifap.core.errors import ConfigError


class Search(StrEnum):
    """How the combinations are chosen."""

    GRID = "grid"
    RANDOM = "random"
    OPTUNA = "optuna"


@app.command("sweep")
def sweep_command(
    strategy_file: StrategyFile,
    grid: Annotated[
        list[str],
        typer.Option(
            "--grid",
            help="A parameter and its values, name=v1,v2,... (repeat for each parameter); "
            "each combination goes into the strategy's config_dict.",
            show_default=False,
        ),
    ],
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
    objective: Annotated[
        str,
        typer.Option(
            "--objective",
            help="Metric to rank by: sharpe, roe, pnl, final_equity, max_drawdown, "
            "volatility, fees, trades, realized_pnl.",
        ),
    ] = "sharpe",
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
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes of the local Dask cluster (default: the machine's cores).",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler (tcp://host:8786) instead of a "
            "local cluster.",
            show_default=False,
        ),
    ] = None,
    rebalance: Rebalance = "5m",
    capital: Capital = 10_000.0,
    fee: Fee = 0.0006,
    market: MarketOption = Market.FUTURES,
    start: Start = None,
    end: End = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="The base config_dict (a JSON object or a .json/.yaml file); the grid's "
            "values go on top of it.",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
) -> None:
    """Backtest STRATEGY_FILE once per --grid combination on Dask; write the table and heatmap."""
    import aifap
    from aifap.research.grid import parse_grid_option

    try:
        space = parse_grid_option(grid)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--grid") from None
    symbol_list = parse_symbols(symbols)
    source: Any = data
    if days is not None:
        if data is not None:
            raise typer.BadParameter("must not be given with --data", param_hint="--days")
        source = aifap.SyntheticMarket(symbol_list, days=days)
    result = aifap.sweep(
        str(strategy_file),
        source,
        space,
        objective=objective,
        search=search.value,
        trials=trials,
        seed=seed,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        config=config_option(config),
        symbols=symbol_list,
        start=as_utc(start),
        end=as_utc(end),
        capital=capital,
        rebalance_every=rebalance,
        market=market.value,
        fee_rate=fee,
    )
    written = result.save(out)
    _print(result)
    Console(stderr=True).print(f"sweep table and heatmap written to {written}")
    if len(result.failed):
        Console(stderr=True).print(f"[yellow]{len(result.failed)} combination(s) failed[/yellow]")


def _print(result: Any) -> None:
    shown = [*result.params, result.objective, "roe", "max_drawdown", "trades", "error"]
    table = Table(title=f"Sweep ranked by {result.objective}")
    for column in dict.fromkeys(shown):
        table.add_column(column)
    for _, row in result.table.iterrows():
        table.add_row(*(_cell(row[c]) for c in dict.fromkeys(shown)))
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}"
    return "" if value is None else str(value)
