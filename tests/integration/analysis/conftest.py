"""A real short paper session (replay clock, the live runner in a subprocess), once per module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
STRATEGIES = REPO / "tests" / "integration" / "live" / "strategies.py"


def session_config(tmp: Path, **overrides) -> dict:
    config = {
        "session_id": "paper-report",
        "trader": "tester",
        "strategy_name": "rotate",
        "strategy": f"{STRATEGIES}:rotate",
        "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        "allocation": 10000,
        "leverage": 2,
        "rebalance_every": "15m",
        "trading_duration": "1h 30m",
        "finwatcher_interval": "5m",
        "workdir": str(tmp / "wd"),
        "results_database_url": f"sqlite:///{tmp / 'results.db'}",
        "alert_channel": "none",
        "strategy_time_limit": "2s",
        "clock": {"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 0},
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def paper_session(tmp_path_factory):
    """Run a 90-minute paper session to its end; return its session.yaml path."""
    tmp = tmp_path_factory.mktemp("paper-session")
    config = session_config(tmp)
    Path(config["workdir"]).mkdir(parents=True)
    path = Path(config["workdir"]) / "session.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "AIFAP_DATA_DIR": str(tmp / "data")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from aifap.cli import main; main()",
            "live",
            "run",
            "--direct",
            str(path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return path
