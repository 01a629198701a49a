"""Helpers of the papermill runner and promotion tests: small paper sessions on a replay clock."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Any

import psutil


def session_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Return a small paper session's config: three symbols, stepped replay, SQLite."""
    config: dict[str, Any] = {
        "session_id": "nb", "trader": "tester", "strategy_name": "steady",
        "strategy": f"{Path(__file__).parent / 'nb_strategies.py'}:steady",
        "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "allocation": 1000,
        "rebalance_every": "15m", "trading_duration": "2h", "finwatcher_interval": "15m",
        "workdir": str(tmp_path / "wd"), "results_database_url": f"sqlite:///{tmp_path / 'r.db'}",
        "alert_channel": "none",
        "clock": {"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 0},
    }
    config.update(overrides)
    return config


def wait_for_running(workdir: Path, timeout: float = 180.0) -> dict[str, Any]:
    """Wait until the session's heartbeat says running; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            beat = json.loads((workdir / "heartbeat.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            beat = {}
        if beat.get("status") == "running" and all((beat.get("pids") or {}).values()):
            return beat
        time.sleep(0.1)
    raise AssertionError(f"the session in {workdir} never reported running")


def gone(pids: list[int], timeout: float = 30.0) -> bool:
    """Tell whether every pid ended (zombies count as ended) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def kill_all(pids: list[int]) -> None:
    """SIGKILL whatever is left (cleanup after a failed assertion)."""
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(signal.SIGKILL)
