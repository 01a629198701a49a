from __future__ import annotations

from datetime import timedelta

import pytest

from aifap.analysis.schedule import make_trigger, summary_lines
from aifap.watch.results import QueryError, decode_cursor, encode_cursor


def test_summary_lines_show_the_core_metrics():
    lines = summary_lines(
        {
            "final_equity": 10123.4,
            "roe": 0.0123,
            "sharpe": 1.5,
            "max_drawdown": -0.052,
            "trades": 7,
        },
        "7d",
    )
    assert lines == [
        "Period: last 7d",
        "PV: 10,123.40",
        "ROE: +1.23%",
        "Sharpe: 1.50",
        "Max Drawdown: -5.20%",
        "Fills: 7",
    ]
    assert "Sharpe: n/a" in summary_lines({"sharpe": None})


def test_triggers_are_apscheduler_interval_or_crontab():
    every = make_trigger(every=timedelta(days=1))
    assert every.interval == timedelta(days=1)
    cron = make_trigger(cron="0 8 * * 1-5")
    assert "hour='8'" in str(cron)
    with pytest.raises(ValueError):
        make_trigger()
    with pytest.raises(ValueError):
        make_trigger(every=timedelta(days=1), cron="0 8 * * *")
    with pytest.raises(ValueError):
        make_trigger(cron="61 * * * *")


def test_cursors_round_trip_and_reject_foreign_text():
    cursor = encode_cursor([1717200000000, "BTCUSDT"])
    assert decode_cursor(cursor, [int, str]) == [1717200000000, "BTCUSDT"]
    for bad in ("xx", encode_cursor([1]), encode_cursor(["a", "b"]) + "!"):
        with pytest.raises(QueryError):
            decode_cursor(bad, [int, str])
