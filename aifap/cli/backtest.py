"""``aifap backtest``: run a strategy file on bars and print the seed's metrics table.

Only parsing lives here; the work is :func:`aifap.backtest`. Example::

    aifap backtest strategies/momentum.py                       # built-in synthetic market
    aifap backtest strategies/momentum.py --data ../shared/data/ohlcv/futures --symbols BTCUSDT
    aifap backtest strategies/long_short.py --rebalance 1h --json out.json --tearsheet out.html
    aifap backtest strategies/momentum.py --save out/ && aifap report out/ --out reports/
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
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
    bar_data,
    config_option,
    run_kwargs,
)


class LedgerKind(StrEnum):
    """Which book keeps the account (see ``aifap.backtest``'s ``ledger``)."""

    AUTO = "auto"
    DECIMAL = "decimal"


class OnError(StrEnum):
    """What a backtest does when the strategy raises or returns an invalid output."""

    RAISE = "raise"
    SKIP = "skip"


@app.command("backtest")
def backtest_command(
    strategy_file: StrategyFile,
    data: Data = None,
    days: Days = None,
    symbols: Symbols = None,
    rebalance: Rebalance = "5m",
    capital: Capital = 10_000.0,
    fee: Fee = 0.0006,
    slippage: Annotated[
        float, typer.Option("--slippage", help="Slippage in basis points of the fill price.")
    ] = 0.0,
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="Trade a symbol only when |target - current| > this."),
    ] = 0.01,
    market: MarketOption = Market.FUTURES,
    leverage: Annotated[
        float,
        typer.Option("--leverage", help="Leverage on futures: notional = weight × equity × this."),
    ] = 1.0,
    start: Start = None,
    end: End = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="The strategy's config_dict: a JSON object or a .json/.yaml file.",
            show_default=False,
        ),
    ] = None,
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error",
            help="On a strategy error: stop the backtest (raise) or skip that rebalance.",
        ),
    ] = OnError.RAISE,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write metrics, final equity and trade count to this JSON file.",
            show_default=False,
        ),
    ] = None,
    tearsheet: Annotated[
        Path | None,
        typer.Option(
            "--tearsheet", help="Write a pyfolio tear sheet (HTML) here.", show_default=False
        ),
    ] = None,
    ledger: Annotated[
        LedgerKind,
        typer.Option(
            "--ledger",
            help="auto: runs on exchange-grid prices (spot or futures) are booked in an "
            "exact integer book (same results, several times faster); decimal: always the "
            "Decimal ledger.",
        ),
    ] = LedgerKind.AUTO,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            help="Save equity, returns, positions, transactions, orders (CSV) and metrics "
            "(JSON) in this directory; `aifap report DIR` renders its tear sheet.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Backtest STRATEGY_FILE and print its metrics (PV, ROE, Sharpe, max drawdown...)."""
    import aifap
    from aifap.strategy import load_strategy

    symbol_list = parse_symbols(symbols)
    config_dict = config_option(config)
    if symbol_list is not None:
        config_dict.setdefault("symbols", symbol_list)
    strategy = load_strategy(str(strategy_file))
    result = aifap.backtest(
        strategy,
        bar_data(data, days, symbol_list),
        **run_kwargs(symbol_list, start, end, capital, rebalance, market, fee),
        leverage=int(leverage) if float(leverage).is_integer() else leverage,
        slippage_bps=slippage,
        threshold=threshold,
        config=config_dict,
        on_error=on_error.value,
        ledger=ledger.value,
    )
    summary = _summary(result)
    _print_metrics(summary["metrics"], title=f"Backtest of {strategy_file.name}")
    Console().print(f"ledger: {result.config.get('ledger')}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        Console(stderr=True).print(f"metrics written to {json_out}")
    if save is not None:
        Console(stderr=True).print(f"results saved in {result.save(save)}")
    if tearsheet is not None:
        path = result.tear_sheet(tearsheet)
        Console(stderr=True).print(f"tear sheet written to {path or tearsheet}")


def _plain(value: Any) -> Any:
    """Return ``value`` as JSON-friendly Python (floats, ints, strings, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "item"):
        value = value.item()  # numpy scalars
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _summary(result: Any) -> dict[str, Any]:
    metrics = _plain(dict(result.metrics))
    equity = result.equity
    final = float(equity.iloc[-1]) if len(equity) else None
    return {
        "metrics": metrics,
        "final_equity": final if final is not None else metrics.get("final_equity"),
        "trades": len(result.transactions),
    }


def _print_metrics(metrics: dict[str, Any], *, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        shown = f"{value:,.4f}" if isinstance(value, float) else str(value)
        table.add_row(name.replace("_", " "), shown)
    Console().print(table)
