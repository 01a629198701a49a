"""The ``aifap`` command. Each area adds its commands from its own module here.

Exit codes: 0 ok, 1 error (an AIFAP error is printed without a traceback), 2 usage.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer
from rich.console import Console

from aifap.core.errors import AifapError

app = typer.Typer(
    name="aifap",
    help="AIFAP: research, backtest and run crypto rebalancing strategies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


def parse_symbols(text: str | None, option: str = "--symbols") -> list[str] | None:
    """Return the upper-cased symbols of a comma-separated option (None when not given).

    Raises:
        typer.BadParameter: the text names no symbol.
    """
    if text is None:
        return None
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not names:
        raise typer.BadParameter(
            f"must list symbols like BTCUSDT,ETHUSDT, was {text!r}", param_hint=option
        )
    return names


def table_cell(value: object) -> str:
    """Return a result table's value as a rich-table cell (floats to 4 decimals, NaN blank)."""
    if isinstance(value, float):
        return "" if value != value else f"{value:,.4f}"
    return "" if value is None else str(value)


# each module registers its commands or sub-apps on `app` when imported
COMMAND_MODULES: tuple[str, ...] = (
    "backtest",
    "alerts",
    "live",
    "emulator",
    "data",
    "demo",
    "report",
    "serve",
    "dashboard",
    "admin",
    "parity",
    "sweep",
    "walkforward",
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages to stderr."),
) -> None:
    """Research, backtest and run crypto portfolio rebalancing strategies."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        for noisy in ("alembic", "httpx", "ccxt", "matplotlib", "distributed"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # Dask sets its loggers' levels from its config when imported, here and in the
        # worker processes a sweep spawns (they inherit the environment)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


for _module in COMMAND_MODULES:
    importlib.import_module(f"aifap.cli.{_module}")


def main() -> None:
    """Run the CLI; AIFAP errors exit 1 with their message, not a traceback."""
    try:
        app()
    except AifapError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
