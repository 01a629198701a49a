"""``aifap emulator``: serve the local Bitget exchange emulator in the foreground.

Examples::

    aifap emulator --port 18080                              # synthetic prices, wall clock
    aifap emulator --bars ../shared/data/ohlcv/futures --symbols BTCUSDT --start 2024-03-01
    aifap emulator --start 2024-03-01 --speed 60             # replay at 1 emulated min/s
    aifap emulator --account mykey:mysecret:mypass --restrict-keys

Point ccxt at it with ``options={'uta': False}`` and every ``urls['api']`` key set to
``http://HOST:PORT``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from aifap.cli import app, console


@app.command("emulator")
def emulator(
    port: Annotated[int, typer.Option(help="TCP port to listen on (0 = any free port).")] = 18080,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    balance: Annotated[str, typer.Option(help="USDT credited to each new account.")] = "10000",
    bars: Annotated[
        Path | None,
        typer.Option(help="Directory of {SYMBOL}_1m.csv[.gz] files to serve (default: synthetic)."),
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols to load from --bars (default: all).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="Start the emulator's clock at this UTC time (ISO; default: now)."),
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Emulated seconds per wall second when --start is given.")
    ] = 1.0,
    account: Annotated[
        list[str] | None,
        typer.Option(
            help="Register KEY:SECRET:PASSPHRASE (repeatable); its requests are verified."
        ),
    ] = None,
    restrict_keys: Annotated[
        bool, typer.Option(help="Accept only the keys given with --account.")
    ] = False,
    dedupe_client_oids: Annotated[
        bool,
        typer.Option(help="Refuse any clientOid seen before (Bitget); off: only open orders'."),
    ] = True,
) -> None:
    """Serve a local Bitget v2 REST emulator (markets, candles, orders, positions)."""
    from aifap.exchange.emulator import BitgetEmulator
    from aifap.exchange.emulator.clock import ReplayClock
    from aifap.exchange.emulator.loaders import load_csv_bars
    from aifap.exchange.emulator.server import serve_forever

    wanted = [s.strip().upper() for s in symbols.split(",")] if symbols else None
    frames = load_csv_bars(bars, wanted) if bars is not None else None
    clock = ReplayClock(start, speed) if start else None
    emu = BitgetEmulator(
        frames,
        clock=clock,
        initial_balance=Decimal(balance),
        restrict_keys=restrict_keys,
        dedupe_client_oids=dedupe_client_oids,
    )
    for entry in account or []:
        parts = entry.split(":")
        if len(parts) != 3 or not all(parts):
            raise typer.BadParameter("--account must be KEY:SECRET:PASSPHRASE")
        emu.add_account(*parts)
    console.print(
        f"Bitget emulator on http://{host}:{port} "
        f"({len(emu.markets.all())} markets, {len(account or [])} registered keys)"
    )
    serve_forever(emu.app, host, port)
