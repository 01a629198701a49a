"""The outbox on both backends: ordering, coalescing windows, count handover, config."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from aifap.alerts.config import AlertConfig, ChannelConfig
from aifap.alerts.messages import AlertKind, error_alert, error_detail_alert
from aifap.alerts.outbox import HELD, PENDING, SENT, Outbox
from aifap.alerts.sample import START
from aifap.alerts.service import AlertService, send_discord_alert, set_default_service
from aifap.db import make_engine, migrate


@pytest.fixture
def outbox(db_url: str) -> Outbox:
    migrate(db_url)
    return Outbox(make_engine(db_url), "unit")


def err(module: str = "m"):
    return error_alert(system_label="Futures", module=module, time=START, coalesce_key=module)


def test_identical_errors_fold_into_the_unsent_row(outbox):
    ids = [outbox.add(err(), ["a"], now=100.0 + i, window=60)[0] for i in range(3)]
    assert len(set(ids)) == 1
    (row,) = outbox.deliverable(["a"], now=110.0)
    assert row.count == 3
    assert row.alert.with_count(row.count).rendered_title.endswith("Partial Failure (3)")


def test_no_window_means_no_coalescing(outbox):
    ids = [outbox.add(err(), ["a"], now=100.0)[0] for _ in range(2)]
    assert ids[0] != ids[1]


def test_a_repeat_after_a_send_is_held_until_the_window_closes(outbox):
    (first,) = outbox.add(err(), ["a"], now=100.0, window=60)
    assert outbox.sent(first, 1, now=101.0)
    (held,) = outbox.add(err(), ["a"], now=120.0, window=60)
    outbox.add(err(), ["a"], now=130.0, window=60)
    assert outbox.deliverable(["a"], now=150.0) == []
    (due,) = outbox.deliverable(["a"], now=161.5)
    assert (due.id, due.count) == (held, 2)
    (later,) = outbox.add(err(), ["a"], now=500.0, window=60)
    assert later == held  # still unsent: folds in
    statuses = [row.status for row in outbox.rows()]
    assert statuses == [SENT, HELD]


def test_occurrences_added_while_sending_are_reported_next(outbox):
    (row_id,) = outbox.add(err(), ["a"], now=100.0, window=60)
    (row,) = outbox.deliverable(["a"], now=100.0)
    outbox.add(err(), ["a"], now=101.0, window=60)  # arrives mid-send
    assert not outbox.sent(row_id, row.count, now=102.0)
    (again,) = outbox.deliverable(["a"], now=103.0)
    assert (again.id, again.count, again.parts_sent) == (row_id, 1, 0)


def test_public_and_admin_rows_do_not_fold_together(outbox):
    detail = error_detail_alert(
        system_label="Futures", module="m", time=START, detail="x", coalesce_key="m"
    )
    outbox.add(err(), ["a"], now=100.0, window=60)
    outbox.add(detail, ["a"], now=100.0, window=60)
    kinds = [row.alert.kind for row in outbox.deliverable(["a"], now=100.0)]
    assert kinds == [AlertKind.ERROR, AlertKind.ERROR_DETAIL]


def test_rows_come_back_in_id_order_per_session(outbox, db_url):
    other = Outbox(outbox.engine, "other")
    for i in range(3):
        outbox.add(err(f"m{i}"), ["a", "b"], now=100.0)
        other.add(err("x"), ["a"], now=100.0)
    rows = outbox.deliverable(["a", "b"], now=100.0)
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert [r.channel for r in rows] == ["a", "b"] * 3
    assert outbox.unsent() == 6
    assert {row.status for row in outbox.rows()} == {PENDING}


def test_enqueue_only_service_and_seed_shape(db_url):
    config = AlertConfig(
        session_id="shape", channels={"log": ChannelConfig(sender="console", admin=True)}
    )
    service = AlertService(config, db_url, deliver=False).start()
    set_default_service(service)
    try:
        ids = send_discord_alert("trader_01", "Critical", "order refused: margin", "auto_trade")
    finally:
        set_default_service(None)
    assert len(ids) == 2
    public, admin = service.outbox.rows()
    assert "auto_trade Critical Failure" in public.payload
    assert "order refused: margin" not in public.payload
    assert "order refused: margin" in admin.payload
    assert "User: trader_01" in admin.payload
    assert "Session: shape" in admin.payload  # one admin channel serves many sessions
    assert "Session:" not in public.payload  # the public alert keeps the seed's lines
    assert send_discord_alert("u", "Critical", "no service", "m") == []


def test_channel_config_names_the_rule():
    with pytest.raises(ValidationError, match="channel url is required for the discord sender"):
        ChannelConfig(sender="discord")
    with pytest.raises(ValidationError, match="display_timezone must be an IANA zone"):
        AlertConfig(display_timezone="Nowhere/Land")


def test_webhook_url_comes_from_the_environment(monkeypatch):
    from aifap.settings import get_settings

    monkeypatch.setenv("AIFAP_DISCORD_WEBHOOK_URL", "https://discord.test/api/webhooks/1/tok-xyz")
    get_settings.cache_clear()
    config = AlertConfig.from_settings(session_id="env")
    assert set(config.channels) == {"console", "discord"}
    assert config.channels["discord"].url == SecretStr(
        "https://discord.test/api/webhooks/1/tok-xyz"
    )
    assert "tok-xyz" not in repr(config)


def test_an_unavailable_outbox_keeps_the_alert_in_memory_and_never_raises(tmp_path, caplog):
    config = AlertConfig(
        session_id="down", channels={"log": ChannelConfig(sender="console")}, poll_interval=0.05
    )
    service = AlertService(config, f"sqlite:///{tmp_path / 'r.db'}").start()
    real_add = service.outbox.add
    calls = []

    def flaky_add(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("database is down")
        return real_add(*args, **kwargs)

    service.outbox.add = flaky_add
    try:
        assert service.error("m", "boom") == []  # kept in memory, no exception
        assert service.flush(10)
    finally:
        service.stop(1)
    assert [row.status for row in service.outbox.rows()] == [SENT]
    assert "alert kept in memory" in caplog.text
