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
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from aifap.cli import app, parse_symbols

TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


class Market(StrEnum):
    """The market a backtest trades."""

    FUTURES = "futures"
    SPOT = "spot"


class OnError(StrEnum):
    """What a backtest does when the strategy raises or returns an invalid output."""

    RAISE = "raise"
    SKIP = "skip"


@app.command("backtest")
def backtest_command(
    strategy_file: Annotated[
        Path,
        typer.Argument(
            help="Python file defining strategy(context, config_dict); "
            "'file.py:function' picks another function.",
            show_default=False,
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Directory of SYMBOL_TIMEFRAME.csv[.gz] bar files. "
            "Default: the built-in synthetic market (30 days of 1m bars, seed 42).",
            show_default=False,
        ),
    ] = None,
    days: Annotated[
        float | None,
        typer.Option(
            "--days",
            min=1,
            help="Days of the built-in synthetic market (ending 2024-07-01). Default 30; "
            "not with --data.",
            show_default=False,
        ),
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols",
            help="Comma-separated symbols to load, e.g. BTCUSDT,ETHUSDT,SOLUSDT; also given "
            "to the strategy as config 'symbols'. Default: the strategy's own or all.",
            show_default=False,
        ),
    ] = None,
    rebalance: Annotated[
        str, typer.Option("--rebalance", help="How often the strategy runs: 1m, 5m, 15m, 1h...")
    ] = "5m",
    capital: Annotated[
        float, typer.Option("--capital", help="Starting allocation in the quote currency.")
    ] = 10_000.0,
    fee: Annotated[
        float, typer.Option("--fee", help="Fee rate on traded notional (0.0006 = 0.06 %).")
    ] = 0.0006,
    slippage: Annotated[
        float, typer.Option("--slippage", help="Slippage in basis points of the fill price.")
    ] = 0.0,
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="Trade a symbol only when |target - current| > this."),
    ] = 0.01,
    market: Annotated[
        Market, typer.Option("--market", help="futures (shorts, leverage) or spot.")
    ] = Market.FUTURES,
    leverage: Annotated[
        float,
        typer.Option("--leverage", help="Leverage on futures: notional = weight × equity × this."),
    ] = 1.0,
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
    config_dict = _config(config)
    if symbol_list is not None:
        config_dict.setdefault("symbols", symbol_list)
    strategy = load_strategy(str(strategy_file))
    source: Any = data
    if days is not None:
        if data is not None:
            raise typer.BadParameter("must not be given with --data", param_hint="--days")
        source = aifap.SyntheticMarket(symbol_list, days=days)
    result = aifap.backtest(
        strategy,
        source,
        symbols=symbol_list,
        start=_utc(start),
        end=_utc(end),
        capital=capital,
        rebalance_every=rebalance,
        market=market.value,
        leverage=int(leverage) if float(leverage).is_integer() else leverage,
        fee_rate=fee,
        slippage_bps=slippage,
        threshold=threshold,
        config=config_dict,
        on_error=on_error.value,
    )
    summary = _summary(result)
    _print_metrics(summary["metrics"], title=f"Backtest of {strategy_file.name}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
        Console(stderr=True).print(f"metrics written to {json_out}")
    if save is not None:
        Console(stderr=True).print(f"results saved in {result.save(save)}")
    if tearsheet is not None:
        path = result.tear_sheet(tearsheet)
        Console(stderr=True).print(f"tear sheet written to {path or tearsheet}")


def _config(text: str | None) -> dict[str, Any]:
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


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
