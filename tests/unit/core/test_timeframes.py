from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from aifap.core.timeframes import (
    floor_time,
    format_duration,
    is_multiple,
    parse_duration,
    timeframe_delta,
    timeframe_seconds,
)


def test_minutes_are_minutes_not_months():
    assert timeframe_seconds("1m") == 60
    assert timeframe_delta("4h") == pd.Timedelta(hours=4)


def test_unknown_timeframes_list_the_known_ones():
    with pytest.raises(ValueError, match=r"timeframe must be one of 1m, .*was '7m'"):
        timeframe_seconds("7m")


def test_floor_aligns_to_exchange_boundaries():
    ts = datetime(2026, 1, 5, 13, 47, 31, tzinfo=UTC)
    assert floor_time(ts, "5m") == pd.Timestamp("2026-01-05 13:45", tz="UTC")
    assert floor_time(ts, "4h") == pd.Timestamp("2026-01-05 12:00", tz="UTC")
    assert floor_time(ts, "1d") == pd.Timestamp("2026-01-05", tz="UTC")
    assert is_multiple("15m", "5m")
    assert not is_multiple("5m", "3m")


def test_durations_in_the_seeds_format_round_trip():
    assert parse_duration("720h 0m") == timedelta(hours=720)
    assert parse_duration("1d 2h") == timedelta(hours=26)
    assert format_duration(timedelta(hours=720)) == "720h 0m"
    assert format_duration(timedelta(minutes=95)) == "1h 35m"
    with pytest.raises(ValueError, match="duration must look like"):
        parse_duration("forever")
