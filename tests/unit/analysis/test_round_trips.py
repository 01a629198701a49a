from __future__ import annotations

import pandas as pd
import pytest

from aifap.analysis.round_trips import extract_round_trips, round_trip_summary


def txn(*rows):
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-06-01", tz="UTC") + pd.Timedelta(hours=i) for i in range(len(rows))]
    )
    return pd.DataFrame(rows, columns=["amount", "price", "symbol"], index=index)


def test_fractional_lots_close_exactly_first_in_first_out():
    trips = extract_round_trips(
        txn((0.1, 100.0, "BTCUSDT"), (0.2, 110.0, "BTCUSDT"), (-0.3, 120.0, "BTCUSDT"))
    )
    assert trips["amount"].tolist() == pytest.approx([0.1, 0.2])
    assert trips["pnl"].tolist() == pytest.approx([2.0, 2.0])
    assert trips["side"].tolist() == ["long", "long"]
    assert trips["duration"].tolist() == [pd.Timedelta(hours=2), pd.Timedelta(hours=1)]


def test_a_flip_closes_the_long_and_opens_a_short():
    trips = extract_round_trips(
        txn(
            (0.5, 10.0, "ETHUSDT"),
            (-0.8, 12.0, "ETHUSDT"),
            (0.3, 11.0, "ETHUSDT"),
            (0.05, 11.0, "ETHUSDT"),
        )
    )
    assert trips[["side", "amount"]].values.tolist() == [["long", 0.5], ["short", 0.3]]
    assert trips["pnl"].tolist() == pytest.approx([1.0, 0.3])
    assert trips["returns"].tolist() == pytest.approx([0.2, 1 / 12])


def test_symbols_are_kept_apart_and_summarised():
    trips = extract_round_trips(txn((1, 1.0, "A"), (2, 5.0, "B"), (-1, 2.0, "A"), (-2, 4.0, "B")))
    summary = round_trip_summary(trips)
    assert summary.loc["all", "round trips"] == 2
    assert summary.loc["A", "win rate"] == 1.0
    assert summary.loc["B", "total PnL"] == pytest.approx(-2.0)


def test_no_transactions_no_round_trips():
    assert extract_round_trips(txn()).empty
    assert round_trip_summary(extract_round_trips(txn((1, 1.0, "A")))).empty
