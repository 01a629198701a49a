"""The main (execution) process: on ``strategy_done_event``, execute the hand-off plan.

Reads ``order_info.json`` (checked against the cycle the strategy announced),
executes through the gateway (closes first, batches of 5, then SL/TP), records
orders and fills, and sets ``autotrade_done_event``. Exchange errors past the retry
budget alert and stop the session; the cycle stays ``executing`` in the journal so
a restart replays it with the same client ids.
"""

from __future__ import annotations

import logging

from aifap.live.alerting import SessionAlerts
from aifap.live.clock import MAIN_SLOT
from aifap.live.codec import plan_from_dict
from aifap.live.execution import Executor
from aifap.live.handoff import read_handoff
from aifap.live.logs import set_cycle
from aifap.live.runtime import EXIT_FAILED, Runtime

log = logging.getLogger(__name__)


def main_main(rt: Runtime) -> None:
    """Entry point of the main (execution) process."""
    journal = rt.enter("main", MAIN_SLOT)
    alerts = SessionAlerts(rt.config, journal, deliver=False)
    shared, clock, config = rt.shared, rt.clock, rt.config
    gateway = None
    try:
        gateway = rt.gateway(alerts)
        executor = Executor(gateway, journal, clock, rt.workdir, config.symbols, alerts)
        while clock.wait_event(shared.strategy_done_event, shared.stop_event):
            shared.strategy_done_event.clear()
            cycle = int(shared.cycle.value)
            set_cycle(cycle)
            data = read_handoff(rt.workdir, config.id, cycle)
            executor.execute(cycle, plan_from_dict(data["plan"]))
            set_cycle(None)
            shared.autotrade_done_event.set()
    except Exception as exc:
        failed_cycle = int(shared.cycle.value) or None
        line = alerts.critical("auto_trade", exc, clock.ms(), failed_cycle)  # logs the traceback
        if failed_cycle is not None:
            journal.set_cycle(failed_cycle, reason=f"{type(exc).__name__}: {exc}")
        shared.fail(EXIT_FAILED, line)
        shared.autotrade_done_event.set()
    finally:
        clock.release(MAIN_SLOT)
        alerts.stop()
        if gateway is not None:
            gateway.close()
