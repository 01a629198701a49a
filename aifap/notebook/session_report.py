"""What a session did: its summary (status, cycles, orders, metrics) and its returns report.

Everything is read from the results database (``live_*`` and ``watch_*`` tables) and
the session's working directory, so the live template's last cell, the promotion
handle and ``aifap demo`` show the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from aifap.live.config import SessionConfig, load_config
from aifap.live.heartbeat import read_heartbeat
from aifap.live.logs import LOG_NAME


def _journal(config: SessionConfig) -> Any:
    from aifap.db import make_engine, migrate
    from aifap.live.journal import Journal

    url = config.results_url()
    migrate(url)
    return Journal(make_engine(url), config.id)


def session_equity(config: SessionConfig) -> pd.Series:
    """Return finwatcher's PV observations (session clock, UTC index), oldest first."""
    from aifap.watch.snapshots import SnapshotStore

    history = SnapshotStore(_journal(config).engine, config.id).history()
    if not history:
        return pd.Series(dtype="float64", name="pv")
    index = pd.DatetimeIndex([t for t, _ in history])
    return pd.Series([v for _, v in history], index=index, dtype="float64", name="pv")


def session_returns(config: SessionConfig) -> pd.Series:
    """Return the simple returns between finwatcher snapshots (from the allocation on)."""
    equity = session_equity(config)
    if equity.empty:
        return pd.Series(dtype="float64", name="returns")
    start = pd.Series([float(config.allocation)], index=[equity.index[0] - pd.Timedelta(1, "ms")])
    returns = pd.concat([start, equity]).pct_change().dropna()
    return returns.rename("returns")


def session_summary(config: SessionConfig | str | Path) -> pd.Series:
    """Return the session's summary: status, cycles, orders, fills and finwatcher's metrics.

    Args:
        config: the session's config, its ``session.yaml`` or its working directory.
    """
    if not isinstance(config, SessionConfig):
        config = load_config(config)
    journal = _journal(config)
    row = journal.session_row()
    cycles = journal.cycles()
    states = pd.Series([c.state for c in cycles], dtype="object").value_counts()
    orders = journal.orders()
    beat = read_heartbeat(config.working_directory) or {}
    from aifap.watch.snapshots import SnapshotStore

    snapshots = SnapshotStore(journal.engine, config.id).rows()
    last = snapshots[-1] if snapshots else None
    data: dict[str, Any] = {
        "session": config.id,
        "strategy": f"{config.strategy_name} ({config.strategy_version or 'unversioned'})",
        "mode": f"{config.mode} on {config.exchange} {config.market.value}",
        "status": row.status if row is not None else "not started",
        "exit code": row.exit_code if row is not None else None,
        "reason": row.reason if row is not None else None,
        "runs": row.runs if row is not None else 0,
        "simulated time": beat.get("sim_time"),
        "cycles": len(cycles),
        "cycles done": int(states.get("done", 0)),
        "cycles skipped": int(states.get("skipped", 0)),
        "cycles failed": int(states.get("failed", 0)),
        "orders": len(orders),
        "orders filled": sum(1 for o in orders if o.status == "filled"),
        "fills": len(journal.fills()),
        "snapshots": len(snapshots),
        "PV": float(last.pv) if last is not None else None,
        "ROE": last.roe if last is not None else None,
        "Sharpe": last.sharpe if last is not None else None,
        "max drawdown": last.max_drawdown if last is not None else None,
        "funding fees": float(last.funding_fees) if last is not None else None,
        "log": str(config.working_directory / LOG_NAME),
    }
    return pd.Series(data, dtype="object", name="value")


def write_returns_report(config: SessionConfig, path: str | Path) -> Path:
    """Write the session's returns report (a tear sheet of finwatcher's PV) to ``path``.

    Raises:
        ValueError: the session has no finwatcher snapshots yet.
    """
    from aifap.analysis.tearsheet import create_tear_sheet

    returns = session_returns(config)
    if returns.empty:
        raise ValueError(
            f"session {config.id} must have finwatcher snapshots for a returns report, it has none"
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    create_tear_sheet(
        returns, output=out, title=f"AIFAP {config.mode} session {config.id}: returns"
    )
    return out
