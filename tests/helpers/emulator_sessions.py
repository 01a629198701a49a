"""Demo sessions driven against the in-process Bitget emulator (``emulator_driver.py``).

``demo(session_run, **overrides)`` builds a demo-mode session on the ``session_run``
fixture of ``tests/integration/live``; ``drive(run, runs)`` runs it through the driver
in a subprocess and returns each run's exchange and journal state;
``assert_book_matches_journal`` checks the exchange's positions against the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
DRIVER = TESTS / "integration" / "live" / "emulator_driver.py"


# the session's own ccxt gateway, or the gateway service (``aifap serve gateway``)
GATEWAYS = pytest.mark.parametrize("gateway", ["ccxt", "remote"])


def demo(session_run: Any, gateway: str = "ccxt", **overrides: Any) -> Any:
    """Return a ``SessionRun`` of a demo session on Bitget with the driver's keys.

    With ``gateway="remote"`` the session has no keys: the driver points it at a gateway
    service that holds them.
    """
    settings = {
        "exchange": "bitget",
        "mode": "demo",
        "strategy": session_run().config["strategy"],
        "credentials": {"api_key": "demo-key", "secret": "demo-secret", "password": "demo-pass"},
        "trading_duration": "1h 30m",
        **overrides,
    }
    if gateway == "remote":
        del settings["credentials"]
    run = session_run(**settings)
    run.gateway = gateway
    return run


def drive(run: Any, runs: list[dict[str, Any]], timeout: float = 300) -> list[dict]:
    """Run the session once per entry of ``runs`` against one emulator; return each state."""
    out = run.dir / "emulator.json"
    spec = run.dir / "driver.json"
    gateway = getattr(run, "gateway", "ccxt")
    spec.write_text(
        json.dumps({"config": run.config, "runs": runs, "out": str(out), "gateway": gateway})
    )
    # a worktree's code (not the installed checkout's), and the tests' helpers
    paths = [os.environ.get("PYTHONPATH", ""), str(TESTS)]
    env = {
        "AIFAP_DATA_DIR": str(run.dir / "data"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
    }
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-4000:]
    return json.loads(out.read_text())


def assert_book_matches_journal(run: Any, state: dict[str, Any]) -> None:
    """The exchange holds what the journal expects, and no cycle is left unfinished."""
    from aifap.live.recovery import expected_book

    journal = run.journal()
    expected = expected_book(journal, journal.session_row())
    actual = {s: Decimal(v) for s, v in state["positions"].items()}
    assert expected == actual
    assert all(c.state in ("done", "skipped") for c in journal.cycles())
