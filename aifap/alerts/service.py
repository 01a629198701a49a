"""``AlertService``: what the live runner calls. Every call returns at once.

Each call builds the alert, redacts it, commits it to the outbox (one row per
receiving channel) and wakes the worker; it never sends and never raises. If the
results database is unreachable the alert is kept in memory and written later.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aifap.alerts.config import AlertConfig
from aifap.alerts.events import Markets, diff_snapshots
from aifap.alerts.messages import (
    Alert,
    AlertKind,
    error_alert,
    error_detail_alert,
    position_alerts,
    system_started,
)
from aifap.alerts.outbox import Outbox
from aifap.alerts.senders import Sender, SenderContext, senders
from aifap.alerts.worker import AlertWorker
from aifap.core.snapshot import Snapshot
from aifap.db import database_url, make_engine, migrate
from aifap.redaction import REDACTOR, Redactor, install_log_redaction
from aifap.retry import DEFAULT_POLICY, RetryPolicy

log = logging.getLogger(__name__)

CRITICAL_EXIT_CODE = 1


class AlertService:
    """Alerts of one trader (or manager) in one session, delivered in the background.

    Args:
        config: labels, channels, time zone and delivery tuning.
        results_url: the results database holding the outbox (default: the
            configured results database).
        markets: market specs by symbol, for the precision of table numbers.
        policy: the retry policy of each send (default: the project's).
        deliver: False to only enqueue (another process of the session sends).
    """

    def __init__(
        self,
        config: AlertConfig,
        results_url: str | None = None,
        *,
        markets: Markets | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        deliver: bool = True,
    ) -> None:
        self.config = config
        self.markets = dict(markets or {})
        self.redact: Redactor = REDACTOR
        self.redact.add(*config.secrets())
        install_log_redaction()
        url = results_url or database_url("results")
        self.redact.add(url)
        self.engine = make_engine(url)
        self._url = url
        self.outbox = Outbox(self.engine, config.session_id)
        self.policy = policy
        self.deliver = deliver
        self.worker: AlertWorker | None = None
        self._channels_by_name = dict(config.channels)

    # lifecycle ---------------------------------------------------------------

    def start(self) -> AlertService:
        """Migrate the outbox table and start the sender thread; return self."""
        migrate(self._url)
        if self.deliver and self.worker is None:
            stop = threading.Event()
            built: dict[str, Sender] = {}
            for name, channel in self.config.channels.items():
                context = SenderContext(self.config.session_id, name, stop=stop)
                built[name] = senders.get(channel.sender)(channel, context)
            self.worker = AlertWorker(
                self.outbox,
                built,
                policy=self.policy,
                message_limit=self.config.message_limit,
                backoff=self.config.redeliver_backoff,
                max_backoff=self.config.max_redeliver_backoff,
                poll_interval=self.config.poll_interval,
                stop=stop,
                redact=self.redact,
            )
            self.worker.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Deliver everything pending (held errors too) within ``timeout`` seconds.

        Returns whether the outbox of this session is empty; what is left is sent
        after a restart.
        """
        if self.worker is None or not self.worker.alive:
            return False
        deadline = time.monotonic() + timeout
        channels = list(self.worker.senders)
        self.worker.urgent = True
        try:
            self.outbox.release_held()
            while True:
                if not self.worker.fallback and self.outbox.unsent(channels) == 0:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.worker.wake()
                time.sleep(min(0.02, remaining))
        except Exception as exc:
            log.warning("alert flush failed: %s", self.redact(str(exc)))
            return False
        finally:
            self.worker.urgent = False

    def stop(self, timeout: float = 5.0) -> bool:
        """Flush for up to ``timeout`` seconds, stop the thread, close the senders."""
        if self.worker is None:
            return True
        done = self.flush(timeout)
        self.worker.join(timeout=max(1.0, timeout))
        for sender in self.worker.senders.values():
            sender.close()
        self.worker = None
        return done

    def __enter__(self) -> AlertService:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # events --------------------------------------------------------------------

    def system_started(
        self,
        *,
        strategy: str,
        environment: str,
        duration: timedelta,
        time: datetime | None = None,
        user: str | None = None,
    ) -> list[int]:
        """Enqueue ``🚀 [Futures] System Started``; return the outbox row ids."""
        alert = system_started(
            system_label=self.config.system_label,
            time=time or datetime.now(UTC),
            user=user or self.config.user,
            strategy=strategy,
            environment=environment,
            duration=duration,
            timezone=self.config.display_timezone,
        )
        return self.send(alert)

    def positions_changed(
        self, prev: Snapshot | None, curr: Snapshot, *, markets: Markets | None = None
    ) -> list[int]:
        """Enqueue the closed / opened or added / updated alerts between two snapshots."""
        try:
            changes = diff_snapshots(prev, curr)
            alerts = position_alerts(
                changes,
                trader_label=self.config.trader_label,
                markets={**self.markets, **(markets or {})},
            )
        except Exception as exc:
            log.error("position alert not built: %s", self.redact(f"{type(exc).__name__}: {exc}"))
            return []
        return [row for alert in alerts for row in self.send(alert)]

    def error(
        self,
        module: str,
        error: BaseException | str,
        *,
        level: str = "partial",
        user: str | None = None,
        time: datetime | None = None,
        summary: str | None = None,
    ) -> list[int]:
        """Enqueue an error: the short public alert, and the full detail to admin channels.

        Identical errors (same module, level and message) within the coalescing
        window become one alert with a count. The detail is also logged.

        ``summary`` (one line a trader can act on, such as why a session stopped)
        replaces the public alert's short message and heads the admin's detail.
        """
        moment = time or datetime.now(UTC)
        detail = self.redact(_describe(error))
        public: dict[str, str] = {}
        if summary is not None:
            summary = public["message"] = self.redact(" ".join(summary.split()))
            detail = summary if detail in ("", summary) else f"{summary}\n\n{detail}"
        else:
            summary = self.redact(detail.splitlines()[-1] if detail else "")
        digest = hashlib.sha256(f"{level}|{module}|{summary}".encode()).hexdigest()[:32]
        log.error("%s %s: %s", module, level, detail)
        common: dict[str, Any] = {
            "system_label": self.config.system_label,
            "module": module,
            "time": moment,
            "level": level,
            "timezone": self.config.display_timezone,
            "coalesce_key": digest,
        }
        ids = self.send(error_alert(**common, **public))  # type: ignore[arg-type]
        session = self.config.session_id if self.config.session_id != "default" else None
        ids += self.send(
            error_detail_alert(
                detail=detail, user=user or self.config.user, session=session, **common
            )
        )
        return ids

    def critical(
        self, module: str, error: BaseException | str, *, flush_timeout: float = 10.0
    ) -> int:
        """Alert a fatal error, flush for at most ``flush_timeout``, return the exit code 1.

        The caller stops: ``sys.exit(alerts.critical("auto_trade", exc))``.
        """
        self.error(module, error, level="critical")
        if not self.flush(flush_timeout):
            log.error("alerts not all delivered before the stop; they are kept for a restart")
        return CRITICAL_EXIT_CODE

    def send(self, alert: Alert, channels: Iterable[str] | None = None) -> list[int]:
        """Commit a built alert for every channel that receives its kind; never raise."""
        alert = _redacted(alert, self.redact)
        names = tuple(
            name
            for name, channel in self._channels_by_name.items()
            if (channels is None or name in channels) and channel.accepts(alert.kind)
        )
        if not names:
            return []
        window = self.config.coalesce_window if alert.kind in _COALESCED else 0.0
        try:
            ids = self.outbox.add(alert, names, now=_wall_clock(), window=window)
        except Exception as exc:
            log.warning("alert kept in memory, outbox unavailable: %s", self.redact(str(exc)))
            if self.worker is not None:
                self.worker.fallback.append((alert, names))
            return []
        if self.worker is not None:
            self.worker.wake()
        return ids


_COALESCED = frozenset({AlertKind.ERROR, AlertKind.ERROR_DETAIL})


def _wall_clock() -> float:
    return time.time()


def _describe(error: BaseException | str) -> str:
    if isinstance(error, BaseException):
        return "".join(traceback.format_exception(error)).rstrip()
    return str(error)


def _redacted(alert: Alert, redact: Redactor) -> Alert:
    return Alert(
        kind=alert.kind,
        title=redact(alert.title),
        lines=tuple(redact(line) for line in alert.lines),
        table=tuple(redact(line) for line in alert.table),
        items=tuple(redact(item) for item in alert.items),
        count=alert.count,
        coalesce_key=alert.coalesce_key,
        extra={key: redact(value) for key, value in alert.extra.items()},
        attachments=alert.attachments,  # local file paths, sent as files
    )


_default: AlertService | None = None


def set_default_service(service: AlertService | None) -> None:
    """Make ``service`` the one ``send_discord_alert`` uses (the live runner sets it)."""
    global _default
    _default = service


def send_discord_alert(
    user_id: str, level: str, message: BaseException | str, module: str
) -> list[int]:
    """Enqueue an error alert in the seed's shape; log only when no service is set.

    ``send_discord_alert(user_id, "Critical", str(e), "auto_trade")``: the channel
    gets the module, the time and the short message; admins get ``message``.
    """
    if _default is None:
        log.error("%s %s (user %s): %s", module, level, user_id, REDACTOR(str(message)))
        return []
    return _default.error(module, message, level=level, user=user_id)
