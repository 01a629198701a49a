"""The OHLCV service over real HTTP and its client, against the store on both backends."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from aifap.core.bars import BarSource
from aifap.core.errors import DataError
from aifap.data.client import ServiceBarSource
from aifap.data.series import SeriesKey, ensure_schema
from aifap.data.service import ARROW_TYPE, create_app
from aifap.data.store import StoreBarSource
from aifap.data.writers import write_bars, write_funding
from aifap.exchange.emulator.server import ThreadedServer

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def make_bars(minutes: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=minutes, freq="1min", tz="UTC", name="timestamp")
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.001, minutes)))
    open_ = np.r_[50.0, close[:-1]]
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + 0.01,
            "low": np.minimum(open_, close) - 0.01,
            "close": close,
            "volume": rng.uniform(0, 5, minutes),
        },
        index=index.as_unit("ns"),
    )


@pytest.fixture
def served(db_url):
    with ensure_schema(db_url).begin() as conn:
        for i, symbol in enumerate(SYMBOLS):
            frame = make_bars(600 + 7 * i, i)
            if symbol == "ETHUSDT":
                frame = frame.drop(frame.index[100:160])
            write_bars(conn, SeriesKey("bitget", "futures", symbol, "1m"), frame)
        index = pd.date_range("2026-01-01", periods=3, freq="8h", tz="UTC")
        write_funding(
            conn, "bitget", "futures", "BTCUSDT", pd.Series([0.0001, -0.0002, 0.0003], index=index)
        )
    server = ThreadedServer(create_app(db_url))
    server.start()
    yield db_url, f"http://127.0.0.1:{server.port}"
    server.stop()


CASES = [
    ("1m", {}),
    ("1m", {"limit": 50}),
    ("1m", {"start": "2026-01-01T01:00Z", "end": "2026-01-01T03:00:30Z"}),
    ("5m", {"end": "2026-01-01T04:02Z", "limit": 10}),
    ("1h", {}),
    ("15m", {"start": "2026-01-01T02:00Z"}),
]


@pytest.mark.parametrize(("timeframe", "kwargs"), CASES)
def test_client_returns_what_the_store_returns(served, timeframe, kwargs):
    url, base = served
    store = StoreBarSource(url, exchange="bitget", market="futures")
    with ServiceBarSource(base, exchange="bitget", market="futures") as client:
        for symbol in SYMBOLS:
            got = client.bars(symbol, timeframe, **kwargs)
            pd.testing.assert_frame_equal(got, store.bars(symbol, timeframe, **kwargs))
            assert str(got.index.dtype) == "datetime64[ns, UTC]"
            assert list(got.dtypes) == [np.dtype("float64")] * 5


def test_last_bars_of_many_symbols_in_one_request(served):
    url, base = served
    with ServiceBarSource(base) as client:
        got = client.last_bars(SYMBOLS, "1m", limit=100)
    want = StoreBarSource(url).last_bars(SYMBOLS, "1m", limit=100)
    assert list(got) == SYMBOLS
    for symbol in SYMBOLS:
        pd.testing.assert_frame_equal(got[symbol], want[symbol])


def test_client_is_a_bar_source_with_symbols_funding_and_health(served):
    _, base = served
    with ServiceBarSource(base) as client:
        assert isinstance(client, BarSource)
        assert client.symbols() == sorted(SYMBOLS)
        assert client.timeframes("BTCUSDT") == ["1m"]
        assert client.health()["status"] == "ok"
        rates = client.funding("BTCUSDT", start="2026-01-01T08:00Z")
        assert rates.tolist() == [-0.0002, 0.0003]
        assert str(rates.index.tz) == "UTC"
        assert client.funding("ETHUSDT").empty


def test_json_and_arrow_are_negotiated(served):
    _, base = served
    with httpx.Client(base_url=base) as http:
        body = http.get("/ohlcv", params={"symbols": "BTCUSDT", "limit": 2}).json()
        assert body["timeframe"] == "1m"
        assert body["data"]["BTCUSDT"]["timestamp"] == [1767261480000, 1767261540000]
        arrow = http.get(
            "/ohlcv", params={"symbols": "BTCUSDT", "limit": 2}, headers={"Accept": ARROW_TYPE}
        )
        assert arrow.headers["content-type"] == ARROW_TYPE
        bad = http.get("/ohlcv", params={"symbols": "BTCUSDT", "format": "xml"})
        assert bad.status_code == 400
        assert bad.json()["detail"] == "format must be json or arrow, was 'xml'"
        assert http.get("/symbols").json()["series"][0]["first"] == 1767225600000


def test_errors_come_back_as_data_errors(served):
    _, base = served
    with ServiceBarSource(base) as client:
        with pytest.raises(DataError, match="symbol must be stored"):
            client.bars("XRPUSDT")
        with pytest.raises(DataError, match="timeframe must be one of"):
            client.bars("BTCUSDT", "7m")
        with pytest.raises(DataError, match="start must be ISO 8601"):
            client._get("/ohlcv", {"symbols": "BTCUSDT", "start": "yesterday"})
    with (
        ServiceBarSource("http://127.0.0.1:9", timeout=1) as dead,
        pytest.raises(DataError, match="is unreachable"),
    ):
        dead.symbols()


def test_json_and_arrow_keep_times_whatever_the_index_unit():
    import pyarrow as pa

    from aifap.data.service import _bars_json, bars_to_arrow

    index = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:01"], tz="UTC", name="timestamp")
    values = {
        "open": [1.0, 2.0],
        "high": [1.0, 2.0],
        "low": [1.0, 2.0],
        "close": [1.0, 2.0],
        "volume": [0.0, 0.0],
    }
    for unit in ("s", "ms", "us", "ns"):
        frame = pd.DataFrame(values, index=index.as_unit(unit))
        payload = _bars_json("1m", {"BTCUSDT": frame})
        assert payload["data"]["BTCUSDT"]["timestamp"] == [1704067200000, 1704067260000]
        table = pa.ipc.open_stream(bars_to_arrow({"BTCUSDT": frame})).read_all()
        stamps = table.column("timestamp").to_pylist()
        assert [s.isoformat() for s in stamps] == [
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:01:00+00:00",
        ]
