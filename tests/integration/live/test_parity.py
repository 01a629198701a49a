"""Research-to-live parity: a session's period replayed in the backtester, the gap explained.

A paper session on the built-in market (stepped replay clock) must match its replay
exactly; a demo session against the Bitget emulator with request latency, partial
fills and a stop loss that fires while it is down must have a gap whose six
components add up to it to the cent; a strategy that reads the wall clock or random
state is caught as "different targets" at the first cycle it does so.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from helpers.emulator_sessions import demo, drive
from live_helpers import STRATEGIES
from typer.testing import CliRunner

import aifap
from aifap.cli import app
from aifap.replay.decompose import CATEGORIES

pytestmark = pytest.mark.slow
CENT = Decimal("0.005")


def test_a_paper_session_matches_its_replay_to_the_cent_with_identical_targets(session_run):
    # 4 cycles of `rotate_flip`: opens, reductions, closes and long-short flips both ways
    run = session_run(strategy=f"{STRATEGIES}:rotate_flip", trading_duration="1h 15m")
    assert run.run() == 0, run.stderr
    config = run.write()
    flips = _flips(run.journal().orders())
    assert len(flips) == 4, flips  # ETH twice, BTC and SOL once: each sent both legs
    assert all(legs == {"close": ("filled", 1), "open": ("filled", 1)} for legs in flips.values())
    assert not run.journal().events("flip_skipped")

    report = aifap.parity(config)
    assert len(report.cycles) == 4
    assert all(row["session_state"] == "done" for row in report.cycles)
    assert all(row["same_prices"] for row in report.cycles)  # the bars the session saw
    assert report.identical_targets
    assert report.first_difference is None
    for row in report.cycles:  # every fill at the bar the backtest filled at
        assert row["legs"]
        for leg in row["legs"]:
            assert leg["filled_session"] == leg["filled_backtest"] != 0, row
            assert leg["price_session"] == leg["price_backtest"], row
    summary = report.summary()
    assert summary["pv_gap"] == 0.0
    assert summary["pv_session"] == summary["pv_backtest"] != float(run.config["allocation"])
    assert all(summary["components"][k] == 0.0 for k in CATEGORIES)
    assert summary["unexplained"] == 0.0
    assert summary["largest"] is None

    out = run.dir / "reports"
    result = CliRunner().invoke(app, ["parity", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("PV gap +0.00 (session ")
    assert lines[0].endswith("largest component: none (every component is 0.00)")
    written = json.loads((out / "sess_parity.json").read_text())
    assert written["pv_gap"] == 0.0
    assert len(written["cycle_rows"]) == 4
    page = (out / "sess_parity.html").read_text()
    assert "Parity: session sess" in page
    assert "The targets were identical at every boundary." in page
    assert "<script src=\"http" not in page


def _flips(orders) -> dict[tuple[int, str], dict[str, tuple[str, int]]]:
    """Return the (cycle, symbol) with a close and an open leg, each leg's status and sends."""
    legs: dict[tuple[int, str], dict[str, tuple[str, int]]] = {}
    for order in orders:
        legs.setdefault((order.cycle, order.symbol), {})[order.leg] = (order.status, order.sends)
    return {key: found for key, found in legs.items() if {"close", "open"} <= set(found)}


def test_a_spot_paper_session_matches_with_its_fees_in_the_base_coin(session_run):
    run = session_run(market="spot", leverage=1, strategy=f"{STRATEGIES}:spot_tour",
                      trading_duration="2h")  # fmt: skip
    assert run.run() == 0, run.stderr

    report = aifap.parity(run.write())
    assert report.identical_targets
    buys = [t for t in report.session.trades if t.qty > 0]
    assert buys
    assert all(t.fee_currency != "USDT" for t in buys)  # out of the coin received
    assert report.summary()["pv_gap"] == 0.0
    accounted = report.decomposition.pv
    assert abs(accounted["session"] - report.session.reported_pv) < CENT
    assert abs(accounted["backtest"] - report.replay.side.reported_pv) < CENT


def test_emulator_session_with_faults_components_add_up_to_the_gap(session_run):
    run = demo(session_run, strategy=f"{STRATEGIES}:guarded", trading_duration="45m")
    latency = {"how": "latency", "seconds": 0.05, "path": "/api/v2/mix/order/*"}
    first, second = drive(
        run,
        [
            {"faults": [latency], "partial_fills": [{"ratio": 0.4}]},
            {  # while the session is down BTC gaps through its stop loss
                "faults": [latency],
                "before": [{"price_factor": ["BTCUSDT", 0.9]}],
                "config": {"trading_duration": "1h 30m"},
            },
        ],
    )
    assert first["code"] == 0, run.log()[-3000:]
    assert second["code"] == 0, (second["reason"], run.log()[-3000:])

    report = aifap.parity("sess", db=run.config["results_database_url"])
    parts = report.components
    assert abs(sum(parts.values(), Decimal(0)) - report.gap) < CENT
    assert report.summary()["unexplained"] == 0.0
    # what happened is where it belongs
    stops = [t for t in report.session.trades if t.reason == "stop_loss"]
    assert stops, "the stop fired while the session was down"
    assert parts["execution"] < 0  # it filled far below the bar it fired in
    assert parts["timing"] != 0  # the rests of the partial fills, the exit before the cycle
    first_cycle = report.cycles[0]
    assert first_cycle["targets_equal"]
    ids = {cid for ids in report.session.cycles[first_cycle["time_ms"]].orders.values()
           for cid in ids}
    pieces = [t for t in report.session.trades if t.client_id in ids]
    assert len(pieces) == 2 * len(ids)  # 40 % at once, the rest a bar later
    missed = [r for r in report.cycles if r["session_state"] == "missing"]
    assert missed, "a boundary passed while the session was down"
    assert report.largest == "execution"
    assert min(first["slowest_order_s"], second["slowest_order_s"]) >= 0.05  # the latency


@pytest.mark.parametrize("source", ["clock", "random"])
def test_a_strategy_reading_the_clock_or_random_state_differs_at_that_cycle(session_run, source):
    run = session_run(strategy=f"{STRATEGIES}:clocked", trading_duration="1h 15m",
                      config_dict={"source": source, "from": 3})
    assert run.run() == 0, run.stderr

    report = aifap.parity(run.write())
    equal = [row["targets_equal"] for row in report.cycles]
    assert equal[:2] == [True, True]
    assert not equal[2]
    first = report.first_difference
    assert first is not None
    assert first["cycle"] == 3
    assert first["same_prices"]  # same bars: the strategy itself is not deterministic
    assert first["session"]["targets"]["BTCUSDT"] != first["backtest"]["targets"]["BTCUSDT"]
    assert first["session"]["targets"]["ETHUSDT"] == first["backtest"]["targets"]["ETHUSDT"]
    assert first["session"]["state"] == first["backtest"]["state"] == {"n": 3}
    assert report.summary()["cycles_with_different_targets"] == sum(not e for e in equal)
    assert report.components["targets"] != 0


def test_parity_of_a_session_that_never_ran_says_so(tmp_path):
    from aifap.db import migrate

    url = f"sqlite:///{tmp_path / 'results.db'}"
    migrate(url)
    runner = CliRunner()
    answer = runner.invoke(app, ["parity", "nosuch", "--db", url])
    assert answer.exit_code == 1
    assert "SESSION must have run (its results database has no session 'nosuch')" in str(
        answer.exception)
    empty = runner.invoke(app, ["parity", "nosuch", "--db", f"sqlite:///{tmp_path / 'e.db'}"])
    assert "must be reachable and hold the sessions' tables" in str(empty.exception)
