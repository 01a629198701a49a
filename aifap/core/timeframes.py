"""Timeframe strings (``1m``, ``5m``, ``1h``, ``1d``) parsed from our own table.

pandas reads ``'1m'`` as one month, so every part of AIFAP converts timeframes
here. Bars are labelled by their open time and align to exchange boundaries:
multiples of the timeframe since the Unix epoch (00:00 UTC for ``1d``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}


def timeframe_seconds(timeframe: str) -> int:
    """Return the length of ``timeframe`` in seconds, or raise ValueError naming the known ones."""
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except (KeyError, TypeError):
        known = ", ".join(TIMEFRAME_SECONDS)
        raise ValueError(f"timeframe must be one of {known}, was {timeframe!r}") from None


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """Return the length of ``timeframe`` as a pandas Timedelta."""
    return pd.Timedelta(seconds=timeframe_seconds(timeframe))


def timeframe_ms(timeframe: str) -> int:
    """Return the length of ``timeframe`` in milliseconds."""
    return timeframe_seconds(timeframe) * 1000


def floor_time(ts: datetime | pd.Timestamp, timeframe: str) -> pd.Timestamp:
    """Return the open time of the ``timeframe`` bar that contains ``ts`` (UTC)."""
    stamp = pd.Timestamp(ts)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    step = timeframe_seconds(timeframe) * 1_000_000_000
    return pd.Timestamp(stamp.value // step * step, tz="UTC").as_unit("ns")


def is_multiple(coarse: str, base: str) -> bool:
    """Tell whether bars of ``coarse`` can be built from bars of ``base``."""
    return timeframe_seconds(coarse) % timeframe_seconds(base) == 0


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``'720h 0m'``, ``'5m'``, ``'1d 2h'`` or seconds into a timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total = 0.0
    parts = str(text).split()
    if not parts:
        raise ValueError(f"duration must look like '720h 0m' or '5m', was {text!r}")
    for part in parts:
        number, unit = part[:-1], part[-1:]
        if unit not in units:
            raise ValueError(f"duration must look like '720h 0m' or '5m', was {text!r}")
        try:
            total += float(number) * units[unit]
        except ValueError:
            raise ValueError(f"duration must look like '720h 0m' or '5m', was {text!r}") from None
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Format a duration the way the seed's start alert does: ``720h 0m``."""
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60}m"
