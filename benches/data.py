"""Market-data benchmark: bulk ingest and "last 100 bars x 20 symbols" latency.

    .venv/bin/python benches/data.py                       # 10 million 1m bars (the target)
    .venv/bin/python benches/data.py --rows 1000000        # a quicker look
    .venv/bin/python benches/data.py --skip-sqlite         # PostgreSQL only

Measures, on a throwaway PostgreSQL (started from the installed binaries with the
test settings of ``aifap.testing.postgres``: fsync, synchronous_commit and
full_page_writes off) and on a SQLite file (WAL, synchronous=NORMAL):

- **first load**: rows/s writing N 1m bars (20 symbols) into an empty range, through
  ``aifap.data.writers.write_bar_arrays`` (PostgreSQL binary COPY; SQLite executemany),
  one transaction per symbol;
- **re-ingest**: rows/s writing the same rows again (PostgreSQL: COPY into a temporary
  table + ``INSERT ... ON CONFLICT DO UPDATE ... WHERE IS DISTINCT FROM``; SQLite: the
  upsert), which must leave the count and checksum unchanged;
- **last 100 bars x 20 symbols**: p50/p99 of ``StoreBarSource.last_bars`` (one
  statement: LATERAL on PostgreSQL, UNION ALL on SQLite), and of the same call
  through the OHLCV service (``ServiceBarSource`` over HTTP on loopback, Arrow IPC).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aifap.data.client import ServiceBarSource  # noqa: E402
from aifap.data.reads import fingerprint  # noqa: E402
from aifap.data.series import SeriesKey, ensure_schema, get_series_id  # noqa: E402
from aifap.data.service import create_app  # noqa: E402
from aifap.data.store import StoreBarSource  # noqa: E402
from aifap.data.writers import write_bar_arrays  # noqa: E402
from aifap.exchange.emulator.server import ThreadedServer  # noqa: E402
from aifap.testing.postgres import FAST_SETTINGS, start_postgres  # noqa: E402

START_MS = 1_704_067_200_000  # 2024-01-01


def make_series(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = START_MS + np.arange(rows, dtype=np.int64) * 60_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, rows)))
    open_ = np.r_[100.0, close[:-1]]
    values = np.column_stack(
        [
            open_,
            np.maximum(open_, close) * 1.0005,
            np.minimum(open_, close) * 0.9995,
            close,
            rng.uniform(0, 100, rows),
        ]
    )
    return ts, values


def ingest(url: str, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, str]:
    engine = ensure_schema(url)
    started = time.perf_counter()
    methods = set()
    for symbol, (ts, values) in data.items():
        with engine.begin() as conn:
            sid = get_series_id(conn, SeriesKey("bench", "futures", symbol, "1m"))
            methods.add(write_bar_arrays(conn, sid, ts, values).method)
    return time.perf_counter() - started, "/".join(sorted(methods))


def latencies(fn, runs: int) -> dict[str, float]:
    for _ in range(10):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(float(np.percentile(samples, 50)), 3),
        "p99_ms": round(float(np.percentile(samples, 99)), 3),
    }


def bench_backend(name: str, url: str, data, runs: int, checksum: bool) -> dict[str, object]:
    rows = sum(len(ts) for ts, _ in data.values())
    first, first_method = ingest(url, data)
    print(
        f"{name}: first load {rows:,} rows in {first:.1f} s ({rows / first:,.0f} rows/s, "
        f"{first_method})",
        flush=True,
    )
    before = None
    if checksum:
        with ensure_schema(url).connect() as conn:
            before = fingerprint(conn)
    again, again_method = ingest(url, data)
    print(
        f"{name}: re-ingest {rows:,} rows in {again:.1f} s ({rows / again:,.0f} rows/s, "
        f"{again_method})",
        flush=True,
    )
    if checksum:
        with ensure_schema(url).connect() as conn:
            assert fingerprint(conn) == before, "re-ingest changed the stored bars"
    symbols = list(data)
    store = StoreBarSource(url, exchange="bench", market="futures")
    frames = store.last_bars(symbols, "1m", limit=100)
    assert all(len(f) == 100 for f in frames.values())
    local = latencies(lambda: store.last_bars(symbols, "1m", limit=100), runs)
    print(f"{name}: last 100 bars x {len(symbols)} symbols from the store: {local}", flush=True)
    server = ThreadedServer(create_app(url))
    server.start()
    try:
        with ServiceBarSource(
            f"http://127.0.0.1:{server.port}", exchange="bench", market="futures"
        ) as client:
            remote = latencies(lambda: client.last_bars(symbols, "1m", limit=100), runs)
    finally:
        server.stop()
    print(f"{name}: same through the service (HTTP + Arrow): {remote}", flush=True)
    return {
        "rows": rows,
        "first_load_s": round(first, 2),
        "first_load_rows_per_s": round(rows / first),
        "first_load_method": first_method,
        "reingest_s": round(again, 2),
        "reingest_rows_per_s": round(rows / again),
        "reingest_method": again_method,
        "checksum_unchanged": checksum,
        "last_100x20_store": local,
        "last_100x20_service": remote,
    }


def conditions() -> dict[str, object]:
    import pandas
    import psycopg2
    import sqlalchemy

    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg2": psycopg2.__version__.split()[0],
        "pandas": pandas.__version__,
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="total 1m bars")
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--runs", type=int, default=300, help="latency samples per backend")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--no-checksum",
        action="store_true",
        help="skip the count+checksum comparison (it reads every row)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    per_symbol = args.rows // args.symbols
    data = {f"S{i:02d}USDT": make_series(per_symbol, i) for i in range(args.symbols)}
    results: dict[str, object] = {"conditions": conditions()}
    print(json.dumps(results["conditions"]), flush=True)
    if not args.skip_postgres:
        server = start_postgres()
        try:
            url = server.create_database("bench")
            import psycopg

            with psycopg.connect(
                host="127.0.0.1", port=server.port, user="postgres", dbname="bench"
            ) as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
            results["postgresql"] = {
                "server": f"PostgreSQL {version}",
                "settings": FAST_SETTINGS,
                **bench_backend("postgresql", url, data, args.runs, not args.no_checksum),
            }
        finally:
            server.stop()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            results["sqlite"] = {
                "settings": "WAL, synchronous=NORMAL, WITHOUT ROWID table",
                **bench_backend("sqlite", url, data, args.runs, not args.no_checksum),
            }
    results["conditions"]["loadavg_at_end"] = os.getloadavg()  # type: ignore[index]
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
