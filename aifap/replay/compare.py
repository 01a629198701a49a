"""Cycle by cycle: targets, planned orders, fills against the replay's, fees, PV.

One row per schedule boundary either side rebalanced at, and the first boundary where
the targets differ with what each side's strategy decided on, side by side (the closes,
the equity, the weights it held, ``context.state`` after the call).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aifap.core.timeconv import from_ms
from aifap.replay.records import ZERO, CycleView, SideView, Trade, same_target, targets_json

PROBLEM_STATES = ("rejected", "canceled", "missing", "skipped", "intended", "open")


def targets_equal(live: CycleView | None, bt: CycleView | None) -> bool:
    """Tell whether both sides ran the cycle and decided the same targets."""
    if live is None or bt is None or not live.ran or not bt.ran:
        return False
    if (live.error is None) != (bt.error is None):
        return False
    if live.targets is None or bt.targets is None:
        return live.targets is None and bt.targets is None
    symbols = set(live.targets) | set(bt.targets)
    return all(same_target(live.targets.get(s), bt.targets.get(s)) for s in symbols)


def _fills_by_cycle(side: SideView) -> dict[int, list[Trade]]:
    owner = {
        cid: view.time_ms
        for view in side.cycles.values()
        for ids in view.orders.values()
        for cid in ids
    }
    out: dict[int, list[Trade]] = {}
    for trade in side.trades:
        when = owner.get(trade.client_id or "")
        if when is not None:
            out.setdefault(when, []).append(trade)
    return out


def _avg(trades: list[Trade], symbol: str) -> tuple[Decimal, Decimal | None]:
    mine = [t for t in trades if t.symbol == symbol]
    qty = sum((t.qty for t in mine), ZERO)
    size = sum((abs(t.qty) for t in mine), ZERO)
    if size == 0:
        return qty, None
    return qty, sum((abs(t.qty) * t.price for t in mine), ZERO) / size


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def cycle_rows(session: SideView, replay: SideView) -> list[dict[str, Any]]:
    """Return one row per boundary: what each side decided, planned, filled and paid."""
    live_fills, bt_fills = _fills_by_cycle(session), _fills_by_cycle(replay)
    rows = []
    for time_ms in sorted(set(session.cycles) | set(replay.cycles)):
        live, bt = session.cycles.get(time_ms), replay.cycles.get(time_ms)
        lf, bf = live_fills.get(time_ms, []), bt_fills.get(time_ms, [])
        states = list(live.order_states.values()) if live else []
        symbols = sorted(set(live.planned if live else ()) | set(bt.planned if bt else ()))
        legs = []
        for symbol in symbols:
            lq, lp = _avg(lf, symbol)
            bq, bp = _avg(bf, symbol)
            legs.append(
                {
                    "symbol": symbol,
                    "planned_session": _num(live.planned.get(symbol) if live else None),
                    "planned_backtest": _num(bt.planned.get(symbol) if bt else None),
                    "filled_session": float(lq),
                    "filled_backtest": float(bq),
                    "price_session": _num(lp),
                    "price_backtest": _num(bp),
                    "price_diff": None if lp is None or bp is None else float(lp - bp),
                }
            )
        rows.append(
            {
                "time": from_ms(time_ms).isoformat(),
                "time_ms": time_ms,
                "cycle": live.number if live else None,
                "session_state": live.status if live else "missing",
                "session_reason": live.reason if live else None,
                "backtest_ran": bt is not None,
                "targets_equal": targets_equal(live, bt),
                "same_prices": None
                if live is None or bt is None or not live.prices
                else _same_prices(live.prices, bt.prices),
                "targets_session": targets_json(live.targets) if live else None,
                "targets_backtest": targets_json(bt.targets) if bt else None,
                "orders_planned": len(states),
                "orders_filled": states.count("filled"),
                "orders_partial": states.count("partially_filled"),
                "orders_problem": sum(states.count(s) for s in PROBLEM_STATES),
                "legs": legs,
                "fees_session": float(sum((t.fee for t in lf), ZERO)),
                "fees_backtest": float(sum((t.fee for t in bf), ZERO)),
                "equity_session": _num(live.equity if live else None),
                "equity_backtest": _num(bt.equity if bt else None),
            }
        )
    return rows


def _inputs(view: CycleView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {
        "ran": view.ran,
        "error": view.error,
        "targets": targets_json(view.targets),
        "prices": {k: float(v) for k, v in sorted(view.prices.items())},
        "equity": _num(view.equity),
        "weights": {k: float(v) for k, v in sorted(view.weights.items())},
        "state": view.state,
    }


def first_difference(
    session: SideView, replay: SideView, rows: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Return the first boundary where the targets differ, with both sides' inputs."""
    for row in rows:
        live = session.cycles.get(row["time_ms"])
        if live is None or not live.ran or row["targets_equal"]:
            continue  # a cycle the session never ran is an order not placed, not a target
        bt = replay.cycles.get(row["time_ms"])
        return {
            "time": row["time"],
            "cycle": row["cycle"],
            "session": _inputs(live),
            "backtest": _inputs(bt),
            "same_prices": bt is not None and _same_prices(live.prices, bt.prices),
        }
    return None


def _same_prices(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> bool:
    return all(a.get(k) == b.get(k) for k in set(a) & set(b))
