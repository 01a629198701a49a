"""Delivery against a local fake Discord: rate limits, errors, stalls, restarts, order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from helpers.processes import wait_until
from pydantic import SecretStr

from aifap.alerts import AlertConfig, AlertService, ChannelConfig
from aifap.alerts.outbox import FAILED, PENDING, SENT
from aifap.retry import RetryPolicy

DURATION = timedelta(hours=720)
FAST_POLICY = RetryPolicy(
    max_attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0.01, max_elapsed=None
)




@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"


@pytest.fixture
def make_service() -> Iterator[Callable[..., AlertService]]:
    started: list[AlertService] = []

    def make(
        db_url: str, urls: dict[str, str], *, session: str = "s1", timeout: float = 2.0, **values
    ) -> AlertService:
        channels = {
            name: ChannelConfig(sender="discord", url=SecretStr(url), timeout=timeout)
            for name, url in urls.items()
        }
        defaults = {
            "session_id": session,
            "channels": channels,
            "redeliver_backoff": 0.05,
            "max_redeliver_backoff": 0.2,
            "poll_interval": 0.05,
            "coalesce_window": 0,
        }
        config = AlertConfig(**{**defaults, **values})
        service = AlertService(config, db_url, policy=FAST_POLICY).start()
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop(timeout=0.5)


def strategies(bodies: list[dict]) -> list[str]:
    out = []
    for body in bodies:
        for line in body["embeds"][0].get("description", "").splitlines():
            if line.startswith("Strategy: "):
                out.append(line.removeprefix("Strategy: "))
    return out


def test_429_waits_for_retry_after_then_delivers(fake_discord, sqlite_url, make_service):
    fake_discord.script("a", ("429", 0.3))
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    service.system_started(strategy="s0", environment="test", duration=DURATION)
    assert service.flush(10)
    first, second = fake_discord.arrivals("a")
    assert second - first >= 0.29
    assert strategies(fake_discord.delivered("a")) == ["s0"]


def test_bucket_headers_hold_the_next_request_until_reset(fake_discord, sqlite_url, make_service):
    fake_discord.script("a", ("bucket", 0.4))
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    for i in range(2):
        service.system_started(strategy=f"s{i}", environment="test", duration=DURATION)
    assert service.flush(10)
    first, second = fake_discord.arrivals("a")
    assert second - first >= 0.39
    assert strategies(fake_discord.delivered("a")) == ["s0", "s1"]


def test_server_errors_are_retried_and_delivered_once(fake_discord, sqlite_url, make_service):
    fake_discord.script("a", ("500", 0), ("500", 0), ("500", 0), ("500", 0))
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    service.system_started(strategy="s0", environment="test", duration=DURATION)
    assert service.flush(10)
    assert strategies(fake_discord.delivered("a")) == ["s0"]
    assert len(fake_discord.arrivals("a")) == 5
    (row,) = service.outbox.rows()
    assert row.status == SENT
    assert row.attempts >= 1


def test_refused_message_is_kept_as_failed_and_later_alerts_flow(
    fake_discord, sqlite_url, make_service
):
    fake_discord.script("a", ("400", 0))
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    for i in range(2):
        service.system_started(strategy=f"s{i}", environment="test", duration=DURATION)
    assert service.flush(10)
    assert [row.status for row in service.outbox.rows()] == [FAILED, SENT]
    assert strategies(fake_discord.delivered("a")) == ["s1"]


def test_enqueue_returns_at_once_while_the_endpoint_stalls(fake_discord, db_url, make_service):
    fake_discord.script("a", ("stall", 60))
    service = make_service(db_url, {"a": fake_discord.url("a")}, timeout=60)
    service.system_started(strategy="s0", environment="test", duration=DURATION)
    assert wait_until(lambda: len(fake_discord.arrivals("a")) == 1)  # the sender is stuck

    for i in range(1, 101):  # the trading loop: had a call waited for the send, it would
        service.system_started(strategy=f"s{i}", environment="test", duration=DURATION)

    # ... still be blocked: the endpoint holds its first request until released
    assert not fake_discord.release.is_set()
    assert len(fake_discord.arrivals("a")) == 1  # nothing else went out meanwhile
    assert len(service.outbox.rows()) == 101  # every alert committed before sending
    fake_discord.release.set()
    assert service.flush(30)
    assert strategies(fake_discord.delivered("a")) == [f"s{i}" for i in range(101)]


def test_slow_endpoint_gets_everything_in_order(fake_discord, sqlite_url, make_service):
    fake_discord.script("a", *[("slow", 0.1)] * 5)
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    for i in range(5):  # enqueueing never waits for a send (see the stalled-endpoint test)
        service.system_started(strategy=f"s{i}", environment="test", duration=DURATION)
    assert service.flush(10)
    assert strategies(fake_discord.delivered("a")) == [f"s{i}" for i in range(5)]


def test_dead_endpoint_keeps_alerts_and_a_restart_delivers_them(
    fake_discord, dead_url: str, db_url, make_service
):
    down = make_service(db_url, {"a": dead_url}, session="restart")
    for i in range(5):
        down.system_started(strategy=f"s{i}", environment="test", duration=DURATION)
    assert not down.flush(0.5)
    assert not down.stop(timeout=0.2)
    assert [row.status for row in down.outbox.rows()] == [PENDING] * 5
    assert all(row.attempts >= 1 for row in down.outbox.rows()[:1])

    up = make_service(db_url, {"a": fake_discord.url("a")}, session="restart")
    assert up.flush(10)
    assert strategies(fake_discord.delivered("a")) == [f"s{i}" for i in range(5)]
    assert [row.status for row in up.outbox.rows()] == [SENT] * 5


def test_a_failing_channel_keeps_its_order_and_does_not_hold_back_others(
    fake_discord, sqlite_url, make_service
):
    fake_discord.script("b", *[("500", 0)] * 6)  # two full retry rounds
    service = make_service(sqlite_url, {"a": fake_discord.url("a"), "b": fake_discord.url("b")})
    for i in range(4):
        service.system_started(strategy=f"s{i}", environment="test", duration=DURATION)
    assert wait_until(lambda: len(fake_discord.delivered("a")) == 4)
    assert service.flush(10)
    expected = [f"s{i}" for i in range(4)]
    assert strategies(fake_discord.delivered("a")) == expected
    assert strategies(fake_discord.delivered("b")) == expected


def test_identical_errors_are_coalesced_with_a_count(fake_discord, db_url, make_service):
    fake_discord.script("a", ("stall", 60))
    service = make_service(db_url, {"a": fake_discord.url("a")}, coalesce_window=60, timeout=60)
    service.system_started(strategy="s0", environment="test", duration=DURATION)
    assert wait_until(lambda: len(fake_discord.arrivals("a")) == 1)
    for _ in range(3):
        service.error("StackFuturesIndicatorResult", RuntimeError("indicator frame empty"))
    service.error("OtherModule", RuntimeError("indicator frame empty"))
    fake_discord.release.set()
    assert service.flush(10)
    titles = [body["embeds"][0]["title"] for body in fake_discord.delivered("a")]
    assert titles[1:] == [
        "🚨 [Futures] StackFuturesIndicatorResult Partial Failure (3)",
        "🚨 [Futures] OtherModule Partial Failure (1)",
    ]
    # a repeat inside the window after a send is held, then reported on flush
    service.error("StackFuturesIndicatorResult", RuntimeError("indicator frame empty"))
    # an alert committed after the repeat: once it is delivered, the worker has passed
    # the repeat and held it
    service.system_started(strategy="after-the-repeat", environment="test", duration=DURATION)
    assert wait_until(lambda: "after-the-repeat" in strategies(fake_discord.delivered("a")))
    assert len(fake_discord.delivered("a")) == 4
    assert service.flush(10)
    assert fake_discord.delivered("a")[-1]["embeds"][0]["title"].endswith("Partial Failure (1)")


def test_critical_alerts_flushes_and_returns_exit_code(fake_discord, sqlite_url, make_service):
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    try:
        raise ConnectionError("exchange unreachable after retries")
    except ConnectionError as exc:
        code = service.critical("auto_trade", exc, flush_timeout=10)
    assert code == 1
    (body,) = fake_discord.delivered("a")
    embed = body["embeds"][0]
    assert embed["title"] == "🚨 [Futures] auto_trade Critical Failure (1)"
    assert embed["color"] == 0xA12D2F
    assert embed["description"].splitlines()[1:] == [
        "Module: auto_trade",
        "An issue occurred. Admin has been notified.",
    ]
    assert "exchange unreachable" not in str(body)


def test_stop_with_a_stalled_endpoint_is_bounded(fake_discord, sqlite_url, make_service):
    fake_discord.script("a", ("stall", 60))
    service = make_service(sqlite_url, {"a": fake_discord.url("a")})
    service.system_started(strategy="s0", environment="test", duration=DURATION)
    # False: the stop gave up on the stalled send instead of waiting for it to be delivered
    assert not service.stop(timeout=0.3)
