"""The number-formatting rule and snapshot diffs, case by case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from aifap.alerts.events import diff_snapshots, position_rows, update_rows
from aifap.alerts.formatting import (
    change,
    entry_decimals,
    format_fee,
    format_size,
    format_stop,
    format_time,
    plain,
    render_table,
)
from aifap.alerts.messages import AlertKind, position_alerts
from aifap.alerts.sample import market, position, snapshot
from aifap.core.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "text"),
    [("133", "133"), ("0.40", "0.4"), ("1E+2", "100"), ("0.00010", "0.0001"), ("0", "0")],
)
def test_plain_numbers_have_no_trailing_zeros_or_exponent(value, text):
    assert plain(D(value)) == text


def test_size_is_absolute_and_rounded_down_to_the_amount_step():
    assert format_size(D("-0.4")) == "0.4"
    assert format_size(D("0.12345"), market("BTCUSDT", "0.1", "0.001")) == "0.123"


def test_stops_round_to_the_price_step_and_blank_when_unset():
    assert format_stop(None) == ""
    assert format_stop(D("69781.24"), market("BTCUSDT", "0.1")) == "69781.2"
    assert format_stop(D("93.910")) == "93.91"


def test_zero_funding_fee_is_blank():
    assert format_fee(D(0)) == ""
    assert format_fee(D(0), blank_zero=False) == "0"
    assert format_fee(D("-0.0019")) == "-0.0019"


def test_entry_decimals_follow_the_market_or_are_shared_by_the_column():
    doge = position("DOGEUSDT", "1", "0.12278")
    btc = position("BTCUSDT", "1", "87200")
    xrp = position("XRPUSDT", "1", "1.85")
    decimals = entry_decimals([doge, btc, xrp], {"XRPUSDT": market("XRPUSDT", "0.0001")})
    assert decimals == {"DOGEUSDT": 5, "BTCUSDT": 5, "XRPUSDT": 4}
    assert entry_decimals([btc]) == {"BTCUSDT": 1}  # 87200.0, as a float column prints


def test_entry_decimals_are_capped_without_market_information():
    odd = position("ODDUSDT", "1", "1.123456789012")
    assert position_rows([odd])[0][3] == "1.12345679"


def test_change_shows_old_arrow_new_and_dashes_for_missing():
    assert change("1.5", "1.5") == "1.5"
    assert change("1.5", "1.6") == "1.5 -> 1.6"
    assert change("", "1.6") == "- -> 1.6"


def test_updated_row_marks_every_changed_column():
    old = position("XRPUSDT", "3", "1.85", sl="1.4801")
    new = replace(old, size=D(5), entry_price=D("1.87"), stop_loss=None, take_profit=D("2"))
    (row,) = update_rows([(old, new)])
    assert row == ["XRPUSDT", "long", "3 -> 5", "1.85 -> 1.87", "1.4801 -> -", "- -> 2", ""]


def test_side_flip_is_an_update():
    old = position("ETHUSDT", "1", "3000")
    (row,) = update_rows([(old, replace(old, size=D(-1)))])
    assert row[1] == "long -> short"


def test_mark_price_moves_are_no_event():
    old = position("ETHUSDT", "1", "3000")
    changes = diff_snapshots(snapshot(old), snapshot(old.marked(D(3100))))
    assert changes.empty


def test_opened_added_updated_closed_are_told_apart():
    a, b, c = (
        position("A1USDT", "1", "1"),
        position("B1USDT", "1", "2"),
        position("C1USDT", "1", "3"),
    )
    changes = diff_snapshots(snapshot(a, b), snapshot(replace(b, take_profit=D(3)), c))
    kinds = [alert.kind for alert in position_alerts(changes, trader_label="T")]
    assert kinds == [
        AlertKind.POSITIONS_CLOSED,
        AlertKind.POSITIONS_ADDED,
        AlertKind.POSITIONS_UPDATED,
    ]
    first = diff_snapshots(snapshot(), snapshot(a))
    assert [x.kind for x in position_alerts(first, trader_label="T")] == [
        AlertKind.POSITIONS_OPENED
    ]


def test_table_rows_must_match_the_columns():
    with pytest.raises(ValueError, match="table row 0 must have 7 cells, was 2"):
        render_table([["A", "B"]])


def test_times_are_shown_in_the_display_timezone():
    moment = datetime(2025, 12, 30, 0, 7, tzinfo=UTC)
    assert format_time(moment, "Asia/Seoul") == "2025-12-30 09:07 +0900"
    assert format_time(moment.replace(tzinfo=None)) == "2025-12-30 00:07 +0000"
    with pytest.raises(ConfigError, match="display_timezone must be an IANA zone"):
        format_time(moment, "Mars/Olympus")
