r"""``aifap walk-forward``: pick parameters on rolling train windows, trade them on the next.

Only parsing lives here; the work is :func:`aifap.walk_forward`. Example::

    aifap walk-forward strategies/momentum.py --grid lookback=10,20,40 --grid window=50,100 \\
        --train 20d --test 5d --days 60 --out wf/
"""

from __future__ import annotations

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

SHOWN_METRICS = ("roe", "sharpe", "max_drawdown", "trades", "fees")


@app.command("walk-forward")
def walk_forward_command(
    strategy_file: StrategyFile,
    grid: Grid,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory for windows.csv, equity.csv, returns.csv, train_N.csv (each "
            "train window's sweep) and tearsheet.html.",
            show_default=False,
        ),
    ],
    train: Annotated[
        str, typer.Option("--train", help="Length of each train window (60d, 12h...).")
    ] = "60d",
    test: Annotated[
        str, typer.Option("--test", help="Length of each out-of-sample test window.")
    ] = "14d",
    step: Annotated[
        str | None,
        typer.Option(
            "--step",
            help="How far the windows move each time (default: --test, so the test "
            "windows tile the span).",
            show_default=False,
        ),
    ] = None,
    data: Data = None,
    days: Days = None,
    symbols: Symbols = None,
    objective: Objective = "sharpe",
    workers: Workers = None,
    scheduler: Scheduler = None,
    rebalance: Rebalance = "5m",
    capital: Capital = 10_000.0,
    fee: Fee = 0.0006,
    market: MarketOption = Market.FUTURES,
    start: Start = None,
    end: End = None,
    config: BaseConfig = None,
    tear_sheet: Annotated[
        bool,
        typer.Option(
            "--tear-sheet/--no-tear-sheet",
            help="Write the pyfolio tear sheet of the stitched out-of-sample returns.",
        ),
    ] = True,
    progress: Progress = True,
) -> None:
    """Walk-forward test of STRATEGY_FILE over the --grid: in-sample choice, out-of-sample PV."""
    import aifap

    space = grid_option(grid)
    symbol_list = parse_symbols(symbols)
    result = aifap.walk_forward(
        str(strategy_file),
        bar_data(data, days, symbol_list),
        space,
        train=train,
        test=test,
        step=step,
        objective=objective,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        config=config_option(config),
        **run_kwargs(symbol_list, start, end, capital, rebalance, market, fee),
    )
    written = result.save(out)
    if tear_sheet:
        result.tear_sheet(written / "tearsheet.html")
    _print(result)
    Console(stderr=True).print(f"walk-forward results written to {written}")


def _print(result: Any) -> None:
    columns = [
        "train_start",
        "train_end",
        "test_end",
        *result.params,
        "in_sample",
        "out_of_sample",
        "test_roe",
        "error",
    ]
    table = Table(title=f"Walk-forward windows ranked by {result.objective}")
    for column in columns:
        table.add_column(column)
    for _, row in result.windows.iterrows():
        table.add_row(*(table_cell(_short(row.get(c))) for c in columns))
    console = Console()
    console.print(table)
    gap = result.gap
    console.print(
        f"{result.objective}: in sample {gap['in_sample']:.4f}, out of sample "
        f"{gap['out_of_sample']:.4f}, gap {gap['gap']:+.4f} (positive: worse out of sample)"
    )
    shown = {k: result.metrics[k] for k in SHOWN_METRICS if k in result.metrics}
    console.print("out-of-sample " + ", ".join(f"{k} {table_cell(v)}" for k, v in shown.items()))


def _short(value: Any) -> Any:
    """A window bound as ``2024-06-27 00:00`` (UTC), anything else as it is."""
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else value
