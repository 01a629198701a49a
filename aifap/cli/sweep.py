r"""``aifap sweep``: backtest a strategy over a parameter grid on Dask; write table + heatmap.

Only parsing lives here; the work is :func:`aifap.sweep`. Example::

    aifap sweep strategies/momentum.py --grid lookback=10,20,40 --grid window=50,100 \\
        --data ../shared/data/ohlcv/futures --symbols BTCUSDT,ETHUSDT --out sweep/
    aifap sweep strategies/momentum.py --grid lookback=10,20 --scheduler tcp://dask:8786 --out s/
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols
from aifap.cli.backtest import TIME_FORMATS, Market, _config, _utc
from aifap.core.errors import ConfigError


class Search(StrEnum):
    """How the combinations are chosen."""

    GRID = "grid"
    RANDOM = "random"
    OPTUNA = "optuna"


@app.command("sweep")
def sweep_command(
    strategy_file: Annotated[
        Path,
        typer.Argument(
            help="Python file defining strategy(context, config_dict); "
            "'file.py:function' picks another function.",
            show_default=False,
        ),
    ],
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
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Directory of SYMBOL_TIMEFRAME.csv[.gz] bar files (as `aifap backtest "
            "--data`). Default: the built-in synthetic market (30 days of 1m bars).",
            show_default=False,
        ),
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(
            "--days",
            min=1,
            help="Days of the built-in synthetic market; not with --data.",
            show_default=False,
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols",
            help="Comma-separated symbols to load, e.g. BTCUSDT,ETHUSDT (default: all).",
            show_default=False,
        ),
    ] = None,
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
    rebalance: Annotated[
        str, typer.Option("--rebalance", help="How often the strategy runs: 1m, 5m, 1h...")
    ] = "5m",
    capital: Annotated[
        float, typer.Option("--capital", help="Starting allocation in the quote currency.")
    ] = 10_000.0,
    fee: Annotated[
        float, typer.Option("--fee", help="Fee rate on traded notional (0.0006 = 0.06 %).")
    ] = 0.0006,
    market: Annotated[
        Market, typer.Option("--market", help="futures (shorts, leverage) or spot.")
    ] = Market.FUTURES,
    start: Annotated[
        datetime | None,
        typer.Option(
            "--start", formats=TIME_FORMATS, help="First bar to trade (UTC).", show_default=False
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        typer.Option(
            "--end", formats=TIME_FORMATS, help="Last bar time (UTC).", show_default=False
        ),
    ] = None,
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
        config=_config(config),
        symbols=symbol_list,
        start=_utc(start),
        end=_utc(end),
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
