"""Importing and exporting bar files on SQLite and PostgreSQL, on the real shared data."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from aifap.data.exporter import export_series
from aifap.data.importer import import_paths
from aifap.data.reads import fingerprint
from aifap.data.series import ensure_schema
from aifap.data.store import StoreBarSource

GOOD = """timestamp,open,high,low,close,volume
1767225600000,100.0,101.0,99.0,100.5,10.0
1767225660000,100.5,102.0,100.0,101.5,12.0
1767225720000,101.5,101.8,101.0,101.2,8.0
"""


LATER = "1767225840000,101.0,101.5,100.5,101.0,1.0\n"


def snapshot(url: str) -> tuple[int, str]:
    with ensure_schema(url).connect() as conn:
        return fingerprint(conn)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.shared_data
def test_shared_data_imports_and_reimports_without_change(db_url, shared_data):
    report = import_paths(db_url, [shared_data / "ohlcv"], exchange="binance")
    assert report.failed == []
    assert len(report.loaded) == 16
    by_name = {o.path.name: o for o in report.loaded}
    assert by_name["BTCUSDT_1m.csv.gz"].rows == 45_031
    assert by_name["ADABTC_5m.csv.gz"].market == "spot"
    assert by_name["XRPUSDT_funding.csv.gz"].rows == 91
    before = snapshot(db_url)
    again = import_paths(db_url, [shared_data / "ohlcv"], exchange="binance")
    assert sum(o.written for o in again.loaded if o.timeframe != "funding") == 0
    assert snapshot(db_url) == before
    source = StoreBarSource(db_url, exchange="binance", market="spot")
    assert len(source.bars("ADABTC", "5m")) == 5_720
    funding = StoreBarSource(db_url, exchange="binance", market="futures").funding("XRPUSDT")
    assert len(funding) == 91


@pytest.mark.shared_data
def test_export_round_trips_the_shared_files(db_url, shared_data, tmp_path):
    import_paths(db_url, [shared_data / "ohlcv"], exchange="binance")
    written = export_series(db_url, tmp_path, exchange="binance")
    assert len(written) == 16
    for path in written:
        original = shared_data / "ohlcv" / path.relative_to(tmp_path)
        assert gzip.decompress(path.read_bytes()) == gzip.decompress(original.read_bytes()), path
    fresh = db_url + "_2" if db_url.startswith("sqlite") else None
    if fresh:
        import_paths(fresh, [tmp_path], exchange="binance")
        assert snapshot(fresh) == snapshot(db_url)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("1767225780000,101.2,oops,101.0,101.3,9.0", "high must be a number"),
        ("1767225720000,101.2,101.5,101.0,101.3,9.0", "timestamp must not repeat"),
        ("1767225600000,101.2,101.5,101.0,101.3,9.0", "timestamp must increase strictly"),
        ("1767225780000,-101.2,101.5,101.0,101.3,9.0", "open must be > 0"),
        ("1767225780000,101.2,100.5,101.0,101.3,9.0", "high must be >= max(open, close)"),
        ("1767225780000,101.2,101.5,101.0", "row must have 6 fields"),
    ],
)
def test_a_bad_file_is_named_with_its_line_and_the_others_still_load(db_url, tmp_path, line, rule):
    write(tmp_path / "in" / "ETHUSDT_1m.csv", GOOD)
    write(tmp_path / "in" / "BTCUSDT_1m.csv.gz", GOOD + line + "\n" + LATER)
    report = import_paths(db_url, [tmp_path / "in"], exchange="bitget")
    assert [o.symbol for o in report.loaded] == ["ETHUSDT"]
    (failed,) = report.failed
    assert failed.error.startswith("BTCUSDT_1m.csv.gz: line 5: " + rule)
    source = StoreBarSource(db_url)
    assert source.symbols() == ["ETHUSDT"]  # nothing of the bad file was written
    assert len(source.bars("ETHUSDT")) == 3


def test_skip_bad_lines_loads_the_good_ones(db_url, tmp_path):
    bad = GOOD + "1767225780000,101.2,100.5,101.0,101.3,9.0\n1767225840000,1,1,1,1,1\n"
    write(tmp_path / "BTCUSDT_1m.csv", bad)
    report = import_paths(db_url, [tmp_path], exchange="bitget", skip_bad_lines=True)
    assert report.loaded[0].rows == 4
    assert len(StoreBarSource(db_url).bars("BTCUSDT")) == 4


def test_market_comes_from_the_directory_or_the_option(db_url, tmp_path):
    write(tmp_path / "spot" / "ETHBTC_1m.csv", GOOD)
    write(tmp_path / "BTCUSDT_1m.csv", GOOD)
    files = [tmp_path / "spot" / "ETHBTC_1m.csv", tmp_path / "BTCUSDT_1m.csv"]
    report = import_paths(db_url, files, exchange="bitget")
    assert [o.market for o in report.outcomes] == ["spot", "futures"]
    forced = import_paths(db_url, [tmp_path / "spot"], exchange="bitget", market="futures")
    assert forced.outcomes[0].market == "futures"


def test_unknown_paths_and_bad_names_are_errors(db_url, tmp_path):
    from aifap.core.errors import DataError

    with pytest.raises(DataError, match="existing file or directory"):
        import_paths(db_url, [tmp_path / "missing"], exchange="bitget")
    with pytest.raises(DataError, match="file name must be"):
        import_paths(db_url, [write(tmp_path / "prices.csv", GOOD)], exchange="bitget")
    with pytest.raises(DataError, match="exchange must be a lower-case name"):
        import_paths(db_url, [tmp_path], exchange="Bitget")


def test_funding_file_with_bad_rate_is_rejected(db_url, tmp_path):
    write(tmp_path / "BTCUSDT_funding.csv.gz", "timestamp,rate\n1767225600000,0.0001\n"
                                               "1767254400000,5\n")
    report = import_paths(db_url, [tmp_path], exchange="bitget")
    assert report.failed[0].error.startswith("BTCUSDT_funding.csv.gz: line 3: rate must be")
    assert pd.Series(StoreBarSource(db_url).funding("BTCUSDT")).empty
