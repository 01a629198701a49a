"""The parent of a session: validate, lease, recover, fork the three processes, supervise.

:func:`run_session` is the whole life of a session in the foreground and returns its
exit code (0: ended at the trading duration or stopped by SIGTERM/SIGINT; 1: a
failure, alerted first). The parent owns the clock and the scheduler: it sets
``rebalance_start_event`` on each tick (a tick during a running cycle is skipped
with a log line), watches the children's pids, restarts a dead finwatcher a bounded
number of times, stops everything when another child dies, renews the account lease
and writes the heartbeat.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.context import ForkContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from aifap.core.timeconv import from_ms, to_ms
from aifap.db import make_engine, migrate
from aifap.live.alerting import SessionAlerts
from aifap.live.clock import FINWATCHER_SLOT, MAIN_SLOT, STRATEGY_SLOT, SessionClock
from aifap.live.config import SessionConfig, make_config
from aifap.live.failures import session_failure
from aifap.live.finwatcher_process import finwatcher_main
from aifap.live.heartbeat import read_heartbeat, write_heartbeat
from aifap.live.journal import Journal
from aifap.live.lease import Lease
from aifap.live.logs import setup_logging
from aifap.live.main_process import main_main
from aifap.live.recovery import final_sync, recover
from aifap.live.runtime import EXIT_FAILED, EXIT_OK, Runtime, Shared
from aifap.live.schedule import Schedule
from aifap.live.strategy_process import strategy_main
from aifap.live.wiring import open_gateway, session_markets
from aifap.procs import pid_alive
from aifap.redaction import REDACTOR, install_log_redaction, redact_url

log = logging.getLogger(__name__)

ROLES = {
    "strategy": (strategy_main, STRATEGY_SLOT),
    "main": (main_main, MAIN_SLOT),
    "finwatcher": (finwatcher_main, FINWATCHER_SLOT),
}
HEARTBEAT_EVERY = 1.0  # wall seconds
STOP_GRACE = 20.0  # wall seconds a child gets to finish after the stop event


@dataclass
class _Children:
    ctx: ForkContext
    rt: Runtime
    procs: dict[str, BaseProcess] = field(default_factory=dict)
    finwatcher_restarts: int = 0

    def start(self, role: str) -> None:
        target, _slot = ROLES[role]
        _dispose_engines(self.rt.config)
        proc = self.ctx.Process(
            target=_child, args=(target, self.rt), name=f"aifap-{role}", daemon=False
        )
        proc.start()
        self.procs[role] = proc
        log.info("%s process started (pid %s)", role, proc.pid)

    def pids(self) -> dict[str, int | None]:
        return {role: proc.pid for role, proc in self.procs.items()}

    def stop(self) -> None:
        self.rt.shared.stop_event.set()
        deadline = time.monotonic() + STOP_GRACE
        for proc in self.procs.values():
            proc.join(max(0.1, deadline - time.monotonic()))
        for role, proc in self.procs.items():
            if proc.is_alive():
                log.warning("%s process did not stop in %.0f s; killing it", role, STOP_GRACE)
                proc.kill()
                proc.join(5)


def _child(target: Any, rt: Runtime) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    target(rt)


def _dispose_engines(config: SessionConfig) -> None:
    # pooled connections must not cross a fork
    for url in {config.results_url(), config.market_url()}:
        make_engine(url).dispose()


class _Signals:
    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum


def run_session(config: SessionConfig | dict[str, Any], *, log_stdout: bool = True) -> int:
    """Run a session in the foreground until its duration ends, a signal, or a failure.

    Args:
        config: a validated ``SessionConfig`` or the data to validate into one.
        log_stdout: also log to stdout (the log file in the workdir is always written).

    Returns:
        The exit code: 0 after a normal end or a stop signal, 1 after a failure.

    Raises:
        ConfigError: the config is invalid, or another session holds the account
            and symbols (``LeaseConflictError``); nothing was started.
    """
    cfg = make_config(config)
    workdir = cfg.working_directory
    workdir.mkdir(parents=True, exist_ok=True)
    setup_logging(workdir, cfg.id, stdout=log_stdout)
    REDACTOR.add(
        *(
            s
            for s in (
                cfg.credentials.api_key,
                cfg.credentials.secret,
                cfg.credentials.password,
                cfg.results_database_url,
                cfg.market_database_url,
            )
            if s is not None
        )
    )
    install_log_redaction()
    url = cfg.results_url()
    log.info("session %s starting (results database %s)", cfg.id, redact_url(url))
    try:
        migrate(url)
        engine = make_engine(url)
        journal = Journal(engine, cfg.id)
        lease = Lease(
            engine, cfg.account_key, cfg.symbols, cfg.id, ttl_seconds=_seconds(cfg.lease_ttl)
        )
        lease.acquire()
    except Exception as exc:
        line = session_failure(cfg, exc)
        log.error("%s", line, exc_info=exc)
        _write_failure(cfg, line, None)
        raise
    try:
        return _run(cfg, journal, lease)
    finally:
        lease.release()


def _write_failure(cfg: SessionConfig, line: str, clock: SessionClock | None) -> None:
    # the runner outside (papermill's watchdog, the CLI) reads the reason from here, but
    # a second start of a running session must not overwrite the running one's heartbeat
    beat = read_heartbeat(cfg.working_directory) or {}
    if beat.get("status") == "running" and beat.get("pid") != os.getpid() and pid_alive(
        beat.get("pid")
    ):
        return
    write_heartbeat(
        cfg.working_directory,
        session_id=cfg.id,
        status="failed",
        exit_code=EXIT_FAILED,
        reason=line,
        sim_time=None if clock is None else clock.now().isoformat(),
        cycle=None,
        pids={},
    )


def _seconds(text: str) -> float:
    from aifap.core.timeframes import parse_duration

    return parse_duration(text).total_seconds()


def _clock_start(cfg: SessionConfig, journal: Journal) -> datetime | None:
    if cfg.clock.kind == "wall":
        return None
    start = cfg.clock.start
    row = journal.session_row()
    if row is not None and start is not None and row.clock_ms > to_ms(start):
        return from_ms(row.clock_ms)  # a replay never goes back in time after a restart
    return start


def _run(cfg: SessionConfig, journal: Journal, lease: Lease) -> int:
    ctx = multiprocessing.get_context("fork")
    clock = SessionClock(
        ctx, cfg.clock.kind, start=_clock_start(cfg, journal), speed=cfg.clock.speed
    )
    shared = Shared.create(ctx)
    alerts = SessionAlerts(cfg, journal, deliver=False)
    try:
        from aifap.live.wiring import open_bars

        gateway = open_gateway(cfg, clock, open_bars(cfg), alerts)
        try:
            markets = session_markets(cfg, gateway)
            row = recover(cfg, journal, gateway, clock, markets, alerts)
        finally:
            gateway.close()
    except Exception as exc:
        line = alerts.critical("session", exc, clock.ms())  # logs the traceback
        journal.update_session(
            status="failed", exit_code=EXIT_FAILED, reason=line[:2000], stopped_ms=clock.ms()
        )
        alerts.stop()
        _deliver_pending(cfg, journal)
        _write_failure(cfg, line, clock)
        log.error("session %s could not start", cfg.id)
        return EXIT_FAILED
    alerts.stop()
    rt = Runtime(config=cfg, clock=clock, shared=shared, start_ms=row.started_ms)
    children = _Children(ctx, rt)
    handler = _Signals()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for role in ROLES:
            children.start(role)
        parent_alerts = SessionAlerts(cfg, journal, deliver=True)
        parent_alerts.started(clock.now(), clock.ms())
        code, reason = _supervise(cfg, rt, children, journal, lease, parent_alerts, handler)
        children.stop()
        _final_sync(cfg, journal, clock)
        if shared.fail_code.value and code == EXIT_OK:
            code, reason = shared.fail_code.value, shared.reason
        status = "stopped" if code == EXIT_OK else "failed"
        journal.update_session(
            status=status, exit_code=code, reason=reason, stopped_ms=clock.ms(), clock_ms=clock.ms()
        )
        journal.event(
            "info" if code == EXIT_OK else "critical",
            "stopped",
            f"session {status}: {reason}",
            clock.ms(),
        )
        write_heartbeat(
            rt.workdir,
            session_id=cfg.id,
            status=status,
            exit_code=code,
            reason=reason,
            sim_time=clock.now().isoformat(),
            cycle=shared.cycle.value,
            pids=children.pids(),
        )
        parent_alerts.stop(timeout=10.0)
        log.info("session %s %s (exit %d): %s", cfg.id, status, code, reason)
        return code
    finally:
        children.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)


def _final_sync(cfg: SessionConfig, journal: Journal, clock: SessionClock) -> None:
    try:
        from aifap.live.wiring import open_bars

        gateway = open_gateway(cfg, clock, open_bars(cfg))
        try:
            final_sync(cfg, journal, gateway, clock)
        finally:
            gateway.close()
    except Exception as exc:  # the exchange may be the reason the session stops
        log.warning(
            "fills after the last cycle not recorded (they will be at the next start): %s", exc
        )


def _deliver_pending(cfg: SessionConfig, journal: Journal) -> None:
    try:
        SessionAlerts(cfg, journal, deliver=True).stop(timeout=5.0)
    except Exception:
        log.exception("pending alerts not delivered")


def _supervise(
    cfg: SessionConfig,
    rt: Runtime,
    children: _Children,
    journal: Journal,
    lease: Lease,
    alerts: SessionAlerts,
    signals: _Signals,
) -> tuple[int, str]:
    clock, shared = rt.clock, rt.shared
    schedule = Schedule.from_config(cfg.rebalance_every, cfg.rebalance_cron)
    end_ms = rt.start_ms + int(cfg.duration.total_seconds() * 1000)
    next_tick = schedule.next_after(clock.now())
    last_beat = 0.0
    last_renew = time.monotonic()
    renew_every = _seconds(cfg.lease_ttl) / 3
    while True:
        if signals.received is not None:
            return EXIT_OK, f"stopped by signal {signal.Signals(signals.received).name}"
        if shared.fail_code.value:
            return shared.fail_code.value, shared.reason
        dead = _check_children(cfg, children, alerts, clock)
        if dead is not None:
            return EXIT_FAILED, dead
        now_ms = clock.ms()
        if now_ms >= end_ms and not shared.cycle_pending():
            return EXIT_OK, f"trading duration {cfg.trading_duration} ended"
        if now_ms >= to_ms(next_tick):
            if shared.cycle_pending():
                log.info(
                    "rebalance tick at %s skipped: cycle %s is still running",
                    next_tick.isoformat(),
                    shared.cycle.value,
                )
            elif now_ms < end_ms:
                shared.tick_ms.value = to_ms(next_tick)
                shared.rebalance_start_event.set()
            next_tick = schedule.next_after(clock.now())
        wall = time.monotonic()
        if wall - last_beat >= HEARTBEAT_EVERY:
            last_beat = wall
            write_heartbeat(
                rt.workdir,
                session_id=cfg.id,
                status="running",
                sim_time=clock.now().isoformat(),
                cycle=shared.cycle.value,
                pids=children.pids(),
                exit_code=None,
            )
            journal.update_session(clock_ms=clock.ms())
        if wall - last_renew >= renew_every:
            last_renew = wall
            if not lease.renew():
                reason = "the account lease was lost to another session"
                return EXIT_FAILED, alerts.critical("session", reason, clock.ms())
        due = min(to_ms(next_tick), end_ms)
        if not clock.advance(_from(due), hold=shared.cycle_pending()):
            time.sleep(
                0.002
                if clock.stepped
                else min(0.05, max(0.001, clock.real_seconds((due - clock.ms()) / 1000)))
            )


def _from(ms: int) -> datetime:

    return from_ms(ms)


def _check_children(
    cfg: SessionConfig, children: _Children, alerts: SessionAlerts, clock: SessionClock
) -> str | None:
    for role, proc in list(children.procs.items()):
        if proc.is_alive():
            continue
        proc.join(0)
        code = proc.exitcode
        clock.release(ROLES[role][1])
        if (
            role == "finwatcher"
            and children.finwatcher_restarts < cfg.finwatcher_restarts
            and not children.rt.shared.fail_code.value
        ):
            children.finwatcher_restarts += 1
            alerts.error(
                "finwatcher",
                f"finwatcher process died (exit code {code}); restart "
                f"{children.finwatcher_restarts} of {cfg.finwatcher_restarts}",
                clock.ms(),
                kind="finwatcher_restart",
            )
            clock.claim(FINWATCHER_SLOT)
            alerts.pause()  # no thread may run in the parent while it forks
            try:
                children.start("finwatcher")
            finally:
                alerts.resume()
            continue
        if children.rt.shared.fail_code.value:
            return children.rt.shared.reason
        return alerts.critical("session", f"{role} process died (exit code {code})", clock.ms())
    return None
