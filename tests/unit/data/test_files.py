"""Reading bar and funding files: real files in place, and bad input named by file and line."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aifap.core.errors import DataError
from aifap.data.files import (
    parse_bar_filename,
    read_bar_file,
    read_funding_file,
    scan_bar_dir,
    write_bar_file,
)

HEADER = "timestamp,open,high,low,close,volume\n"
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
GOOD = [f"{T0 + i * 60_000},100,101,99,100.5,3\n" for i in range(5)]


def write(tmp_path: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / name
    text = header + "".join(rows)
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def with_row(line: int, row: str) -> list[str]:
    """GOOD with the data row at file line ``line`` (header = line 1) replaced."""
    rows = list(GOOD)
    rows[line - 2] = row
    return rows


def test_good_file_reads_into_a_bar_frame(tmp_path):
    bar_file = read_bar_file(write(tmp_path, "BTCUSDT_1m.csv", GOOD))
    assert (bar_file.symbol, bar_file.timeframe, bar_file.problems) == ("BTCUSDT", "1m", ())
    frame = bar_file.frame
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert frame.index.name == "timestamp"
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert (frame.dtypes == "float64").all()
    assert len(frame) == 5


@pytest.mark.parametrize(
    ("line", "row", "message"),
    [
        (3, f"{T0 + 60_000},100,101,99\n", "line 3: row must have 6 fields"),
        (4, f"{T0 + 120_000},100,abc,99,100,1\n", "line 4: high must be a number, was 'abc'"),
        (2, "2024-01-01,100,101,99,100,1\n", "line 2: timestamp must be an integer"),
        (5, f"{T0 + 180_000},100,101,99,nan,1\n", "line 5: close must be a finite number"),
        (3, f"{T0 + 60_000},0,101,99,100,1\n", "line 3: open must be > 0, was 0.0"),
        (4, f"{T0 + 120_000},100,101,99,100,-1\n", "line 4: volume must be >= 0, was -1.0"),
        (3, f"{T0 + 60_000},100,99.5,99,100,1\n", "line 3: high must be >= max(open, close)"),
        (3, f"{T0 + 60_000},100,101,100.2,100.5,1\n", "line 3: low must be <= min(open, close)"),
        (3, f"{T0 + 60_000},100,98,99,100,1\n", "line 3: high must be >= max(open, close)"),
        (4, f"{T0 + 60_000},100,101,99,100,1\n", "line 4: timestamp must not repeat"),
        (4, f"{T0},100,101,99,100,1\n", "line 4: timestamp must increase strictly"),
        (3, f"{T0 + 30_000},100,101,99,100,1\n", "line 3: timestamp must be a multiple of 60000"),
        (2, f"{T0 // 1000},100,101,99,100,1\n", "line 2: timestamp must be UTC milliseconds"),
    ],
)
def test_bad_row_is_named_by_file_and_line(tmp_path, line, row, message):
    path = write(tmp_path, "ETHUSDT_1m.csv.gz", with_row(line, row))
    with pytest.raises(DataError) as info:
        read_bar_file(path)
    assert str(info.value).startswith(f"ETHUSDT_1m.csv.gz: {message}")


def test_first_bad_line_is_reported_when_several_are_bad(tmp_path):
    rows = with_row(5, f"{T0 + 180_000},100,101,99,100,-1\n")
    rows[1] = f"{T0 + 60_000},100,101,99,100\n"
    with pytest.raises(DataError, match="line 3: row must have 6 fields"):
        read_bar_file(write(tmp_path, "ETHUSDT_1m.csv", rows))


def test_blank_lines_are_skipped_and_keep_line_numbers(tmp_path):
    rows = [*GOOD[:2], "\n", GOOD[2], f"{T0 + 180_000},100,101,99,100,-1\n"]
    with pytest.raises(DataError, match="line 6: volume must be >= 0"):
        read_bar_file(write(tmp_path, "ETHUSDT_1m.csv", rows))


def test_bad_header_is_line_1(tmp_path):
    path = write(tmp_path, "ETHUSDT_1m.csv", GOOD, header="time,o,h,l,c,v\n")
    with pytest.raises(DataError, match=r"ETHUSDT_1m.csv: line 1: header must be timestamp,open"):
        read_bar_file(path)


def test_lenient_mode_keeps_good_rows_and_lists_the_problems(tmp_path):
    rows = with_row(3, f"{T0 + 60_000},100,99,99,100,1\n")
    rows[3] = f"{T0 + 60_000}\n"
    rows.append(GOOD[-1])  # a duplicate of line 6
    bar_file = read_bar_file(write(tmp_path, "ETHUSDT_1m.csv", rows), strict=False)
    assert [p.line for p in bar_file.problems] == [3, 5, 7]
    assert "high must be >= max(open, close)" in str(bar_file.problems[0])
    assert bar_file.problems[1].rule.startswith("row must have 6 fields")
    assert bar_file.problems[2].rule == "timestamp must not repeat"
    assert bar_file.frame.index.asi8.tolist() == [
        pd.Timestamp(T0 + i * 60_000, unit="ms").value for i in (0, 2, 4)
    ]


def test_file_name_must_name_symbol_and_known_timeframe(tmp_path):
    assert parse_bar_filename("data/XRPUSDT_funding.csv.gz") == ("XRPUSDT", "funding")
    assert parse_bar_filename("btcusdt_4h.csv") == ("BTCUSDT", "4h")
    with pytest.raises(DataError, match=r"BTCUSDT_7m.csv: file name must be SYMBOL_TIMEFRAME"):
        parse_bar_filename("BTCUSDT_7m.csv")


def test_write_then_read_round_trips(tmp_path):
    frame = read_bar_file(write(tmp_path, "SOLUSDT_1m.csv", GOOD)).frame
    (tmp_path / "out").mkdir()
    again = read_bar_file(write_bar_file(tmp_path / "out" / "SOLUSDT_1m.csv.gz", frame)).frame
    pd.testing.assert_frame_equal(frame, again)


def test_funding_file_rules(tmp_path):
    header = "timestamp,rate\n"
    good = write(
        tmp_path,
        "XRPUSDT_funding.csv",
        [f"{T0},0.0001\n", f"{T0 + 28_800_000},-2e-4\n"],
        header=header,
    )
    rates = read_funding_file(good).rates
    assert rates.name == "rate"
    assert rates.tolist() == [0.0001, -0.0002]
    bad = write(
        tmp_path, "XRPUSDT_funding.csv.gz", [f"{T0},0.0001\n", f"{T0},0.0002\n"], header=header
    )
    with pytest.raises(
        DataError, match=r"XRPUSDT_funding\.csv\.gz: line 3: timestamp must not repeat"
    ):
        read_funding_file(bad)
    with pytest.raises(DataError, match="a funding file"):
        read_bar_file(good)


@pytest.mark.shared_data
def test_scan_finds_every_shared_file_with_its_market(shared_data):
    entries = scan_bar_dir(shared_data)
    found = {(e.symbol, e.timeframe, e.market) for e in entries}
    assert ("BTCUSDT", "1m", "futures") in found
    assert ("XRPUSDT", "funding", "futures") in found
    assert ("ADABTC", "5m", "spot") in found
    assert len(entries) == 16  # README.md is not a bar file


@pytest.mark.shared_data
def test_shared_files_read_with_their_documented_row_counts(shared_data):
    futures = shared_data / "ohlcv" / "futures"
    btc = read_bar_file(futures / "BTCUSDT_1m.csv.gz")
    assert len(btc.frame) == 45_031
    assert btc.frame.index[0] == pd.Timestamp("2021-12-31 23:01", tz="UTC")
    ada = read_bar_file(shared_data / "ohlcv" / "spot" / "ADABTC_5m.csv.gz").frame
    assert len(ada) == 5_720
    assert (np.diff(ada.index.asi8) // 300_000_000_000).max() == 34  # the 33-bar hole
    funding = read_funding_file(futures / "XRPUSDT_funding.csv.gz").rates
    assert len(funding) == 91


def test_not_a_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="data: must be a directory"):
        scan_bar_dir(tmp_path / "missing")
