"""open_bar_source: one entry point for every kind of ``data``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from aifap.core.errors import ConfigError, DataError
from aifap.data.files import write_bar_file
from aifap.data.frames import FrameBarSource
from aifap.data.sources import open_bar_source
from aifap.data.synthetic import SyntheticMarket


def small_frame() -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=10, freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 1.0}, index=index
    )


def test_none_is_the_synthetic_market_with_the_requested_symbols():
    source = open_bar_source(None, symbols=["BTCUSDT", "ETHUSDT"], market="spot")
    assert isinstance(source, SyntheticMarket)
    assert source.symbols() == ["BTCUSDT", "ETHUSDT"]
    assert not source.markets()["BTCUSDT"].is_futures


def test_dict_of_frames_is_a_frame_source():
    source = open_bar_source({"BTCUSDT": small_frame()})
    assert isinstance(source, FrameBarSource)
    assert len(source.bars("BTCUSDT", "5m")) == 2


def test_a_bar_source_is_returned_as_is():
    market = SyntheticMarket(["BTCUSDT"], days=1)
    assert open_bar_source(market) is market


def test_directory_is_read_with_the_chosen_symbols(tmp_path: Path):
    write_bar_file(tmp_path / "BTCUSDT_1m.csv.gz", small_frame())
    write_bar_file(tmp_path / "ETHUSDT_1m.csv", small_frame())
    source = open_bar_source(str(tmp_path), symbols=["ETHUSDT"])
    assert source.symbols() == ["ETHUSDT"]
    with pytest.raises(DataError, match="symbols: SOLUSDT must have bar files in"):
        open_bar_source(tmp_path, symbols=["SOLUSDT"])


def test_same_file_twice_in_one_market_is_an_error(tmp_path: Path):
    write_bar_file(tmp_path / "BTCUSDT_1m.csv.gz", small_frame())
    write_bar_file(tmp_path / "BTCUSDT_1m.csv", small_frame())
    with pytest.raises(DataError, match="BTCUSDT: 1m must come from one file"):
        open_bar_source(tmp_path)


def test_market_directory_matching_the_market_wins(tmp_path: Path):
    (tmp_path / "spot").mkdir()
    (tmp_path / "futures").mkdir()
    write_bar_file(tmp_path / "spot" / "BTCUSDT_1m.csv", small_frame())
    futures = small_frame() * 2
    write_bar_file(tmp_path / "futures" / "BTCUSDT_1m.csv", futures)
    source = open_bar_source(tmp_path, market="futures")
    assert source.bars("BTCUSDT")["close"].iloc[0] == 21.0
    assert open_bar_source(tmp_path, market="spot").bars("BTCUSDT")["close"].iloc[0] == 10.5


def test_empty_directory_is_a_data_error(tmp_path: Path):
    with pytest.raises(DataError, match=r"must hold SYMBOL_TIMEFRAME\.csv"):
        open_bar_source(tmp_path)


def test_a_missing_database_file_is_refused_not_created(tmp_path: Path):
    missing = tmp_path / "missing.db"
    with pytest.raises(DataError, match="must exist"):
        open_bar_source(f"sqlite:///{missing}")
    assert not missing.exists()


def test_a_database_url_opens_the_store(tmp_path: Path):
    from aifap.data.importer import import_paths
    from aifap.data.store import StoreBarSource

    frame = pd.DataFrame(
        {
            "open": [10.0, 11.0],
            "high": [11.0, 12.0],
            "low": [9.0, 10.0],
            "close": [10.5, 11.5],
            "volume": [1.0, 2.0],
        },
        index=pd.DatetimeIndex(
            ["2024-01-01 00:00", "2024-01-01 00:01"], tz="UTC", name="timestamp"
        ),
    )
    bar_dir = tmp_path / "bars"
    bar_dir.mkdir()
    write_bar_file(bar_dir / "BTCUSDT_1m.csv", frame)
    url = f"sqlite:///{tmp_path / 'market.db'}"
    import_paths(url, [bar_dir], exchange="bitget", market="futures")
    source = open_bar_source(url)
    assert isinstance(source, StoreBarSource)
    assert source.bars("BTCUSDT")["close"].tolist() == [10.5, 11.5]


def test_unknown_kind_names_the_parameter_and_the_accepted_kinds():
    with pytest.raises(
        ConfigError,
        match=r"data must be None \(the built-in synthetic market\), "
        r"a directory of bar files, .*was int",
    ):
        open_bar_source(42)


@pytest.mark.shared_data
def test_shared_data_directory_opens_with_funding(shared_data):
    source = open_bar_source(shared_data / "ohlcv" / "futures", symbols=["XRPUSDT"])
    assert source.symbols() == ["XRPUSDT"]
    assert source.timeframes("XRPUSDT") == ["5m", "1h"]
    assert len(source.funding("XRPUSDT")) == 91
