"""``aifap data import | export | gaps`` through the real command line."""

from __future__ import annotations

import gzip

import pytest
from typer.testing import CliRunner

from aifap.cli import app


@pytest.mark.shared_data
def test_import_gaps_export_on_the_shared_spot_files(db_url, shared_data, tmp_path):
    runner = CliRunner()
    spot = shared_data / "ohlcv" / "spot"
    imported = runner.invoke(app, ["data", "import", str(spot / "ADABTC_5m.csv.gz"),
                                   str(spot / "ETHBTC_5m.csv.gz"), "--exchange", "binance",
                                   "--database", db_url])
    assert imported.exit_code == 0, imported.output
    assert "ADABTC_5m.csv.gz" in imported.output
    gaps = runner.invoke(app, ["data", "gaps", "--symbols", "ADABTC", "--details",
                               "--database", db_url])
    assert gaps.exit_code == 0, gaps.output
    assert "binance/spot/ADABTC/5m" in gaps.output
    assert "33 missing" in gaps.output
    exported = runner.invoke(app, ["data", "export", str(tmp_path), "--symbols", "ETHBTC",
                                   "--database", db_url])
    assert exported.exit_code == 0, exported.output
    written = tmp_path / "spot" / "ETHBTC_5m.csv.gz"
    assert gzip.decompress(written.read_bytes()) == gzip.decompress(
        (spot / "ETHBTC_5m.csv.gz").read_bytes())


def test_import_exits_one_naming_the_bad_file_and_line(tmp_path):
    good = "timestamp,open,high,low,close,volume\n1767225600000,1,2,0.5,1.5,3\n"
    (tmp_path / "BTCUSDT_1m.csv").write_text(good)
    (tmp_path / "ETHUSDT_1m.csv").write_text(good + "1767225660000,1,0.9,0.5,1.5,3\n")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    result = CliRunner().invoke(app, ["data", "import", str(tmp_path), "--database", url])
    assert result.exit_code == 1
    assert "ETHUSDT_1m.csv: line 3: high must be >= max(open, close)" in result.output
    assert "BTCUSDT_1m.csv" in result.output


def test_the_market_database_comes_from_the_settings(tmp_path, monkeypatch):
    from aifap.settings import get_settings

    url = f"sqlite:///{tmp_path / 'market.db'}"
    monkeypatch.setenv("AIFAP_MARKET_DATABASE_URL", url)
    get_settings.cache_clear()
    (tmp_path / "BTCUSDT_1m.csv").write_text(
        "timestamp,open,high,low,close,volume\n1767225600000,1,2,0.5,1.5,3\n")
    result = CliRunner().invoke(app, ["data", "import", str(tmp_path / "BTCUSDT_1m.csv")])
    assert result.exit_code == 0, result.output
    from aifap.data.store import StoreBarSource

    assert len(StoreBarSource(url).bars("BTCUSDT")) == 1
