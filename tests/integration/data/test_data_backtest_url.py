"""``aifap.backtest`` over a database URL and over a service URL gives the directory's result."""

from __future__ import annotations

import pandas as pd
import pytest

import aifap
from aifap.data.importer import import_paths
from aifap.data.service import create_app
from aifap.exchange.emulator.server import ThreadedServer


def momentum(context, config_dict):
    closes = context.get_history(["XRPUSDT"], 12, "5m", "close")
    if len(closes) < 12:
        return None
    return {"XRPUSDT": 0.5 if closes["XRPUSDT"].iloc[-1] > closes["XRPUSDT"].iloc[0] else -0.5}


@pytest.mark.shared_data
def test_backtest_over_database_and_service_urls_matches_the_files(db_url, shared_data):
    futures = shared_data / "ohlcv" / "futures"
    files = [futures / "XRPUSDT_5m.csv.gz", futures / "XRPUSDT_funding.csv.gz"]
    import_paths(db_url, files, exchange="binance")
    options = {"symbols": ["XRPUSDT"], "rebalance_every": "1h", "end": "2021-11-19"}
    from aifap.data.sources import open_bar_dir

    on_files = aifap.backtest(momentum, open_bar_dir(futures, symbols=["XRPUSDT"]), **options)
    on_db = aifap.backtest(momentum, db_url, **options)
    pd.testing.assert_series_equal(on_db.equity, on_files.equity)
    server = ThreadedServer(create_app(db_url))
    server.start()
    try:
        on_service = aifap.backtest(momentum, f"http://127.0.0.1:{server.port}", **options)
    finally:
        server.stop()
    pd.testing.assert_series_equal(on_service.equity, on_files.equity)
    assert on_db.metrics["final_equity"] != 10_000  # it traded
