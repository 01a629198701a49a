"""``aifap demo``: the whole research-to-paper path on one machine, no servers, no network.

1. backtest ``strategies/momentum.py`` on the built-in synthetic market and write its
   tear sheet (and results);
2. promote it to a paper session on the accelerated replay clock (SQLite, the local
   launcher: papermill runs the live template as a watched local process);
3. let it trade for ``days`` simulated days;
4. write the paper session's returns report (a tear sheet of finwatcher's PV).

Everything goes under one output directory; :class:`DemoResult` says where.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aifap.core.errors import AifapError
from aifap.deploy.base import SessionStatus

STRATEGY = Path(__file__).resolve().parents[2] / "strategies" / "momentum.py"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
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
    days: float = 1.0,
    symbols: Sequence[str] = SYMBOLS,
    speed: float = 0.0,
    rebalance_every: str = "15m",
    backtest_days: float = 7.0,
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
        allocation: the capital of backtest and session.
        timeout: wall seconds the session may take before it is stopped.
        progress: called with the session's status about once a second.

    Raises:
        DemoError: the session failed or did not end within ``timeout``.
    """
    import aifap
    from aifap.data.synthetic import SyntheticMarket
    from aifap.live import load_config
    from aifap.notebook.promote import CONFIG_NAME
    from aifap.notebook.session_report import session_summary, write_returns_report

    if days <= 0:
        raise DemoError(f"days must be > 0, was {days}")
    root = Path(out).resolve()
    _clean(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by aifap demo\n", encoding="utf-8")
    result = DemoResult(out=root)
    config = {"symbols": list(symbols)}

    backtest = aifap.backtest(
        str(STRATEGY),
        SyntheticMarket(symbols, days=backtest_days),
        capital=allocation,
        rebalance_every=rebalance_every,
        config=config,
        progress=False,
    )
    result.backtest_metrics = dict(backtest.metrics)
    result.paths["backtest results"] = backtest.save(root / "backtest")
    result.paths["backtest tear sheet"] = Path(
        backtest.tear_sheet(root / "backtest" / "tear_sheet.html")
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
        finwatcher_interval="15m",
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


def _follow(
    handle: Any, timeout: float, progress: Callable[[SessionStatus], None] | None
) -> SessionStatus:
    deadline = time.monotonic() + timeout
    status = handle.status()
    while status.running:
        if time.monotonic() > deadline:
            status = handle.stop()
            raise DemoError(
                f"the paper session must end within {timeout:g} s, it did not ({status})"
            )
        if progress is not None:
            progress(status)
        time.sleep(1.0)
        status = handle.status()
    return status
