import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest

from aifap.core.timeconv import to_ms
from aifap.live.clock import BUSY, SessionClock
from aifap.live.schedule import Schedule, parse_cron

T0 = datetime(2024, 6, 20, 0, 3, 10, tzinfo=UTC)


def test_every_schedule_aligns_to_the_epoch():
    schedule = Schedule.from_config("5m", None)
    assert schedule.next_after(T0) == datetime(2024, 6, 20, 0, 5, tzinfo=UTC)
    assert schedule.next_after(datetime(2024, 6, 20, 0, 5, tzinfo=UTC)) == datetime(
        2024, 6, 20, 0, 10, tzinfo=UTC)


def test_cron_schedule():
    schedule = Schedule.from_config(None, "*/15 1 * * *")
    assert schedule.next_after(T0) == datetime(2024, 6, 20, 1, 0, tzinfo=UTC)
    assert schedule.next_after(datetime(2024, 6, 20, 1, 50, tzinfo=UTC)) == datetime(
        2024, 6, 21, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("line", ["* * *", "60 * * * *", "a * * * *", "*/0 * * * *"])
def test_bad_cron_lines_are_refused(line):
    with pytest.raises(ValueError, match="cron"):
        parse_cron(line)


def test_stepped_clock_moves_only_when_every_slot_is_idle():
    ctx = multiprocessing.get_context("fork")
    clock = SessionClock(ctx, "replay", start=T0, speed=0)
    due = T0 + timedelta(minutes=5)
    assert not clock.advance(due)  # children have not bound their slots yet
    for slot in range(3):
        clock.release(slot)
    assert clock.advance(due)
    assert clock.now() == due
    clock.bind(0)  # this process works: time stands still
    assert not clock.advance(due + timedelta(minutes=5))
    clock._mark(to_ms(due + timedelta(minutes=1)))  # asleep until +1 min
    assert clock.advance(due + timedelta(minutes=5))
    assert clock.now() == due + timedelta(minutes=1)
    assert not clock.advance(due + timedelta(minutes=5), hold=True)
    assert clock.slot_states()["strategy"] != BUSY


def test_stepped_sleep_returns_once_the_parent_advances():
    ctx = multiprocessing.get_context("fork")
    clock = SessionClock(ctx, "replay", start=T0, speed=0)
    stop = ctx.Event()
    child = ctx.Process(target=_sleeper, args=(clock, stop))
    for slot in (1, 2):
        clock.release(slot)
    child.start()
    target = T0 + timedelta(minutes=10)
    while child.is_alive():
        clock.advance(target)
        child.join(0.01)
    assert child.exitcode == 0
    assert clock.now() >= T0 + timedelta(minutes=1)


def _sleeper(clock, stop):
    clock.bind(0)
    ok = clock.sleep_until(T0 + timedelta(minutes=1), stop)
    raise SystemExit(0 if ok and clock.now() == T0 + timedelta(minutes=1) else 1)


def test_speed_replay_runs_faster_than_wall_time():
    ctx = multiprocessing.get_context("fork")
    clock = SessionClock(ctx, "replay", start=T0, speed=3600)
    assert clock.sleep_until(T0 + timedelta(minutes=1))
    assert clock.now() >= T0 + timedelta(minutes=1)
    assert clock.real_seconds(3600) == 1


def test_wall_clock_is_utc_now():
    clock = SessionClock(multiprocessing.get_context("fork"), "wall")
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
    assert clock() == clock.ms() or clock() >= clock.ms() - 5
