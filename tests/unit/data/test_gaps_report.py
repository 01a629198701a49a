"""Gap reports: holes between stored bars, and ranges the exchange confirmed empty."""

from __future__ import annotations

import pandas as pd
import pytest

from aifap.data.gaps import Gap, gap_reports, record_empty, series_gaps, split_confirmed
from aifap.data.importer import import_paths
from aifap.data.series import SeriesKey, ensure_schema, find_series_id
from aifap.data.writers import write_bars

MIN = 60_000


@pytest.mark.shared_data
def test_shared_data_gaps_match_the_readme(db_url, shared_data):
    spot = shared_data / "ohlcv" / "spot"
    import_paths(db_url, [spot / "ADABTC_5m.csv.gz", spot / "XRPETH_1m.csv.gz",
                          spot / "ETHBTC_5m.csv.gz"], exchange="binance")
    reports = {r.key.symbol + "_" + r.key.timeframe: r for r in gap_reports(db_url)}
    assert (reports["ADABTC_5m"].missing, reports["ADABTC_5m"].largest) == (40, 33)
    assert (reports["XRPETH_1m"].missing, reports["XRPETH_1m"].largest) == (1091, 8)
    assert reports["ETHBTC_5m"].gaps == ()
    assert reports["ADABTC_5m"].stored == 5720


def test_confirmed_empty_ranges_are_reported_apart(db_url):
    index = pd.date_range("2026-01-01", periods=20, freq="1min", tz="UTC")
    frame = pd.DataFrame(dict.fromkeys(("open", "high", "low", "close", "volume"), 1.0),
                         index=index).drop(index[5:12])
    key = SeriesKey("bitget", "futures", "BTCUSDT", "1m")
    engine = ensure_schema(db_url)
    with engine.begin() as conn:
        write_bars(conn, key, frame)
        sid = find_series_id(conn, key)
        start = int(index[5].value // 1_000_000)
        record_empty(conn, sid, start + 2 * MIN, start + 4 * MIN)
    with engine.connect() as conn:
        assert all(not g.confirmed_empty for g in series_gaps(conn, sid, "1m"))
    with engine.begin() as conn:
        record_empty(conn, sid, start + 2 * MIN, start + 4 * MIN)  # a second run: confirmed
    with engine.connect() as conn:
        gaps = series_gaps(conn, sid, "1m")
    assert [(g.bars, g.confirmed_empty) for g in gaps] == [(2, False), (2, True), (3, False)]
    (report,) = gap_reports(db_url, symbols=["BTCUSDT"])
    assert (report.missing, report.confirmed_empty, report.largest) == (5, 2, 3)


def test_split_confirmed_clips_ranges_to_the_hole():
    assert split_confirmed(0, 10, 1, [(-5, 2), (4, 6), (9, 20)]) == [
        Gap(0, 2, 2, True), Gap(2, 4, 2), Gap(4, 6, 2, True), Gap(6, 9, 3), Gap(9, 10, 1, True)
    ]
    assert split_confirmed(0, 10, 1, []) == [Gap(0, 10, 10)]
