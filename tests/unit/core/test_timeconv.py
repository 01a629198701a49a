from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from aifap.core.timeconv import EPOCH, from_ms, to_ms


def test_epoch_is_zero():
    assert to_ms(EPOCH) == 0
    assert from_ms(0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_naive_datetime_is_utc():
    assert to_ms(datetime(2024, 7, 1)) == 1_719_792_000_000  # noqa: DTZ001


def test_other_timezone_converts_to_the_same_instant():
    plus_two = timezone(timedelta(hours=2))
    assert to_ms(datetime(2024, 7, 1, 2, tzinfo=plus_two)) == 1_719_792_000_000


def test_sub_millisecond_part_rounds_down():
    # float arithmetic would give 1719791999999.9998 and int() one millisecond too few
    when = datetime(2024, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    assert to_ms(when) == 1_719_791_999_999


@given(st.integers(min_value=-(10**12), max_value=10**14))
def test_round_trip_is_exact(ms):
    when = from_ms(ms)
    assert when.tzinfo is UTC
    assert to_ms(when) == ms
