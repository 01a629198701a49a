"""Alerts of a session: the alert service's outbox plus an event row in the journal.

The parent process delivers (it runs the alert service's worker thread, started
after the children are forked); the children only enqueue (``deliver=False``), so a
child killed mid-send never loses an alert that was committed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aifap.alerts.config import AlertConfig, ChannelConfig
from aifap.alerts.service import AlertService
from aifap.core.snapshot import Snapshot
from aifap.live.config import SessionConfig
from aifap.live.failures import session_failure
from aifap.live.journal import Journal

log = logging.getLogger(__name__)


def alert_config(config: SessionConfig) -> AlertConfig:
    """Return the alert settings of a session (channel ``console``, ``discord`` or ``none``)."""
    values: dict[str, Any] = {
        "session_id": config.id,
        "trader_label": config.trader,
        "system_label": "Futures" if config.market.value == "futures" else "Spot",
        "user": config.trader,
        "extra_secrets": tuple(
            s
            for s in (
                config.credentials.api_key,
                config.credentials.secret,
                config.credentials.password,
                config.results_database_url,
                config.market_database_url,
            )
            if s is not None
        ),
    }
    if config.alert_channel == "none":
        values["channels"] = {}
    elif config.alert_channel == "console":
        # not an admin channel: tracebacks stay in the session log, off the console
        values["channels"] = {"console": ChannelConfig(sender="console", admin=False)}
    return AlertConfig.from_settings(**values)


class SessionAlerts:
    """What the session's processes call to alert; every call journals an event and never raises.

    Args:
        config: the session config.
        journal: the session's journal (events are recorded there too).
        deliver: True only in the parent, which runs the delivery thread.
    """

    def __init__(self, config: SessionConfig, journal: Journal, *, deliver: bool) -> None:
        self.config = config
        self.journal = journal
        self.deliver = deliver
        self.service: AlertService | None = None
        self.resume()

    def resume(self) -> None:
        """Open the alert service (and, when delivering, start its thread)."""
        try:
            self.service = AlertService(
                alert_config(self.config), self.config.results_url(), deliver=self.deliver
            ).start()
        except Exception:
            log.exception("alert service unavailable; alerts go to the log and journal only")
            self.service = None

    def pause(self) -> None:
        """Stop the delivery thread for a moment (the parent, before it forks)."""
        self.stop(timeout=2.0)
        self.service = None

    def _event(self, level: str, kind: str, message: str, now_ms: int, cycle: int | None) -> None:
        self.journal.event(level, kind, message, now_ms, cycle)

    def started(self, now: datetime, now_ms: int) -> None:
        """Alert ``System Started``."""
        self._event("info", "started", f"session {self.config.id} started", now_ms, None)
        if self.service is not None:
            self.service.system_started(
                strategy=self.config.strategy_name,
                environment=self.config.mode,
                duration=self.config.duration,
                time=now,
            )

    def positions_changed(self, prev: Snapshot | None, curr: Snapshot) -> None:
        """Alert opened, added, updated and closed positions between two snapshots."""
        if self.service is not None:
            self.service.positions_changed(prev, curr)

    def error(
        self,
        module: str,
        problem: BaseException | str,
        now_ms: int,
        cycle: int | None = None,
        *,
        kind: str = "error",
        summary: str | None = None,
    ) -> None:
        """Alert a problem the session survives (a skipped cycle, a rejected order).

        ``summary``: the public alert's message (default: the seed's short one), for a
        cause a trader can act on.
        """
        text = problem if isinstance(problem, str) else f"{type(problem).__name__}: {problem}"
        self._event("error", kind, f"{module}: {text}", now_ms, cycle)
        if self.service is not None:
            self.service.error(module, problem, level="partial", summary=summary)
        else:
            log.error("%s: %s", module, text)

    def warning(self, kind: str, message: str, now_ms: int, cycle: int | None = None) -> None:
        """Record a warning event (logged and journaled, no alert)."""
        log.warning("%s", message)
        self._event("warning", kind, message, now_ms, cycle)

    def critical(
        self, module: str, problem: BaseException | str, now_ms: int, cycle: int | None = None
    ) -> str:
        """Alert a fatal problem and return its one-line message (see ``live.failures``).

        The line (session id, account, cause, what to check) is the journal event, the
        public alert's message and the reason the caller stops the session with; the
        traceback goes to the session log and the admin channel only.
        """
        line = session_failure(self.config, problem)
        self._event("critical", "critical", line, now_ms, cycle)
        if self.service is not None:
            self.service.error(module, problem, level="critical", summary=line)
        elif isinstance(problem, BaseException):
            log.critical("%s: %s", module, line, exc_info=problem)
        else:
            log.critical("%s: %s", module, line)
        return line

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is pending (parent) and stop the delivery thread."""
        if self.service is not None:
            try:
                self.service.stop(timeout)
            except Exception:
                log.exception("alert service did not stop cleanly")
