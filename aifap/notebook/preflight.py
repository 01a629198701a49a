"""Before a session launches: import its strategy and run one cycle in a fresh process.

A function that works in the notebook can still fail outside it: it may use a name
only the notebook defines, or a package the kernel imported elsewhere. So
:func:`preflight` runs ``python -m aifap.notebook.preflight CONFIG`` in a new process,
which loads the strategy the session config names (the frozen file), and runs the
strategy half of one cycle exactly as the strategy process would
(:func:`aifap.live.planning.run_strategy`: history, the strategy under its time
limit, validation, the order plan) against a throwaway paper account on the
session's bars (on the built-in synthetic market when those come without market specs,
as a venue's bar service does). No order is sent, whatever the session's gateway.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from aifap.core.errors import StrategyError
from aifap.core.timeframes import timeframe_seconds


class PreflightError(StrategyError):
    """The strategy failed to import or to run one cycle in a fresh process."""


def preflight(config_path: str | Path, *, timeout: float = 180.0) -> dict[str, Any]:
    """Run one cycle of the session in ``config_path`` in a fresh process; return its report.

    Raises:
        PreflightError: the strategy could not be imported, raised, timed out or
            returned invalid targets (the message says which and why).
    """
    command = [sys.executable, "-m", "aifap.notebook.preflight", str(config_path)]
    try:
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise PreflightError(
            f"the one-cycle check must finish within {timeout:g} s, it did not"
        ) from exc
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if run.returncode != 0 or not report.get("ok"):
        error = report.get("error") or run.stderr.strip()[-2000:] or f"exit code {run.returncode}"
        raise PreflightError(f"strategy failed its one-cycle check in a fresh process: {error}")
    return report


def _now(config: Any, bars: Any) -> datetime:
    now = config.clock.start if config.clock.kind == "replay" else datetime.now(UTC)
    frame = bars.bars(config.symbols[0], config.bar_timeframe, end=now, limit=1)
    if not frame.empty:  # bars that end before "now" (the synthetic market on a wall clock)
        closed = frame.index[-1] + pd.Timedelta(seconds=timeframe_seconds(config.bar_timeframe))
        now = min(now, closed.to_pydatetime())
    return now


def run_one_cycle(config_path: str | Path) -> dict[str, Any]:
    """Load the session's strategy and plan one cycle in this process; return a report."""
    from aifap.data.synthetic import SyntheticMarket
    from aifap.exchange.paper import PaperGateway
    from aifap.live.config import load_config
    from aifap.live.planning import run_strategy
    from aifap.live.wiring import open_bars
    from aifap.strategy import load_strategy

    config = load_config(config_path)
    fn = load_strategy(config.strategy)
    bars = open_bars(config)
    if not hasattr(bars, "markets"):  # bars without market specs: rehearse on the built-in market
        bars = SyntheticMarket(config.symbols, market=config.market)
    all_markets = bars.markets()
    missing = [s for s in config.symbols if s not in all_markets]
    if missing:
        raise PreflightError(f"symbols: each must have market data, {', '.join(missing)} has none")
    markets = {s: all_markets[s] for s in config.symbols}
    now = _now(config, bars)
    with tempfile.TemporaryDirectory(prefix="aifap-preflight-") as tmp:
        gateway = PaperGateway(
            markets,
            bars,
            url=f"sqlite:///{Path(tmp) / 'paper.db'}",
            account="preflight",
            capital=config.allocation,
            leverage=config.leverage,
            market_type=config.market,
            clock=lambda: now,
            timeframe=config.bar_timeframe,
        )
        try:
            wallet = gateway.balance().wallet
            result = run_strategy(
                fn,
                config,
                bars=bars,
                gateway=gateway,
                markets=markets,
                now=now,
                state={},
                initial_wallet=wallet,
                cycle=1,
            )
        finally:
            gateway.close()
            from aifap.db import make_engine

            make_engine(f"sqlite:///{Path(tmp) / 'paper.db'}").dispose()
    targets = (
        None if result.targets is None else {s: float(t.weight) for s, t in result.targets.items()}
    )
    return {
        "ok": True,
        "at": now.isoformat(),
        "strategy": config.strategy,
        "targets": targets,
        "orders": len(result.plan.orders),
        "dropped": len(result.plan.dropped),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m aifap.notebook.preflight CONFIG``: print a JSON report."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m aifap.notebook.preflight CONFIG\n")
        return 2
    try:
        report = run_one_cycle(args[0])
    except Exception as exc:
        report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
