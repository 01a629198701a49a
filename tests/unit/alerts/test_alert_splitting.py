"""Long alerts split into Discord-sized parts, never truncated."""

from __future__ import annotations

from aifap.alerts.events import diff_snapshots
from aifap.alerts.messages import AlertKind, closed_alert, error_detail_alert, position_alerts
from aifap.alerts.render import TITLE_LIMIT, split_alert
from aifap.alerts.sample import START, position, snapshot


def many_positions(n: int):
    return [
        position(f"COIN{i:03d}USDT", "12.5", "1234.5678", sl="1000", tp="1500") for i in range(n)
    ]


def test_a_short_table_is_one_part():
    (alert,) = position_alerts(diff_snapshots(None, snapshot(*many_positions(3))), trader_label="T")
    assert len(split_alert(alert)) == 1


def test_long_table_splits_at_rows_reopening_the_block_and_repeating_the_header():
    positions = many_positions(120)
    (alert,) = position_alerts(diff_snapshots(None, snapshot(*positions)), trader_label="T")
    parts = split_alert(alert)
    assert len(parts) > 2
    header = alert.table[0]
    rows = []
    for i, part in enumerate(parts, start=1):
        assert len(part.text) <= 2000
        assert part.title == f"🟢 [T] New Positions Opened ({i}/{len(parts)})"
        lines = part.body.splitlines()
        assert lines[0] == "```"
        assert lines[1] == header
        assert lines[-1] == "```"
        rows += lines[2:-1]
    assert rows == list(alert.table[1:])  # every row once, in order, whole


def test_smaller_limits_give_more_parts():
    (alert,) = position_alerts(
        diff_snapshots(None, snapshot(*many_positions(30))), trader_label="T"
    )
    parts = split_alert(alert, limit=500)
    assert all(len(part.text) <= 500 for part in parts)
    assert sum(len(p.body.splitlines()) - 3 for p in parts) == 30


def test_closed_symbol_list_splits_between_symbols_under_the_title_limit():
    symbols = [f"SYMBOL{i:03d}USDT" for i in range(60)]
    parts = split_alert(closed_alert(symbols, trader_label="Trader A"))
    assert len(parts) > 1
    listed = []
    for part in parts:
        assert len(part.title) <= TITLE_LIMIT
        assert part.body == ""
        names = part.title.split(": ", 1)[1].rsplit(" (", 1)[0]
        listed += names.split(", ")
    assert listed == symbols


def test_huge_error_detail_is_cut_into_pieces_not_dropped():
    detail = "Traceback:\n" + "x" * 5000 + "\nValueError: boom"
    alert = error_detail_alert(system_label="Futures", module="m", time=START, detail=detail)
    parts = split_alert(alert)
    assert alert.kind is AlertKind.ERROR_DETAIL
    assert all(len(part.text) <= 2000 for part in parts)
    body = "".join(
        "".join(
            line
            for line in p.body.splitlines()
            if not line.startswith(("Time:", "Module:", "Level:")) and line != "```"
        )
        for p in parts
    )
    assert body == detail.replace("\n", "")
