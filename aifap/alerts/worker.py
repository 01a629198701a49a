"""The session's one alert sender: a daemon thread draining the outbox in id order.

Each pass takes the deliverable rows oldest first. A row's parts are sent one by one
under the project's retry policy (``aifap.retry``); delivered parts are
recorded, so a restart resumes after the last one. When a channel's retries run
out, that row and every later row of the channel wait (order per channel is kept)
and the channel backs off exponentially; other channels carry on. A refused message
is marked failed. Nothing here raises into the trading code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from aifap.alerts.messages import Alert
from aifap.alerts.outbox import Outbox, Pending
from aifap.alerts.render import split_alert
from aifap.alerts.senders import AlertDeliveryError, DeliveryInterrupted, Sender
from aifap.core.errors import TransientGatewayError
from aifap.retry import RetryPolicy

log = logging.getLogger(__name__)


class AlertWorker:
    """Drain one session's outbox into its senders on a background thread."""

    def __init__(
        self,
        outbox: Outbox,
        senders: Mapping[str, Sender],
        *,
        policy: RetryPolicy,
        message_limit: int = 2000,
        backoff: float = 5.0,
        max_backoff: float = 300.0,
        poll_interval: float = 1.0,
        stop: threading.Event | None = None,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.outbox = outbox
        self.senders = dict(senders)
        self.policy = policy
        self.message_limit = message_limit
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.stop_event = stop or threading.Event()
        self.redact = redact
        self.urgent = False  # set while flushing: ignore channel back-off
        self.fallback: deque[tuple[Alert, tuple[str, ...]]] = deque()
        self._wake = threading.Event()
        self._backoff_until: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the daemon thread (once)."""
        if self._thread is None:
            name = f"aifap-alerts-{self.outbox.session_id}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    @property
    def alive(self) -> bool:
        """Tell whether the thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Ask for a pass now (called after every enqueue)."""
        self._wake.set()

    def join(self, timeout: float) -> bool:
        """Stop the thread and wait up to ``timeout`` seconds; return whether it ended."""
        self.stop_event.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        while not self.stop_event.is_set():
            busy = False
            try:
                busy = self.drain_once()
            except DeliveryInterrupted:
                break
            except Exception as exc:  # the worker must survive anything
                log.error(
                    "alert worker pass failed: %s", self.redact(f"{type(exc).__name__}: {exc}")
                )
            if not busy:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def _channels(self) -> list[str]:
        now = time.monotonic()
        return [
            name
            for name in self.senders
            if self.urgent or self._backoff_until.get(name, 0.0) <= now
        ]

    def drain_once(self, batch: int = 100) -> bool:
        """Run one pass; return whether a full batch was handled (more may be waiting)."""
        self._persist_fallback()
        channels = self._channels()
        if not channels:
            return False
        rows = self.outbox.deliverable(channels, now=time.time(), limit=batch)
        blocked: set[str] = set()
        for row in rows:
            if self.stop_event.is_set():
                raise DeliveryInterrupted("alert worker stopping")
            if row.channel in blocked:
                continue
            if not self._deliver(row):
                blocked.add(row.channel)
        return len(rows) == batch and len(blocked) < len(channels)

    def _deliver(self, row: Pending) -> bool:
        sender = self.senders[row.channel]
        alert = row.alert.with_count(row.count)
        parts = split_alert(alert, limit=self.message_limit)
        retrying = self.policy.retrying(f"alert to channel {row.channel!r}").copy(sleep=self._sleep)
        try:
            for index in range(min(row.parts_sent, len(parts)), len(parts)):
                retrying(sender.send, alert, parts[index], index, len(parts))
                if index + 1 < len(parts):
                    self.outbox.part_sent(row.id, index + 1)
        except DeliveryInterrupted:
            raise
        except AlertDeliveryError as exc:
            reason = self.redact(str(exc))
            log.error("alert %d to channel %r refused: %s", row.id, row.channel, reason)
            self.outbox.failed(row.id, reason)
            return True
        except Exception as exc:
            reason = self.redact(f"{type(exc).__name__}: {exc}")
            self.outbox.attempt_failed(row.id, reason)
            self._back_off(row.channel, reason, transient=isinstance(exc, TransientGatewayError))
            return False
        self.outbox.sent(row.id, row.count, now=time.time())
        self._failures.pop(row.channel, None)
        return True

    def _back_off(self, channel: str, reason: str, *, transient: bool) -> None:
        failures = self._failures.get(channel, 0) + 1
        self._failures[channel] = failures
        delay = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
        self._backoff_until[channel] = time.monotonic() + delay
        level = logging.WARNING if transient else logging.ERROR
        log.log(level, "alert channel %r failed (%s); next try in %.1fs", channel, reason, delay)

    def _sleep(self, seconds: float) -> None:
        if self.stop_event.wait(seconds):
            raise DeliveryInterrupted("alert worker stopping")

    def _persist_fallback(self) -> None:
        while self.fallback:
            alert, channels = self.fallback[0]
            try:
                self.outbox.add(alert, channels, now=time.time())
            except Exception as exc:
                log.warning("alert outbox still unavailable: %s", self.redact(str(exc)))
                return
            self.fallback.popleft()
