"""The emulator's clock: wall time by default, or a manual/replay clock injected by tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from aifap.core.timeconv import from_ms
from aifap.core.timeconv import to_ms as datetime_to_ms

ClockFn = Callable[[], int]
"""A clock returns the current time in milliseconds since the Unix epoch (UTC)."""


def to_ms(value: datetime | int | float | str) -> int:
    """Convert a datetime (naive = UTC), an ISO string or epoch milliseconds to epoch ms."""
    if isinstance(value, datetime):
        return datetime_to_ms(value)
    if isinstance(value, str):
        return to_ms(datetime.fromisoformat(value))
    return int(value)


def system_clock() -> int:
    """Return the wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to (``set`` / ``advance``); thread-safe.

    Args:
        start: the initial time (datetime, ISO string or epoch ms).
    """

    def __init__(self, start: datetime | int | str) -> None:
        self._ms = to_ms(start)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """Return the current time in epoch ms."""
        with self._lock:
            return self._ms

    def set(self, when: datetime | int | str) -> None:
        """Move the clock to ``when`` (it may go backwards; the emulator never does)."""
        with self._lock:
            self._ms = to_ms(when)

    def advance(self, delta: timedelta | float) -> int:
        """Move the clock forward by ``delta`` (a timedelta or seconds); return the new ms."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        with self._lock:
            self._ms += round(seconds * 1000)
            return self._ms

    @property
    def now(self) -> datetime:
        """The clock's time as a UTC datetime."""
        return from_ms(self())


class ReplayClock:
    """A clock that starts at ``start`` and runs ``speed`` times faster than wall time.

    Args:
        start: the emulated time at construction.
        speed: emulated seconds per wall second (1 = real time, 60 = a minute per second).
    """

    def __init__(self, start: datetime | int | str, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be > 0, was {speed}")
        self._start = to_ms(start)
        self._wall = time.monotonic()
        self.speed = speed

    def __call__(self) -> int:
        """Return the emulated time in epoch ms."""
        return self._start + int((time.monotonic() - self._wall) * 1000 * self.speed)
