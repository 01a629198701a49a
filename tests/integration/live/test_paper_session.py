"""End to end: a paper session on the stepped replay clock (synthetic market)."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
from live_helpers import assert_no_duplicates, positions_json

pytestmark = pytest.mark.slow


def _weights(positions, prices, equity, leverage):
    return {s: (1 if size > 0 else -1) * abs(size) * prices[s] / leverage / equity
            for s, size in positions.items() if size}


def test_positions_follow_the_targets_every_cycle_and_finwatcher_rows_arrive(session_run):
    run = session_run()
    assert run.run() == 0, run.stderr
    journal = run.journal()
    cycles = journal.cycles()
    assert len(cycles) >= 5
    assert all(c.state == "done" for c in cycles), [(c.cycle, c.state, c.reason) for c in cycles]
    for before, after in itertools.pairwise(cycles):
        targets = {s: Decimal(t["weight"]) for s, t in json.loads(before.targets_json).items()}
        prices = {s: Decimal(p) for s, p in json.loads(before.prices_json).items()}
        held = positions_json(after.positions_before_json)
        weights = _weights(held, prices, before.equity, Decimal(2))
        for symbol in run.config["symbols"]:
            diff = abs(weights.get(symbol, Decimal(0)) - targets.get(symbol, Decimal(0)))
            assert diff <= Decimal("0.02"), (before.cycle, symbol, weights, targets)
    rows = __import__("aifap.watch.snapshots", fromlist=["x"]).SnapshotStore(
        journal.engine, "sess").rows()
    stamps = [r.ts_ms for r in rows]
    assert len(stamps) >= 18
    assert all(b - a == 300_000 for a, b in itertools.pairwise(stamps))
    assert rows[-1].pv > 0
    assert_no_duplicates(run)
    assert "c=3" in run.log()
    assert "session_id" not in run.log()


def test_strategy_that_raises_hangs_or_is_invalid_skips_cycles(session_run):
    run = session_run(strategy=session_run().config["strategy"].replace("rotate", "flaky"),
                      config_dict={"plan": ["raise", "ok", "hang", "ok", "invalid", "ok",
                                            "unknown", "ok"], "hang": 3},
                      trading_duration="2h 15m", strategy_time_limit="1s")
    assert run.run() == 0, run.stderr
    cycles = run.journal().cycles()
    states = [c.state for c in cycles]
    assert states.count("skipped") == 4, states
    reasons = " | ".join(c.reason or "" for c in cycles)
    assert "boom in the strategy" in reasons
    assert "must return within 1.0 s" in reasons
    assert "finite number" in reasons
    assert "DOGEUSDT" in reasons
    assert states.count("done") >= 4
    assert len(run.journal().events("strategy_failed")) == 4


def test_consecutive_strategy_failures_stop_the_session(session_run):
    run = session_run(strategy=session_run().config["strategy"].replace("rotate", "flaky"),
                      config_dict={"plan": ["raise"]}, max_strategy_failures=2)
    assert run.run() == 1
    row = run.journal().session_row()
    assert row.status == "failed"
    assert "2 cycles in a row" in row.reason
    [line] = run.stderr.splitlines()  # the strategy process's reason, on one line
    assert line == row.reason
    assert line.startswith("session sess (account paper:sess): strategy failed 2 cycles")


def test_a_second_session_on_the_same_account_and_symbols_is_refused(session_run, tmp_path):
    first = session_run(account="shared", trading_duration="720h 0m",
                        clock={"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 60})
    proc = first.start()
    try:
        import time

        for _ in range(600):
            if (first.workdir / "heartbeat.json").exists():
                break
            time.sleep(0.05)
        second = session_run(account="shared", session_id="other",
                             workdir=str(tmp_path / "wd2"), symbols=["ETHUSDT"])
        assert second.run() == 1
        [line] = second.stderr.splitlines()  # one line: session, account, cause, advice
        assert line.startswith("session other (account paper:shared): another session holds")
        assert "session 'sess' trades ETHUSDT" in line
        assert "Traceback" not in second.stderr
        assert "Traceback" in second.log()  # the session log keeps it
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_cli_status_and_logs_after_a_run(session_run, monkeypatch):
    from typer.testing import CliRunner

    from aifap.cli import app
    from aifap.settings import get_settings

    run = session_run(trading_duration="30m")
    assert run.run() == 0, run.stderr
    monkeypatch.setenv("AIFAP_RESULTS_DATABASE_URL", f"sqlite:///{run.db}")
    get_settings.cache_clear()
    runner = CliRunner()
    status = runner.invoke(app, ["live", "status", "sess", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)[0]["status"] == "stopped"
    logs = runner.invoke(app, ["live", "logs", "sess", "-n", "5"])
    assert logs.exit_code == 0
    assert "trading duration 30m ended" in logs.output
    stop = runner.invoke(app, ["live", "stop", "sess"])
    assert stop.exit_code == 0
