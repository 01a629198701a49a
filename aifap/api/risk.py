"""Risk: a manager's limits checked against its traders' finwatcher snapshots; halt-all.

The finwatchers write a snapshot (PV, positions at mark) per interval into the results
database; :class:`RiskMonitor` sums a manager's traders' latest snapshots:

- drawdown = 1 − Σ latest PV / Σ peak PV (each session's peak: a conservative bound of
  the combined peak), against ``max_drawdown``;
- gross exposure = Σ |size| × mark price of the latest snapshots' positions, against
  ``max_gross_exposure``;
- daily loss = Σ PV at each session's first snapshot of the UTC day − Σ latest PV,
  against ``max_daily_loss``.

A breach stops exactly that manager's running traders (``freeze``: stop the session,
keep its positions; ``flatten``: stop it, then close its positions with reduce-only
market orders), marks them ``halted`` and the manager ``breached`` (until its limits
are changed), alerts, and is audited. :meth:`RiskMonitor.halt_all` stops every trader.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Float, cast, func, select
from sqlalchemy.orm import Session, sessionmaker

from aifap.api.audit import record
from aifap.api.launch import TraderRunner, account_keys
from aifap.api.models import ExchangeAccount, Manager, Trader
from aifap.watch.models import WatchPosition, WatchSnapshot

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
LIMITS = ("max_drawdown", "max_gross_exposure", "max_daily_loss")
FLATTEN_TOKEN_TTL = timedelta(minutes=10)  # a gateway account's flatten: a few calls


@dataclass(frozen=True, slots=True)
class Exposure:
    """A manager's combined figures from its traders' latest snapshots."""

    pv: float
    peak: float
    day_start: float
    gross: float
    sessions: int

    @property
    def drawdown(self) -> float:
        """Return 1 − PV / peak (0 without snapshots)."""
        return 1.0 - self.pv / self.peak if self.peak > 0 else 0.0

    @property
    def daily_loss(self) -> float:
        """Return the PV lost since the day's first snapshots (negative: a gain)."""
        return self.day_start - self.pv


def exposure(engine: Engine, session_ids: list[str]) -> Exposure:
    """Return the combined figures of ``session_ids``' latest finwatcher snapshots."""
    pv = peak = day_start = gross = 0.0
    seen = 0
    with engine.connect() as conn:
        for sid in session_ids:
            latest = conn.execute(
                select(WatchSnapshot.id, WatchSnapshot.ts_ms, WatchSnapshot.pv)
                .where(WatchSnapshot.session_id == sid)
                .order_by(WatchSnapshot.ts_ms.desc())
                .limit(1)
            ).first()
            if latest is None:
                continue
            seen += 1
            pv += float(latest.pv)
            peak += float(
                conn.execute(
                    select(func.max(cast(WatchSnapshot.pv, Float))).where(
                        WatchSnapshot.session_id == sid
                    )
                ).scalar_one()
            )
            midnight = latest.ts_ms - latest.ts_ms % DAY_MS
            first = conn.execute(
                select(WatchSnapshot.pv)
                .where(WatchSnapshot.session_id == sid, WatchSnapshot.ts_ms >= midnight)
                .order_by(WatchSnapshot.ts_ms)
                .limit(1)
            ).scalar_one()
            day_start += float(first)
            for size, mark in conn.execute(
                select(WatchPosition.size, WatchPosition.mark_price).where(
                    WatchPosition.snapshot_id == latest.id
                )
            ):
                gross += abs(float(size)) * float(mark)
    return Exposure(pv=pv, peak=peak, day_start=day_start, gross=gross, sessions=seen)


def breach_reason(manager: Manager, figures: Exposure) -> str | None:
    """Return which of ``manager``'s limits ``figures`` break (None: within limits)."""
    broken = []
    if manager.max_drawdown is not None and figures.drawdown > float(manager.max_drawdown):
        broken.append(f"drawdown {figures.drawdown:.4f} > limit {manager.max_drawdown}")
    if manager.max_gross_exposure is not None and figures.gross > float(
        manager.max_gross_exposure
    ):
        broken.append(
            f"gross exposure {figures.gross:.2f} > limit {manager.max_gross_exposure}"
        )
    if manager.max_daily_loss is not None and figures.daily_loss > float(manager.max_daily_loss):
        broken.append(f"daily loss {figures.daily_loss:.2f} > limit {manager.max_daily_loss}")
    return "; ".join(broken) or None


class RiskMonitor:
    """Checks managers' limits and stops their traders; halts everything on request.

    Args:
        sessions: the platform database's sessions.
        results: the results database's engine (the finwatchers' snapshots).
        runner: stops the traders' sessions.
        alert: called with (manager label, message) on a breach (None: log only).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        results: Engine,
        runner: TraderRunner,
        alert: Any = None,
        stop_timeout: float = 60.0,
    ) -> None:
        self.sessions = sessions
        self.results = results
        self.runner = runner
        self.alert = alert
        self.stop_timeout = stop_timeout
        self._lock = threading.Lock()

    def check(self) -> list[dict[str, Any]]:
        """Check every manager not already breached; stop the traders of each one that is.

        Reads in one transaction, stops sessions outside any (a stop may take a while and
        the sessions write to the databases meanwhile), records in another, then alerts.
        """
        with self._lock:
            found = []
            for manager_id, on_breach, reason, traders in self._breaches():
                stopped = self._stop(traders, on_breach)
                with self.sessions.begin() as db:
                    manager = db.get(Manager, manager_id)
                    if manager is not None:
                        manager.breached = reason
                    self._mark_halted(db, stopped)
                    record(
                        db, "risk", "risk.breach", f"manager:{manager_id}",
                        reason=reason, on_breach=on_breach, stopped=stopped,
                    )  # fmt: skip
                message = f"manager {manager_id}: {reason}; {on_breach} traders {stopped}"
                log.warning("risk breach: %s", message)
                self._alert(f"manager {manager_id}", message)
                found.append(
                    {
                        "manager_id": manager_id,
                        "reason": reason,
                        "action": on_breach,
                        "stopped": stopped,
                    }
                )
        return found

    def _breaches(self) -> list[tuple[int, str, str, list[Trader]]]:
        # (manager id, on_breach, reason, running traders) of each manager past a limit
        out = []
        with self.sessions() as db:
            managers = db.scalars(select(Manager).where(Manager.breached.is_(None))).all()
            for manager in managers:
                if all(getattr(manager, f) is None for f in LIMITS):
                    continue
                traders = list(
                    db.scalars(
                        select(Trader).where(
                            Trader.manager_id == manager.id, Trader.state == "running"
                        )
                    )
                )
                if not traders:
                    continue
                reason = breach_reason(
                    manager, exposure(self.results, [t.session_id for t in traders])
                )
                if reason is not None:
                    out.append((manager.id, manager.on_breach, reason, traders))
        return out

    def halt_all(self, actor: str) -> list[int]:
        """Stop every running trader (positions kept); return their ids."""
        with self._lock:
            with self.sessions() as db:
                traders = list(db.scalars(select(Trader).where(Trader.state == "running")))
            stopped = self._stop(traders, "freeze")
            with self.sessions.begin() as db:
                self._mark_halted(db, stopped)
                record(db, actor, "risk.halt_all", "platform", stopped=stopped)
        if stopped:
            self._alert("supervisor", f"halt-all by {actor}: stopped traders {stopped}")
        return stopped

    def _alert(self, who: str, message: str) -> None:
        if self.alert is not None:
            self.alert(who, message)

    @staticmethod
    def _mark_halted(db: Session, trader_ids: list[int]) -> None:
        for trader_id in trader_ids:
            trader = db.get(Trader, trader_id)
            if trader is not None:
                trader.state = "halted"

    def _stop(self, traders: list[Trader], action: str) -> list[int]:
        stopped = []
        for trader in traders:
            status = self.runner.stop(trader, self.stop_timeout)
            if action == "flatten":
                self._flatten(trader, status.sim_time)
            stopped.append(trader.id)
            log.info("trader %s stopped (%s): %s", trader.id, action, status.state)
        return stopped

    def _flatten(self, trader: Trader, sim_time: str | None) -> None:
        # close what the trader's account holds with reduce-only market orders
        from aifap.api.flatten import flatten_session

        workdir = self.runner.workdir(trader)
        if not Path(workdir).is_dir():
            return
        at = datetime.fromisoformat(sim_time) if sim_time else datetime.now(UTC)
        with self.sessions() as db:
            account = db.get(ExchangeAccount, trader.account_id) if trader.account_id else None
            keys = account_keys(account)
            token = None
            if account is not None and account.via_gateway:
                token = self.runner.gateway_token(trader, account, FLATTEN_TOKEN_TTL)
        try:
            closed = flatten_session(workdir, at, keys, token)
        except Exception as exc:  # the stop stands; the alert says what is still open
            log.error("trader %s not flattened, positions stay open: %s", trader.id, exc)
            return
        log.info("trader %s flattened: %s", trader.id, closed)
