"""Epoch milliseconds ↔ UTC datetimes: the one conversion every layer uses.

Exact integer arithmetic (no float ``timestamp() * 1000``): a datetime converts to the
millisecond it falls in (floor), and a millisecond converts back to that same instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(when: datetime) -> int:
    """Return the epoch milliseconds of a datetime (naive means UTC), rounded down."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """Return the UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=int(ms))
