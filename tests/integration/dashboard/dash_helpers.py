"""Helpers of the dashboard tests: a paper session, finwatcher rows, Voila and Chromium."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from aifap.core import metrics
from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot
from aifap.db import make_engine, migrate
from aifap.live.clock import from_ms
from aifap.live.journal import Journal
from aifap.watch.snapshots import SnapshotStore

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[3]
STRATEGIES = REPO / "tests" / "integration" / "live" / "strategies.py"
RENDER_TIMEOUT_MS = 180_000  # two shared cores: a first Voila render can take tens of seconds



def paper_session(folder: Path, session_id: str = "dash") -> dict[str, Any]:
    """Run a short paper session (replay clock, real finwatcher) with its config in its workdir."""
    workdir = folder / "wd"
    workdir.mkdir(parents=True)
    config = {
        "session_id": session_id, "trader": "tester", "strategy_name": "rotate",
        "strategy": f"{STRATEGIES}:rotate", "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        "allocation": 10000, "leverage": 2, "rebalance_every": "15m",
        "trading_duration": "1h 30m", "finwatcher_interval": "5m",
        "workdir": str(workdir), "results_database_url": f"sqlite:///{folder / 'results.db'}",
        "alert_channel": "none", "strategy_time_limit": "5s",
        "clock": {"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 0},
    }  # fmt: skip
    path = workdir / "session.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "AIFAP_DATA_DIR": str(folder / "data")}
    run = subprocess.run(
        [sys.executable, "-c", "from aifap.cli import main; main()", "live", "run", "--direct",
         str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return {**config, "config_path": path, "url": config["results_database_url"]}


def copy_db(url: str, folder: Path) -> str:
    """Copy a SQLite results database (WAL included) and return the copy's URL."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "results.db"
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return f"sqlite:///{target}"


def equity(url: str, session_id: str) -> pd.Series:
    """Return finwatcher's PV series of a session."""
    rows = SnapshotStore(make_engine(url, fresh=True), session_id).history()
    return pd.Series([v for _, v in rows], index=pd.DatetimeIndex([t for t, _ in rows]))


def add_snapshot(
    url: str, session_id: str, pv: float, initial: float, positions: tuple[Position, ...] = ()
) -> Snapshot:
    """Store the next snapshot (5 minutes after the last) through finwatcher's store.

    Its metrics come from the core over the whole PV series, as finwatcher computes them.
    """
    migrate(url)
    engine = make_engine(url, fresh=True)
    store = SnapshotStore(engine, session_id)
    history = store.history()
    when = history[-1][0] + timedelta(minutes=5) if history else from_ms(1_718_841_600_000)
    series = pd.Series(
        [v for _, v in history] + [pv], index=pd.DatetimeIndex([t for t, _ in history] + [when])
    )
    balance = Decimal(str(pv)) - metrics.unrealized_pnl(positions)
    snapshot = Snapshot(
        session_id=session_id, timestamp=when, balance=balance, positions=positions,
        pv=Decimal(str(pv)), roe=metrics.roe(pv, initial),
        unrealized_pnl=metrics.unrealized_pnl(positions),
        sharpe=metrics.sharpe_ratio(metrics.daily_returns(series, initial=initial)),
        max_drawdown=metrics.max_drawdown(series), funding_fees=Decimal(0),
    )  # fmt: skip
    assert store.save(snapshot, when)
    return snapshot


def journal(url: str, session_id: str) -> Journal:
    return Journal(make_engine(url, fresh=True), session_id)


def wait_rendered(page: Any, charts: int, timeout_ms: int = RENDER_TIMEOUT_MS) -> float:
    """Wait until the dashboard's widgets and ``charts`` SVG charts are drawn; return seconds."""
    start = time.monotonic()
    page.wait_for_selector(".aifap-dash", timeout=timeout_ms)
    page.wait_for_function(
        "n => document.querySelectorAll('svg.aifap-chart').length >= n", arg=charts,
        timeout=timeout_ms,
    )  # fmt: skip
    return time.monotonic() - start


def chart_data(page: Any, card: str) -> dict[str, Any]:
    """Return what the chart in the card with class ``card`` drew: its points or labels/values."""
    return page.evaluate(
        f"""() => {{
            const svg = document.querySelector('.{card} svg.aifap-chart');
            const marks = [...svg.querySelectorAll('[data-label]')];
            return {{points: Number(svg.dataset.points),
                     first: svg.dataset.first === undefined ? null : Number(svg.dataset.first),
                     last: svg.dataset.last === undefined ? null : Number(svg.dataset.last),
                     labels: marks.map(m => m.dataset.label),
                     values: marks.map(m => Number(m.dataset.value)),
                     hover: [...svg.querySelectorAll('.aifap-hit title')].map(t => t.textContent)}};
        }}"""
    )


def stat(page: Any, key: str) -> tuple[str, str]:
    """Return a stat panel's raw value and its shown text."""
    panel = page.locator(f'.aifap-stat[data-key="{key}"]')
    return panel.get_attribute("data-value"), panel.locator(".aifap-stat-value").inner_text()
