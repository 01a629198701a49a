"""Reports and results-service benchmark: a 30-day session of per-minute snapshots.

    .venv/bin/python benches/reports.py                 # SQLite and PostgreSQL
    .venv/bin/python benches/reports.py --skip-postgres --days 7

Writes one session (``--days`` days of 1-minute finwatcher snapshots, ``--symbols``
open positions each, a rebalance every hour) with ``aifap.testing.results.write_session``
(``bulk=True``: the finwatcher tables in batches, metrics by ``aifap.core.metrics``),
then measures:

- **report**: wall time of ``aifap.analysis.report.session_report`` (export from the
  database, papermill run of ``templates/reports/tearsheet.ipynb``, nbconvert to HTML);
  target <= 30 s;
- **GET /sessions/{id}/snapshots?limit=1000**: p50/p99 over ``--requests`` requests
  through the results service (uvicorn on loopback, one keep-alive client), each
  page at a random cursor-free time range start; target p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aifap.analysis.report import session_report  # noqa: E402
from aifap.exchange.emulator.server import ThreadedServer  # noqa: E402
from aifap.testing.results import START, write_session  # noqa: E402
from aifap.watch.service import create_app  # noqa: E402

SYMBOLS = [f"S{i:02d}USDT" for i in range(20)]


def measure(url: str, label: str, args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    write_session(url, "bench", symbols=SYMBOLS[: args.symbols], days=args.days,
                  interval=timedelta(minutes=1), rebalance_every=60, bulk=True)  # fmt: skip
    written = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        path = session_report(url, "bench", out)
        report_s = time.perf_counter() - started
        size = path.stat().st_size
    server = ThreadedServer(create_app(url))
    server.start()
    rng = random.Random(1)
    minutes = int(args.days * 1440)
    times = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            for i in range(args.requests + 5):
                start = START + timedelta(minutes=rng.randrange(0, minutes - 1000))
                t0 = time.perf_counter()
                answer = client.get("/sessions/bench/snapshots",
                                    params={"start": start.isoformat(), "limit": 1000})  # fmt: skip
                elapsed = time.perf_counter() - t0
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["items"]) == 1000
                if i >= 5:  # warm-up
                    times.append(elapsed * 1000)
    finally:
        server.stop()
    result = {
        "backend": label,
        "snapshots": minutes,
        "position_rows": minutes * args.symbols,
        "write_s": round(written, 1),
        "report_s": round(report_s, 1),
        "report_bytes": size,
        "snapshots_p50_ms": round(float(np.percentile(times, 50)), 1),
        "snapshots_p99_ms": round(float(np.percentile(times, 99)), 1),
        "requests": len(times),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {args.days} days x 1440 snapshots, "
          f"{args.symbols} positions each", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sqlite:
            measure(f"sqlite:///{tmp}/results.db", "sqlite", args)
        if not args.skip_postgres:
            from aifap.testing.postgres import start_postgres

            server = start_postgres()
            try:
                measure(server.create_database(), "postgresql", args)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
