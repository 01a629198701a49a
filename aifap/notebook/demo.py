"""``aifap demo``: the whole research-to-paper path on one machine, no servers, no network.

1. backtest ``strategies/momentum.py`` (the seed's example) rebalanced daily on daily
   bars over 180 days of the built-in synthetic market, and write its tear sheet with
   an equal-weight buy-and-hold of the same assets as the benchmark;
2. promote the same strategy and config to a paper session on the accelerated replay
   clock (SQLite, the local launcher: papermill runs the live template as a watched
   local process);
3. let it trade for ``days`` simulated days;
4. write the paper session's returns report (a tear sheet of finwatcher's PV).

180 days so every panel of pyfolio's tear sheet has data (its rolling Sharpe and
volatility need six months); daily cadence so fees do not decide the result.

Everything goes under one output directory; :class:`DemoResult` says where.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from aifap.core.errors import AifapError
from aifap.deploy.base import SessionStatus

STRATEGY = Path(__file__).resolve().parents[2] / "strategies" / "momentum.py"
# the seed's momentum on daily bars: 7-day return, its 5 % take-profit and 3 % stop-loss
STRATEGY_CONFIG = STRATEGY.with_name("momentum_daily.yaml")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
REBALANCE_EVERY = "1d"
BACKTEST_DAYS = 180.0
SESSION_DAYS = 7.0
MARKER = ".aifap-demo"
SESSION = "demo-momentum"


class DemoError(AifapError):
    """The demo's paper session did not end cleanly."""


@dataclass
class DemoResult:
    """Where the demo wrote everything, and the headline numbers."""

    out: Path
    paths: dict[str, Path] = field(default_factory=dict)
    backtest_metrics: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)
    status: SessionStatus | None = None


def _clean(out: Path) -> None:
    # only a previous demo's own files; a directory without the marker is left alone
    if not (out / MARKER).exists():
        return
    shutil.rmtree(out / "session", ignore_errors=True)
    for name in ("results.db", "results.db-wal", "results.db-shm"):
        (out / name).unlink(missing_ok=True)


def run_demo(
    out: str | Path = "aifap-demo",
    *,
    days: float = SESSION_DAYS,
    symbols: Sequence[str] = SYMBOLS,
    speed: float = 0.0,
    rebalance_every: str = REBALANCE_EVERY,
    backtest_days: float = BACKTEST_DAYS,
    strategy_config: dict[str, Any] | None = None,
    allocation: float = 1000.0,
    timeout: float = 900.0,
    progress: Callable[[SessionStatus], None] | None = None,
) -> DemoResult:
    """Run the demo into ``out`` and return where everything is.

    Args:
        out: the output directory (a previous demo's session there is replaced).
        days: simulated days the paper session trades.
        symbols: the symbols traded.
        speed: simulated seconds per real second; 0 runs as fast as the processes go.
        rebalance_every: the rebalancing interval of backtest and session.
        backtest_days: days of the synthetic market the backtest covers.
        strategy_config: the strategy's ``config_dict`` (default: the YAML file
            :data:`STRATEGY_CONFIG`).
        allocation: the capital of backtest and session.
        timeout: wall seconds the session may take before it is stopped.
        progress: called with the session's status about once a second.

    Raises:
        DemoError: the session failed or did not end within ``timeout``.
    """
    import aifap
    from aifap.data.synthetic import SyntheticMarket
    from aifap.live import load_config
    from aifap.live.config import CONFIG_NAME
    from aifap.notebook.session_report import session_summary, write_returns_report

    if days <= 0:
        raise DemoError(f"days must be > 0, was {days}")
    root = Path(out).resolve()
    _clean(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by aifap demo\n", encoding="utf-8")
    result = DemoResult(out=root)
    if strategy_config is None:
        strategy_config = yaml.safe_load(STRATEGY_CONFIG.read_text(encoding="utf-8"))
    config = dict(strategy_config)
    config["symbols"] = list(symbols)
    market = SyntheticMarket(symbols, days=backtest_days)

    backtest = aifap.backtest(
        str(STRATEGY),
        market,
        capital=allocation,
        rebalance_every=rebalance_every,
        config=config,
        progress=False,
    )
    benchmark = buy_and_hold(market, symbols)
    result.backtest_metrics = dict(backtest.metrics)
    result.backtest_metrics["benchmark_roe"] = float((1.0 + benchmark).prod() - 1.0)
    result.paths["backtest results"] = backtest.save(root / "backtest")
    result.paths["backtest tear sheet"] = Path(
        backtest.tear_sheet(
            root / "backtest" / "tear_sheet.html",
            benchmark=benchmark,
            title=f"AIFAP demo: momentum rebalanced every {rebalance_every} "
            f"(benchmark: equal-weight buy-and-hold of {', '.join(symbols)})",
        )
    )

    handle = aifap.promote(
        str(STRATEGY),
        SESSION,
        symbols=list(symbols),
        allocation=allocation,
        rebalance_every=rebalance_every,
        config=config,
        clock={"kind": "replay", "speed": speed},
        duration=f"{round(days * 1440)}m",
        finwatcher_interval="1h",
        trader="demo",
        workdir=str(root / "session"),
        results_database_url=f"sqlite:///{root / 'results.db'}",
        strategies=root / "strategies",
    )
    status = _follow(handle, timeout, progress)
    result.status = status
    session_config = load_config(root / "session" / CONFIG_NAME)
    if status.state != "stopped":
        raise DemoError(
            f"the paper session must end cleanly, it {status.state}: "
            f"{status.reason}\n{handle.logs(20)}"
        )
    result.paths["paper session returns report"] = write_returns_report(
        session_config, root / "session_returns.html"
    )
    result.session = session_summary(session_config).to_dict()
    result.paths["frozen strategy"] = Path(session_config.strategy.rpartition(":")[0])
    result.paths["session config"] = root / "session" / CONFIG_NAME
    result.paths["live notebook (executed)"] = handle.workdir / "session.ipynb"
    result.paths["session log"] = handle.workdir / "session.log"
    result.paths["results database"] = root / "results.db"
    return result


def buy_and_hold(market: Any, symbols: Sequence[str]) -> pd.Series:
    """Return the daily returns of an equal-weight buy-and-hold of ``symbols`` (no fees)."""
    closes = pd.DataFrame({s: market.bars(s, "1d")["close"] for s in symbols})
    growth = closes / closes.iloc[0]
    return growth.mean(axis=1).pct_change().dropna().rename("buy and hold")


def _follow(
    handle: Any, timeout: float, progress: Callable[[SessionStatus], None] | None
) -> SessionStatus:
    deadline = time.monotonic() + timeout
    status = handle.status()
    while status.running:
        if progress is not None:
            progress(status)
        try:
            status = handle.wait(
                max(deadline - time.monotonic(), 0.0), cycles=(status.cycle or 0) + 1
            )
        except TimeoutError:
            status = handle.stop()
            raise DemoError(
                f"the paper session must end within {timeout:g} s, it did not ({status})"
            ) from None
    return status  # type: ignore[no-any-return]
