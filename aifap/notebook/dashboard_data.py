"""What the Voila dashboards show, read from the results database (SQLAlchemy).

Every number comes from rows the session and finwatcher wrote: the stat panels are
the newest ``watch_snapshots`` row's ROE, Sharpe (√365) and max drawdown, computed by
:mod:`aifap.core.metrics` when finwatcher took the snapshot; nothing is recomputed here.

Queries stay cheap on a month of per-minute snapshots: the (session_id, ts_ms) unique
index serves every snapshot query, :class:`EquityCache` fetches only the rows newer
than the ones it holds, and the PV series is downsampled
(:func:`aifap.core.downsample.downsample`) to at most
``max_points`` before it reaches the browser.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Double, Engine, cast, func, inspect, select

from aifap.core.downsample import MAX_POINTS, downsample
from aifap.live.heartbeat import read_heartbeat
from aifap.live.models import LiveEvent, LiveFill, LiveOrder, LiveSession
from aifap.replay.files import find_report
from aifap.watch.models import WatchPosition, WatchSnapshot

RECENT = 15
STALE_AFTER = 30.0  # wall seconds a running session's heartbeat may be old


@dataclass(frozen=True)
class SessionInfo:
    """A session's row in ``live_sessions`` (what the header shows)."""

    session_id: str
    trader: str
    strategy: str
    status: str
    exit_code: int | None
    reason: str | None
    initial_equity: float
    workdir: str
    mode: str | None = None
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True)
class Liveness:
    """The session's state as the dashboard shows it, with its heartbeat."""

    state: str  # not started, starting, running, stale, stopping, stopped, failed
    heartbeat_age: float | None = None  # wall seconds
    cycle: int | None = None
    sim_time: str | None = None


@dataclass(frozen=True)
class Stats:
    """The newest snapshot's metrics (finwatcher's values, fractions not percent)."""

    ts_ms: int
    pv: float
    roe: float
    sharpe: float | None
    max_drawdown: float
    balance: float
    unrealized_pnl: float
    funding_fees: float
    snapshot_id: int


@dataclass(frozen=True)
class PositionRow:
    """One open position of the newest snapshot."""

    symbol: str
    size: float
    entry_price: float
    mark_price: float
    leverage: float
    unrealized_pnl: float
    take_profit: float | None
    stop_loss: float | None

    @property
    def side(self) -> str:
        """Return ``long`` or ``short``."""
        return "long" if self.size > 0 else "short"

    @property
    def notional(self) -> float:
        """Return |size| × mark in USDT (linear contracts of size 1)."""
        return abs(self.size) * self.mark_price


@dataclass
class SessionView:
    """Everything the session dashboard draws at one refresh."""

    session_id: str
    info: SessionInfo | None
    liveness: Liveness
    stats: Stats | None
    snapshots: int
    equity: pd.Series
    positions: list[PositionRow] = field(default_factory=list)
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)
    fills: pd.DataFrame = field(default_factory=pd.DataFrame)
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)
    parity: dict[str, Any] | None = None  # the parity report in <workdir>/parity/, if any

    @property
    def empty(self) -> bool:
        """Tell whether finwatcher has written no snapshot yet."""
        return self.stats is None


def _f(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def has_results_tables(engine: Engine) -> bool:
    """Tell whether the results tables exist (a fresh database has none)."""
    names = set(inspect(engine).get_table_names())
    return {"live_sessions", "watch_snapshots"} <= names


def session_info(engine: Engine, session_id: str) -> SessionInfo | None:
    """Return the session's ``live_sessions`` row, or None before its first start."""
    with engine.connect() as db:
        row = db.execute(select(LiveSession).where(LiveSession.session_id == session_id)).first()
    return None if row is None else _info(row)


def _info(row: Any) -> SessionInfo:
    try:
        config = json.loads(row.config_json or "{}")
    except ValueError:
        config = {}
    return SessionInfo(
        session_id=row.session_id,
        trader=row.trader,
        strategy=row.strategy,
        status=row.status,
        exit_code=row.exit_code,
        reason=row.reason,
        initial_equity=float(row.initial_equity),
        workdir=row.workdir,
        mode=config.get("mode"),
        symbols=tuple(config.get("symbols") or ()),
    )


def liveness(
    info: SessionInfo | None, workdir: str | Path | None, stale_after: float = STALE_AFTER
) -> Liveness:
    """Return the session's state from its row and its ``heartbeat.json`` (when reachable).

    A session whose row says running but whose heartbeat is older than ``stale_after``
    wall seconds is ``stale``: it hangs or died without cleaning up.
    """
    folder = workdir or (info.workdir if info is not None else None)
    beat = read_heartbeat(Path(folder)) if folder else None
    beat = beat or {}
    age = time.time() - beat["wall_ms"] / 1000 if beat.get("wall_ms") else None
    cycle, sim_time = beat.get("cycle"), beat.get("sim_time")
    if info is None:
        state = "starting" if beat.get("status") == "running" else "not started"
    elif info.status in ("stopped", "failed"):
        state = info.status
    elif beat.get("status") in ("stopped", "failed"):
        state = "stopping"
    elif age is not None and age > stale_after:
        state = "stale"
    else:
        state = "running"
    return Liveness(state=state, heartbeat_age=age, cycle=cycle, sim_time=sim_time)


def latest_stats(engine: Engine, session_id: str) -> tuple[Stats | None, int]:
    """Return the newest snapshot's metrics and the number of snapshots."""
    where = WatchSnapshot.session_id == session_id
    with engine.connect() as db:
        count = db.scalar(select(func.count()).select_from(WatchSnapshot).where(where)) or 0
        row = db.execute(
            select(WatchSnapshot).where(where).order_by(WatchSnapshot.ts_ms.desc()).limit(1)
        ).first()
    if row is None:
        return None, 0
    snap = row
    return (
        Stats(
            ts_ms=snap.ts_ms,
            pv=float(snap.pv),
            roe=snap.roe,
            sharpe=snap.sharpe,
            max_drawdown=snap.max_drawdown,
            balance=float(snap.balance),
            unrealized_pnl=float(snap.unrealized_pnl),
            funding_fees=float(snap.funding_fees),
            snapshot_id=snap.id,
        ),
        count,
    )


def snapshot_positions(engine: Engine, snapshot_id: int) -> list[PositionRow]:
    """Return the open positions of one snapshot, largest notional first."""
    with engine.connect() as db:
        rows = db.execute(
            select(
                WatchPosition.symbol,
                WatchPosition.size,
                WatchPosition.entry_price,
                WatchPosition.mark_price,
                WatchPosition.leverage,
                WatchPosition.unrealized_pnl,
                WatchPosition.take_profit,
                WatchPosition.stop_loss,
            ).where(WatchPosition.snapshot_id == snapshot_id)
        ).all()
    positions = [
        PositionRow(
            symbol=r.symbol,
            size=float(r.size),
            entry_price=float(r.entry_price),
            mark_price=float(r.mark_price),
            leverage=float(r.leverage),
            unrealized_pnl=float(r.unrealized_pnl),
            take_profit=_f(r.take_profit),
            stop_loss=_f(r.stop_loss),
        )
        for r in rows
        if r.size != 0
    ]
    return sorted(positions, key=lambda p: (-p.notional, p.symbol))


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    data = [
        [float(v) if isinstance(v, Decimal) else v for v in (getattr(r, c) for c in columns)]
        for r in rows
    ]
    return pd.DataFrame(data, columns=columns)


def _times(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    if not frame.empty:
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


def recent_orders(engine: Engine, session_id: str, limit: int = RECENT) -> pd.DataFrame:
    """Return the newest journaled orders (newest first)."""
    columns = ["updated_ms", "cycle", "symbol", "side", "amount", "filled", "average_price",
               "status", "leg"]  # fmt: skip
    with engine.connect() as db:
        rows = db.execute(
            select(*(getattr(LiveOrder, c) for c in columns))
            .where(LiveOrder.session_id == session_id)
            .order_by(LiveOrder.updated_ms.desc(), LiveOrder.cycle.desc(), LiveOrder.seq.desc())
            .limit(limit)
        ).all()
    frame = _times(_frame(rows, columns), "updated_ms")
    return frame.rename(columns={"updated_ms": "time", "average_price": "avg price"})


def recent_fills(engine: Engine, session_id: str, limit: int = RECENT) -> pd.DataFrame:
    """Return the newest fills (newest first)."""
    columns = ["ts_ms", "symbol", "side", "amount", "price", "fee", "reason"]
    with engine.connect() as db:
        rows = db.execute(
            select(*(getattr(LiveFill, c) for c in columns))
            .where(LiveFill.session_id == session_id)
            .order_by(LiveFill.ts_ms.desc(), LiveFill.id.desc())
            .limit(limit)
        ).all()
    return _times(_frame(rows, columns), "ts_ms").rename(columns={"ts_ms": "time"})


def recent_alerts(engine: Engine, session_id: str, limit: int = RECENT) -> pd.DataFrame:
    """Return the newest alerts and events (newest first)."""
    columns = ["ts_ms", "level", "kind", "cycle", "message"]
    with engine.connect() as db:
        rows = db.execute(
            select(*(getattr(LiveEvent, c) for c in columns))
            .where(LiveEvent.session_id == session_id)
            .order_by(LiveEvent.id.desc())
            .limit(limit)
        ).all()
    return _times(_frame(rows, columns), "ts_ms").rename(columns={"ts_ms": "time"})


class EquityCache:
    """A session's PV observations, fetched incrementally (only rows newer than held)."""

    def __init__(self, engine: Engine, session_id: str) -> None:
        self.engine = engine
        self.session_id = session_id
        self.ts = np.empty(0, dtype="int64")
        self.pv = np.empty(0, dtype="float64")

    def update(self) -> int:
        """Fetch new observations; return how many arrived."""
        query = (
            select(WatchSnapshot.ts_ms, cast(WatchSnapshot.pv, Double))
            .where(WatchSnapshot.session_id == self.session_id)
            .order_by(WatchSnapshot.ts_ms)
        )
        if len(self.ts):
            query = query.where(WatchSnapshot.ts_ms > int(self.ts[-1]))
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        if rows:
            ts, pv = zip(*rows, strict=True)  # numpy on Row objects is ~30x slower
            self.ts = np.concatenate([self.ts, np.fromiter(ts, "int64", len(rows))])
            self.pv = np.concatenate([self.pv, np.fromiter(pv, "float64", len(rows))])
        return len(rows)

    def series(self, max_points: int = MAX_POINTS, window_ms: int | None = None) -> pd.Series:
        """Return the (downsampled) PV series, indexed by UTC time.

        Args:
            max_points: the most points returned.
            window_ms: only the last ``window_ms`` milliseconds before the newest
                observation (None: all of it), downsampled on its own, so a short
                window shows its detail.
        """
        ts, pv = self.ts, self.pv
        if window_ms is not None and len(ts):
            first = int(np.searchsorted(ts, int(ts[-1]) - window_ms, side="left"))
            ts, pv = ts[first:], pv[first:]
        keep = downsample(ts, pv, max_points)
        index = pd.to_datetime(ts[keep], unit="ms", utc=True)
        return pd.Series(pv[keep], index=index, name="pv", dtype="float64")


class SessionSource:
    """Read one session's dashboard data; keeps its PV series between refreshes.

    Args:
        engine: the results database.
        session_id: the session.
        workdir: the session's working directory (for its heartbeat); default: the one
            recorded in ``live_sessions``.
        max_points: the most PV points the chart gets.
        recent: how many orders, fills and alerts the tables list.
        window_ms: the PV chart's time range, the last ``window_ms`` milliseconds
            (None: the whole session); the dashboard's range buttons set it.
    """

    def __init__(
        self,
        engine: Engine,
        session_id: str,
        *,
        workdir: str | Path | None = None,
        max_points: int = MAX_POINTS,
        recent: int = RECENT,
        window_ms: int | None = None,
    ) -> None:
        self.engine = engine
        self.window_ms = window_ms
        self.session_id = session_id
        self.workdir = workdir
        self.max_points = max_points
        self.recent = recent
        self.equity = EquityCache(engine, session_id)
        self._tables = False

    def equity_series(self) -> pd.Series:
        """Return the held PV series of the chosen range, downsampled (no query)."""
        return self.equity.series(self.max_points, self.window_ms)

    def load(self) -> SessionView:
        """Return the session's current view."""
        if not self._tables:
            self._tables = has_results_tables(self.engine)
        if not self._tables:
            empty = pd.Series(dtype="float64", name="pv")
            return SessionView(self.session_id, None, liveness(None, self.workdir), None, 0, empty)
        info = session_info(self.engine, self.session_id)
        stats, count = latest_stats(self.engine, self.session_id)
        if count < len(self.equity.ts):  # rows were deleted: start over
            self.equity = EquityCache(self.engine, self.session_id)
        self.equity.update()
        return SessionView(
            session_id=self.session_id,
            info=info,
            liveness=liveness(info, self.workdir),
            stats=stats,
            snapshots=count,
            equity=self.equity_series(),
            positions=snapshot_positions(self.engine, stats.snapshot_id) if stats else [],
            orders=recent_orders(self.engine, self.session_id, self.recent),
            fills=recent_fills(self.engine, self.session_id, self.recent),
            alerts=recent_alerts(self.engine, self.session_id, self.recent),
            parity=find_report(self.workdir or (info.workdir if info else None), self.session_id),
        )


@dataclass(frozen=True)
class FleetRow:
    """One session in the fleet view."""

    session_id: str
    strategy: str
    trader: str
    state: str
    heartbeat_age: float | None
    pv: float | None
    roe: float | None
    max_drawdown: float | None
    sharpe: float | None
    last_ms: int | None
    spark: tuple[float, ...]

    def sort_value(self, key: str) -> Any:
        """Return the value sorted on for ``key`` (missing values sort last)."""
        value = getattr(self, key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0)
        return (0, value)


def fleet(engine: Engine, spark_points: int = 60) -> list[FleetRow]:
    """Return every session in the results database with its newest metrics and sparkline."""
    if not has_results_tables(engine):
        return []
    with engine.connect() as db:
        sessions = [_info(r) for r in db.execute(select(LiveSession)).all()]
        spans = {
            r.session_id: (r.lo, r.hi)
            for r in db.execute(
                select(
                    WatchSnapshot.session_id,
                    func.min(WatchSnapshot.ts_ms).label("lo"),
                    func.max(WatchSnapshot.ts_ms).label("hi"),
                ).group_by(WatchSnapshot.session_id)
            )
        }
        rows = []
        for info in sessions:
            lo, hi = spans.get(info.session_id, (None, None))
            stats, spark = None, tuple[float, ...]()
            if hi is not None:
                stats = db.execute(
                    select(WatchSnapshot).where(
                        WatchSnapshot.session_id == info.session_id, WatchSnapshot.ts_ms == hi
                    )
                ).one()
                width = max(1, (hi - lo) // spark_points + 1)
                bucket = (WatchSnapshot.ts_ms - lo) // width
                spark = tuple(
                    float(v)
                    for (v,) in db.execute(
                        select(func.avg(cast(WatchSnapshot.pv, Double)))
                        .where(WatchSnapshot.session_id == info.session_id)
                        .group_by(bucket)
                        .order_by(bucket)
                    )
                )
            live = liveness(info, None)
            rows.append(
                FleetRow(
                    session_id=info.session_id,
                    strategy=info.strategy,
                    trader=info.trader,
                    state=live.state,
                    heartbeat_age=live.heartbeat_age,
                    pv=_f(stats.pv) if stats else None,
                    roe=stats.roe if stats else None,
                    max_drawdown=stats.max_drawdown if stats else None,
                    sharpe=stats.sharpe if stats else None,
                    last_ms=hi,
                    spark=spark,
                )
            )
    return rows
