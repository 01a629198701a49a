"""Rebalance schedules: every N minutes (aligned to the epoch) or a five-field cron line.

The cron dialect is the common one: ``minute hour day-of-month month day-of-week``
with ``*``, ``*/n``, ``a-b``, ``a-b/n`` and comma lists; day-of-week 0 or 7 is Sunday.
Times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aifap.core.timeframes import parse_duration

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else (1 if not step_text else -1)
        if step < 1:
            raise ValueError(f"cron {name} step must be a positive integer, was {part!r}")
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"cron {name} range must be a-b, was {part!r}")
            start, stop = int(a), int(b)
        elif body.isdigit():
            start = int(body)
            stop = high if step_text else start
        else:
            raise ValueError(f"cron {name} must be *, a number, a range or a list, was {part!r}")
        if not (low <= start <= stop <= high):
            raise ValueError(f"cron {name} must be within {low}-{high}, was {part!r}")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed five-field cron line."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches(self, when: datetime) -> bool:
        """Tell whether the minute ``when`` falls in is a firing time."""
        if when.minute not in self.minutes or when.hour not in self.hours:
            return False
        if when.month not in self.months:
            return False
        weekday = (when.weekday() + 1) % 7  # cron: Sunday = 0
        day_ok = when.day in self.days
        week_ok = weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and week_ok
        return day_ok or week_ok  # cron's rule when both are restricted

    def next_after(self, when: datetime) -> datetime:
        """Return the first firing minute strictly after ``when``."""
        probe = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60 * 5):
            if self.matches(probe):
                return probe
            probe += timedelta(minutes=1)
        raise ValueError("cron line never fires")


def parse_cron(line: str) -> Cron:
    """Parse ``minute hour day-of-month month day-of-week``; raise ValueError naming the field."""
    parts = line.split()
    if len(parts) != 5:
        raise ValueError(f"cron line must have 5 fields, was {line!r}")
    sets = [_parse_field(p, n, lo, hi) for p, (n, lo, hi) in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When rebalancing ticks: every ``every`` (aligned to multiples since the epoch) or cron."""

    every: timedelta | None = None
    cron: Cron | None = None

    @classmethod
    def from_config(cls, every: str | None, cron: str | None) -> Schedule:
        """Build from ``rebalance_every`` / ``rebalance_cron``."""
        if cron is not None:
            return cls(cron=parse_cron(cron))
        if every is None:
            raise ValueError("give exactly one of rebalance_every / rebalance_cron")
        return cls(every=parse_duration(every))

    def next_after(self, when: datetime) -> datetime:
        """Return the first tick strictly after ``when``."""
        if self.cron is not None:
            return self.cron.next_after(when)
        assert self.every is not None
        step = self.every.total_seconds()
        epoch = when.timestamp()
        ticks = int(epoch // step) + 1
        return datetime.fromtimestamp(ticks * step, tz=when.tzinfo)
