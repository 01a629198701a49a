"""The options ``aifap backtest``, ``sweep`` and ``walk-forward`` share.

Bars, period, money and config for all three; the grid, objective and Dask cluster for
the two research commands. One definition each, so the commands take and explain them
the same way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class Market(StrEnum):
    """The market a backtest trades."""

    FUTURES = "futures"
    SPOT = "spot"


StrategyFile = Annotated[
    Path,
    typer.Argument(
        help="Python file defining strategy(context, config_dict); "
        "'file.py:function' picks another function.",
        show_default=False,
    ),
]
Data = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Directory of SYMBOL_TIMEFRAME.csv[.gz] bar files. "
        "Default: the built-in synthetic market (30 days of 1m bars, seed 42).",
        show_default=False,
    ),
]
Days = Annotated[
    float | None,
    typer.Option(
        "--days",
        min=1,
        help="Days of the built-in synthetic market (ending 2024-07-01). Default 30; "
        "not with --data.",
        show_default=False,
    ),
]
Symbols = Annotated[
    str | None,
    typer.Option(
        "--symbols",
        help="Comma-separated symbols to load, e.g. BTCUSDT,ETHUSDT,SOLUSDT; also given "
        "to the strategy as config 'symbols'. Default: the strategy's own or all.",
        show_default=False,
    ),
]
Rebalance = Annotated[
    str, typer.Option("--rebalance", help="How often the strategy runs: 1m, 5m, 15m, 1h...")
]
Capital = Annotated[
    float, typer.Option("--capital", help="Starting allocation in the quote currency.")
]
Fee = Annotated[float, typer.Option("--fee", help="Fee rate on traded notional (0.0006 = 0.06 %).")]
MarketOption = Annotated[
    Market, typer.Option("--market", help="futures (shorts, leverage) or spot.")
]
Start = Annotated[
    datetime | None,
    typer.Option(
        "--start", formats=TIME_FORMATS, help="First bar to trade (UTC).", show_default=False
    ),
]
End = Annotated[
    datetime | None,
    typer.Option("--end", formats=TIME_FORMATS, help="Last bar time (UTC).", show_default=False),
]


Grid = Annotated[
    list[str],
    typer.Option(
        "--grid",
        help="A parameter and its values, name=v1,v2,... (repeat for each parameter); "
        "each combination goes into the strategy's config_dict.",
        show_default=False,
    ),
]
Objective = Annotated[
    str,
    typer.Option(
        "--objective",
        help="Metric to rank by: sharpe, roe, pnl, final_equity, max_drawdown, "
        "volatility, fees, trades, realized_pnl.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Worker processes of the local Dask cluster (default: the machine's cores).",
        show_default=False,
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler (tcp://host:8786) instead of a local cluster.",
        show_default=False,
    ),
]
BaseConfig = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="The base config_dict (a JSON object or a .json/.yaml file); the grid's "
        "values go on top of it.",
        show_default=False,
    ),
]
Progress = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
]


def bar_data(data: str | None, days: float | None, symbols: list[str] | None) -> Any:
    """Return what ``--data`` / ``--days`` ask for: a bar directory, or the synthetic market."""
    if days is None:
        return data
    if data is not None:
        raise typer.BadParameter("must not be given with --data", param_hint="--days")
    from aifap.data.synthetic import SyntheticMarket

    return SyntheticMarket(symbols, days=days)


def run_kwargs(
    symbols: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    capital: float,
    rebalance: str,
    market: Market,
    fee: float,
) -> dict[str, Any]:
    """Return the shared options as :func:`aifap.backtest` keyword arguments."""
    return {
        "symbols": symbols,
        "start": as_utc(start),
        "end": as_utc(end),
        "capital": capital,
        "rebalance_every": rebalance,
        "market": market.value,
        "fee_rate": fee,
    }


def grid_option(items: list[str]) -> dict[str, list[Any]]:
    """Return the ``--grid`` values as a grid (a usage error naming ``--grid`` if malformed)."""
    from aifap.core.errors import ConfigError
    from aifap.research.grid import parse_grid_option

    try:
        return parse_grid_option(items)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--grid") from None


def config_option(text: str | None) -> dict[str, Any]:
    """Return the ``--config`` value (a JSON object, or a .json/.yaml file) as a dict."""
    if text is None:
        return {}
    path = Path(text)
    try:
        if path.suffix.lower() in {".json", ".yaml", ".yml"}:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            loaded = json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise typer.BadParameter(
            f"must be a JSON object or a .json/.yaml file: {exc}", param_hint="--config"
        ) from exc
    if not isinstance(loaded, dict):
        raise typer.BadParameter(
            f"must be a JSON object, was {type(loaded).__name__}", param_hint="--config"
        )
    return loaded


def as_utc(value: datetime | None) -> datetime | None:
    """Return a ``--start``/``--end`` value in UTC (a naive one is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
