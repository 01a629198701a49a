"""The CronJobs' liveness probe: their command touches the file the probe reads.

The probe's own shell command is run here against a fresh, a stale and a missing
file; a collector run against the emulator touches the file the pod's env names.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers.kube import pod_spec, render

from aifap.core.markets import MarketType
from aifap.data.collector import collect
from aifap.exchange.ccxt.market_data import PublicMarketData
from aifap.exchange.emulator import DEFAULT_MARKETS, BitgetEmulator, ManualClock, SyntheticBars
from aifap.liveness import ENV
from aifap.retry import RetryPolicy


def _cronjob_containers() -> list[tuple[str, dict[str, Any]]]:
    return [
        (obj["metadata"]["name"], container)
        for obj in render("dev")
        if obj["kind"] == "CronJob"
        for container in pod_spec(obj)["spec"]["containers"]
    ]


def _liveness_path(container: dict[str, Any]) -> str:
    [path] = [e["value"] for e in container.get("env", []) if e["name"] == ENV]
    return str(path)


def _probe(container: dict[str, Any], path: Path) -> int:
    """Run the container's probe command with its liveness file moved to ``path``."""
    command = [part.replace(_liveness_path(container), str(path))
               for part in container["livenessProbe"]["exec"]["command"]]
    return subprocess.run(command, check=False, capture_output=True).returncode


@pytest.mark.parametrize("name", [name for name, _ in _cronjob_containers()])
def test_the_probe_passes_on_a_fresh_file_only(name: str, tmp_path: Path) -> None:
    [container] = [c for n, c in _cronjob_containers() if n == name]
    path = _liveness_path(container)
    assert path in " ".join(container["livenessProbe"]["exec"]["command"])
    file = tmp_path / "liveness"
    assert _probe(container, file) != 0  # none: the command never started
    file.touch()
    assert _probe(container, file) == 0
    old = time.time() - 3600
    os.utime(file, (old, old))
    assert _probe(container, file) != 0  # an hour without progress


def test_a_collector_run_touches_the_liveness_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "probe" / "liveness"
    monkeypatch.setenv(ENV, str(file))
    bars = SyntheticBars({m.symbol: float(m.fallback_price) for m in DEFAULT_MARKETS})
    with BitgetEmulator(bars, clock=ManualClock("2026-01-01T06:00:30Z")) as emu:
        client = PublicMarketData(
            "bitget", MarketType.FUTURES, api_url=emu.url, timeout_ms=1000,
            policy=RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.02),
        )
        began = time.time()
        report = collect(
            f"sqlite:///{tmp_path / 'market.db'}", client=client, exchange="bitget",
            market="futures", symbols=["BTCUSDT"], since=datetime(2026, 1, 1, tzinfo=UTC),
            funding=False, progress=False,
        )
    assert report.results[0].new_bars == 360
    assert file.stat().st_mtime >= began - 1
