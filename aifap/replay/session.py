"""The session's side: what its journal and finwatcher recorded, as a :class:`SideView`.

Read from the results database: the cycles (boundary, targets, plan, prices, equity,
``context.state``), the orders (planned amount, final state), the session's own fills
(rebalances and its SL/TP executions; hand trades are not the session's), and
finwatcher's snapshots (the PV path and the funding paid).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from aifap.core.errors import ConfigError
from aifap.core.markets import MarketSpec
from aifap.db import make_engine
from aifap.live.codec import targets_from_dict
from aifap.live.config import SessionConfig, SessionRef, make_config
from aifap.live.journal import Journal
from aifap.live.models import LiveCycle, LiveOrder
from aifap.redaction import redact_url
from aifap.replay.records import ZERO, CycleView, SideView, Trade
from aifap.watch.snapshots import SnapshotStore

RAN_STATES = frozenset({"planned", "executing", "done"})


@dataclass(frozen=True, slots=True)
class SessionPeriod:
    """The session's config and the span it traded (session clock, epoch ms)."""

    config: SessionConfig
    start_ms: int
    end_ms: int
    workdir: Path | None = None


def session_period(ref: SessionRef) -> tuple[SessionPeriod, Journal]:
    """Return the session's config, period and journal; raise ConfigError if it never ran."""
    journal = Journal(make_engine(ref.url), ref.session_id)
    try:
        row = journal.session_row()
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"SESSION's results database must be reachable and hold the sessions' tables, "
            f"was {redact_url(ref.url)} ({type(getattr(exc, 'orig', None) or exc).__name__})"
        ) from None
    if row is None:
        raise ConfigError(
            f"SESSION must have run (its results database has no session {ref.session_id!r})"
        )
    config = ref.config if ref.config is not None else make_config(json.loads(row.config_json))
    end = row.stopped_ms if row.stopped_ms is not None else row.clock_ms
    workdir = Path(row.workdir) if row.workdir else None
    return SessionPeriod(config, row.started_ms, end, workdir), journal


def _cycle(
    row: LiveCycle, failed: set[int], orders: list[LiveOrder], cs: dict[str, Decimal]
) -> CycleView:
    strategy_failed = row.cycle in failed
    ran = row.state in RAN_STATES or strategy_failed
    view = CycleView(
        time_ms=row.scheduled_ms,
        ran=ran,
        targets=targets_from_dict(json.loads(row.targets_json)) if row.targets_json else None,
        error=row.reason if strategy_failed else None,
        equity=row.equity,
        prices={k: Decimal(v) for k, v in json.loads(row.prices_json or "{}").items()},
        state=json.loads(row.state_json) if row.state_json else None,
        number=row.cycle,
        status=row.state,
        reason=row.reason,
    )
    if row.plan_json:
        plan = json.loads(row.plan_json)
        view.weights = {k: Decimal(v) for k, v in plan.get("current_weights", {}).items()}
    for order in orders:
        signed = order.amount if order.side == "buy" else -order.amount
        view.planned[order.symbol] = view.planned.get(order.symbol, ZERO) + signed * cs.get(
            order.symbol, Decimal(1)
        )
        view.orders.setdefault(order.symbol, []).append(order.client_id)
        view.order_states[order.client_id] = order.status
    return view


def read_session(
    period: SessionPeriod, journal: Journal, markets: Mapping[str, MarketSpec]
) -> SideView:
    """Return what the session did, from its journal and finwatcher's snapshots."""
    cs = {s: m.contract_size for s, m in markets.items()}
    failed = {e.cycle for e in journal.events("strategy_failed") if e.cycle is not None}
    by_cycle: dict[int, list[LiveOrder]] = {}
    for order in journal.orders():
        by_cycle.setdefault(order.cycle, []).append(order)
    cycles: dict[int, CycleView] = {}
    for row in journal.cycles():
        view = _cycle(row, failed, by_cycle.get(row.cycle, []), cs)
        cycles.setdefault(view.time_ms, view)  # a boundary's first cycle is the one it ran
    trades = [
        Trade(
            ts_ms=f.ts_ms,
            symbol=f.symbol,
            qty=(f.amount if f.side == "buy" else -f.amount) * cs.get(f.symbol, Decimal(1)),
            price=f.price,
            fee=f.fee,
            fee_currency=f.fee_currency,
            reason=f.reason,
            client_id=f.client_id,
        )
        for f in journal.fills()
        if f.ours
    ]
    rows = SnapshotStore(journal.engine, journal.session_id).rows()
    rows = [r for r in rows if r.ts_ms <= period.end_ms]
    funding = rows[-1].funding_fees if rows else ZERO
    initial = period.config.allocation
    reported = rows[-1].pv if rows else initial
    return SideView(
        name="session",
        cycles=cycles,
        trades=trades,
        funding_paid=funding,
        reported_pv=reported,
        pv_path=[(r.ts_ms, float(r.pv)) for r in rows],
    )
