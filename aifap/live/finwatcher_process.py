"""The finwatcher process: every interval, independently, snapshot the account and store it.

Snapshots fall on a grid (multiples of the interval since the epoch, on the session
clock); each row carries its due time. A run that falls more than an interval behind
skips the missed grid points with one log line rather than inventing rows for them.
Consecutive snapshots go to the alerts (opened, updated, closed positions).
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from aifap.core.errors import GatewayError, RetryExhaustedError
from aifap.core.timeconv import from_ms
from aifap.live.alerting import SessionAlerts
from aifap.live.clock import FINWATCHER_SLOT
from aifap.live.hooks import kill_point
from aifap.live.logs import log_once
from aifap.live.runtime import EXIT_FAILED, Runtime
from aifap.watch.snapshots import FundingTally, SnapshotStore, SnapshotTaker

log = logging.getLogger(__name__)


def finwatcher_main(rt: Runtime) -> None:
    """Entry point of the finwatcher process."""
    journal = rt.enter("finwatcher", FINWATCHER_SLOT)
    alerts = SessionAlerts(rt.config, journal, deliver=False)
    clock, config, shared = rt.clock, rt.config, rt.shared
    gateway = rt.gateway(alerts)
    try:
        session = journal.session_row()
        assert session is not None, "the parent creates the session row before forking"
        store = SnapshotStore(rt.engine, config.id)
        taker = SnapshotTaker(
            config.id,
            session.initial_equity,
            session.initial_wallet,
            config.symbols,
            store.history(),
            FundingTally(from_ms(session.started_ms), config.symbols),
            config.market,
        )
        previous = store.latest()
        step = config.finwatcher_seconds
        due = from_ms(int(math.ceil(clock.ms() / 1000 / step) * step * 1000))
        while clock.sleep_until(due, shared.stop_event):
            kill_point("finwatcher.snapshot", rt.workdir)
            snapshot = taker.take(gateway, due)
            store.save(snapshot, clock.now())
            alerts.positions_changed(previous, snapshot)
            previous = snapshot
            due += timedelta(seconds=step)
            now = clock.now()
            if now >= due + timedelta(seconds=step):
                missed = int((now - due).total_seconds() // step)
                due += timedelta(seconds=missed * step)
                log_once(
                    log,
                    logging.WARNING,
                    "finwatcher fell behind the clock; skipping missed intervals",
                    key="finwatcher-behind",
                )
                log.info("finwatcher skipped %d intervals", missed)
    except (RetryExhaustedError, GatewayError) as exc:
        shared.fail(EXIT_FAILED, alerts.critical("finwatcher", exc, clock.ms()))
    finally:
        clock.release(FINWATCHER_SLOT)
        alerts.stop()
        gateway.close()
