"""Scheduled reports (``aifap report schedule``): APScheduler runs each target's report.

Every run renders the target's tear sheet into the output directory and announces it
on the target's alert channel: a ``📊 Performance Report`` alert with the headline
metrics and the HTML file (Discord receives it as an attachment). The alert is
committed to the outbox under ``<session>-reports`` (so a running session's own
worker never sends it a second time) and delivered before the job ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aifap.alerts.config import AlertConfig
from aifap.alerts.messages import Alert, report_alert
from aifap.alerts.service import AlertService

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0


@dataclass
class ReportTarget:
    """One report to produce on each run.

    Attributes:
        name: the session id or backtest directory name (titles, file names).
        render: writes the report into a directory and returns the HTML path.
        metrics: returns the headline metrics of the announcement.
        alerts: the target's alert settings; None prints only.
        results_url: the results database holding the alert outbox.
    """

    name: str
    render: Callable[[Path], Path]
    metrics: Callable[[], dict[str, Any]]
    alerts: AlertConfig | None = None
    results_url: str | None = None


def summary_lines(metrics: dict[str, Any], period: str | None = None) -> list[str]:
    """Return the announcement's lines: PV, ROE, Sharpe (√365), max drawdown, fills."""

    def pct(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{float(value) * 100:+.2f}%"

    sharpe = metrics.get("sharpe")
    pv = metrics.get("final_equity")
    lines = [
        f"PV: {float(pv):,.2f}" if pv is not None else "PV: n/a",
        f"ROE: {pct('roe')}",
        f"Sharpe: {float(sharpe):.2f}" if sharpe is not None else "Sharpe: n/a",
        f"Max Drawdown: {pct('max_drawdown')}",
        f"Fills: {metrics.get('trades', 0)}",
    ]
    if period:
        lines.insert(0, f"Period: last {period}")
    return lines


def announce(target: ReportTarget, alert: Alert, timeout: float = FLUSH_SECONDS) -> bool:
    """Send ``alert`` on the target's channels; return whether it was delivered in time."""
    if target.alerts is None:
        return False
    config = target.alerts.model_copy(update={"session_id": f"{target.alerts.session_id}-reports"})
    service = AlertService(config, target.results_url).start()
    try:
        service.send(alert)
        return service.flush(timeout=timeout)
    finally:
        service.stop()


def run_target(
    target: ReportTarget, out: Path, *, period: str | None = None, now: datetime | None = None
) -> Path:
    """Render one target's report into ``out`` and announce it; return the HTML path."""
    path = target.render(out)
    metrics = target.metrics()
    if target.alerts is not None:
        alert = report_alert(
            system_label=target.alerts.system_label,
            session=target.name,
            time=now or datetime.now(UTC),
            lines=summary_lines(metrics, period),
            path=str(path.resolve()),
            timezone=target.alerts.display_timezone,
        )
        if not announce(target, alert):
            log.warning("report of %s not announced yet; the outbox keeps it", target.name)
    return path


def run_all(
    targets: Sequence[ReportTarget],
    out: Path,
    *,
    period: str | None = None,
    done: Callable[[ReportTarget, Path], None] | None = None,
) -> list[Path]:
    """Run every target once; a failing target is logged and the others still run."""
    paths = []
    for target in targets:
        try:
            path = run_target(target, out, period=period)
        except Exception:
            log.exception("report of %s failed", target.name)
            continue
        paths.append(path)
        if done is not None:
            done(target, path)
    return paths


def make_trigger(every: timedelta | None = None, cron: str | None = None) -> Any:
    """Return APScheduler's trigger of an interval or a five-field crontab (UTC)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if (every is None) == (cron is None):
        raise ValueError("give exactly one of every / cron")
    if every is not None:
        if every <= timedelta(0):
            raise ValueError(f"every must be > 0, was {every}")
        return IntervalTrigger(seconds=every.total_seconds(), timezone=UTC)
    assert cron is not None
    return CronTrigger.from_crontab(cron, timezone=UTC)


def schedule_reports(
    targets: Sequence[ReportTarget],
    out: Path,
    *,
    every: timedelta | None = None,
    cron: str | None = None,
    period: str | None = None,
    once: bool = False,
    done: Callable[[ReportTarget, Path], None] | None = None,
) -> list[Path]:
    """Run the targets' reports on a schedule until interrupted (``once``: run now, return).

    One APScheduler job per target on a blocking scheduler; a run that is still busy
    when the next is due is not doubled (``max_instances=1``, missed runs coalesce).
    """
    trigger = make_trigger(every, cron)  # validated even with once
    if once:
        return run_all(targets, out, period=period, done=done)
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=UTC)
    for target in targets:
        scheduler.add_job(
            run_all,
            trigger,
            args=([target], out),
            kwargs={"period": period, "done": done},
            id=f"report-{target.name}",
            name=f"report of {target.name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
    log.info("scheduled %d report(s); next run %s", len(targets), trigger)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
    return []
