"""The strategy process: on ``rebalance_start_event``, plan a cycle and hand it to main.

Per cycle: journal the cycle, check bar freshness, run the strategy under its time
limit, validate, plan against the account, write ``order_info.json`` atomically and
the plan (with ``context.state``) to the journal, set ``strategy_done_event``, then
wait for ``autotrade_done_event``. A strategy error, timeout or invalid output skips
the cycle with an alert; ``max_strategy_failures`` in a row stop the session. An
exchange error past the retry budget stops it at once.
"""

from __future__ import annotations

import logging

from aifap.core.errors import GatewayError, StrategyError
from aifap.live.alerting import SessionAlerts
from aifap.live.clock import STRATEGY_SLOT
from aifap.live.codec import dumps, plan_to_dict, positions_to_dict, targets_to_dict
from aifap.live.handoff import write_handoff
from aifap.live.hooks import kill_point
from aifap.live.journal import Journal, json_state
from aifap.live.logs import set_cycle
from aifap.live.planning import StaleBarsError, run_strategy
from aifap.live.runtime import EXIT_FAILED, Runtime
from aifap.strategy import load_strategy

log = logging.getLogger(__name__)


def strategy_main(rt: Runtime) -> None:
    """Entry point of the strategy process."""
    journal = rt.enter("strategy", STRATEGY_SLOT)
    alerts = SessionAlerts(rt.config, journal, deliver=False)
    shared, clock, config = rt.shared, rt.clock, rt.config
    try:
        fn = load_strategy(config.strategy)
        gateway = rt.gateway(alerts)
        markets = rt.markets(gateway)
        session = journal.session_row()
        assert session is not None, "the parent creates the session row before forking"
        initial_wallet = session.initial_wallet
    except Exception as exc:
        shared.fail(EXIT_FAILED, alerts.critical("strategy", exc, clock.ms()))
        alerts.stop()
        return
    state = journal.latest_state()
    failures = 0
    try:
        while clock.wait_event(shared.rebalance_start_event, shared.stop_event):
            shared.in_cycle.value = 1
            shared.rebalance_start_event.clear()
            cycle = journal.next_cycle()
            shared.cycle.value = cycle
            set_cycle(cycle)
            now = clock.now()
            journal.start_cycle(cycle, shared.tick_ms.value, clock.ms())
            try:
                result = run_strategy(
                    fn,
                    config,
                    bars=rt.bars(),
                    gateway=gateway,
                    markets=markets,
                    now=now,
                    state=state,
                    initial_wallet=initial_wallet,
                    cycle=cycle,
                )
            except StaleBarsError as exc:
                journal.skip_cycle(cycle, str(exc), clock.ms())
                alerts.error("market_data", str(exc), clock.ms(), cycle, kind="stale_bars")
                _end_cycle(shared)
                continue
            except StrategyError as exc:
                failures += 1
                journal.skip_cycle(cycle, str(exc), clock.ms())
                journal.set_cycle(cycle, state_json=json_state(state))
                alerts.error(
                    "strategy",
                    f"cycle {cycle} skipped: {exc}",
                    clock.ms(),
                    cycle,
                    kind="strategy_failed",
                )
                if failures >= config.max_strategy_failures:
                    reason = (
                        f"strategy failed {failures} cycles in a row "
                        f"(max_strategy_failures={config.max_strategy_failures}): {exc}"
                    )
                    shared.fail(EXIT_FAILED, alerts.critical("strategy", reason, clock.ms(), cycle))
                    _end_cycle(shared)
                    break
                _end_cycle(shared)
                continue
            failures = 0
            payload = {
                "session_id": config.id,
                "cycle": cycle,
                "created_at": now.isoformat(),
                "targets": targets_to_dict(result.targets),
                "plan": plan_to_dict(result.plan),
                "prices": {k: format(v, "f") for k, v in result.prices.items()},
            }
            write_handoff(rt.workdir, payload)
            journal.set_cycle(
                cycle,
                state="planned",
                targets_json=dumps(payload["targets"]),
                plan_json=dumps(payload["plan"]),
                prices_json=dumps(payload["prices"]),
                equity=result.plan.equity,
                state_json=json_state(state),
                positions_before_json=dumps(
                    positions_to_dict(tuple(result.portfolio.positions.values()))
                ),
            )
            log.info(
                "cycle %s: planned %d orders, %d stop updates, %d dropped",
                cycle,
                len(result.plan.orders),
                len(result.plan.stop_updates),
                len(result.plan.dropped),
            )
            kill_point("strategy.after_plan", rt.workdir, cycle)
            shared.strategy_done_event.set()
            if not clock.wait_event(shared.autotrade_done_event, shared.stop_event):
                break
            shared.autotrade_done_event.clear()
            _end_cycle(shared)
    except GatewayError as exc:
        _fatal(rt, journal, alerts, exc)
    except Exception as exc:  # the alert logs the traceback
        _fatal(rt, journal, alerts, exc)
    finally:
        clock.release(STRATEGY_SLOT)
        alerts.stop()
        gateway_close = getattr(locals().get("gateway"), "close", None)
        if gateway_close is not None:
            gateway_close()


def _end_cycle(shared: object) -> None:
    set_cycle(None)
    shared.in_cycle.value = 0  # type: ignore[attr-defined]


def _fatal(rt: Runtime, journal: Journal, alerts: SessionAlerts, exc: BaseException) -> None:
    cycle = rt.shared.cycle.value or None
    if cycle is not None:
        row = journal.cycle(cycle)
        if row is not None and row.state == "started":
            journal.skip_cycle(cycle, f"{type(exc).__name__}: {exc}", rt.clock.ms(), "failed")
    rt.shared.fail(EXIT_FAILED, alerts.critical("strategy", exc, rt.clock.ms(), cycle))
