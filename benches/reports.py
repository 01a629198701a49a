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
  through the results service (uvicorn in its own process on loopback, one keep-alive
  client), each page at a random cursor-free time range start; target p99 <= 50 ms.
  Beside the wall times, the server process's CPU milliseconds per request (user +
  system, from psutil): the figure that does not depend on how loaded the machine is.

``--skip-report`` / ``--skip-service`` time one part only; ``--db URL`` reuses a
database a previous run wrote (``--keep DIR`` keeps the SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
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
from aifap.deploy.dashboard import free_port  # noqa: E402
from aifap.testing.results import START, write_session  # noqa: E402

SYMBOLS = [f"S{i:02d}USDT" for i in range(20)]


SERVE = "import sys, uvicorn; from aifap.watch.service import create_app; " \
    "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), " \
    "log_level='warning')"


def serve(url: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start the results service in its own process; return it and its port once it answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", SERVE, url, str(port)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the results service did not answer within 120 s")


def cpu_ms(pid: int) -> float:
    """Return the CPU milliseconds (user + system) process ``pid`` used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return (times.user + times.system) * 1000


def service(url: str, args: argparse.Namespace) -> dict[str, object]:
    """Time ``--requests`` pages of 1,000 snapshots through the results service."""
    process, port = serve(url)
    rng = random.Random(1)
    minutes = int(args.days * 1440)
    times = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for i in range(args.requests + 5):
                if i == 5:  # after the warm-up
                    cpu = cpu_ms(process.pid)
                start = START + timedelta(minutes=rng.randrange(0, minutes - 1000))
                t0 = time.perf_counter()
                answer = client.get("/sessions/bench/snapshots",
                                    params={"start": start.isoformat(), "limit": 1000})  # fmt: skip
                elapsed = time.perf_counter() - t0
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["items"]) == 1000
                if i >= 5:
                    times.append(elapsed * 1000)
        server_cpu = (cpu_ms(process.pid) - cpu) / len(times)
    finally:
        process.terminate()
        process.wait(30)
    return {
        "snapshots_p50_ms": round(float(np.percentile(times, 50)), 1),
        "snapshots_p99_ms": round(float(np.percentile(times, 99)), 1),
        "server_cpu_ms_per_request": round(server_cpu, 2),
        "requests": len(times),
    }


def measure(url: str, label: str, args: argparse.Namespace) -> dict[str, object]:
    result: dict[str, object] = {"backend": label}
    if not args.db:
        started = time.perf_counter()
        write_session(url, "bench", symbols=SYMBOLS[: args.symbols], days=args.days,
                      interval=timedelta(minutes=1), rebalance_every=60, bulk=True)  # fmt: skip
        result["write_s"] = round(time.perf_counter() - started, 1)
    if not args.skip_report:
        with tempfile.TemporaryDirectory() as out:
            started, cpu = time.perf_counter(), _children_cpu()
            path = session_report(url, "bench", out)
            result["report_s"] = round(time.perf_counter() - started, 1)
            result["report_cpu_s"] = round(_children_cpu() - cpu, 1)
            result["report_bytes"] = path.stat().st_size
    if not args.skip_service:
        result.update(service(url, args))
    result["load_average"] = [round(v, 1) for v in os.getloadavg()]
    print(json.dumps(result), flush=True)
    return result


def _children_cpu() -> float:
    # CPU seconds of this process and its reaped children (the report's kernel included)
    own, children = os.times(), os.times()
    return own.user + own.system + children.children_user + children.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--db", help="a database a previous run wrote (nothing is written)")
    parser.add_argument("--keep", help="write the SQLite database into this directory")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {args.days} days x 1440 snapshots, "
          f"{args.symbols} positions each", flush=True)  # fmt: skip
    if args.db:
        measure(args.db, args.db.split(":")[0], args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            tmp = args.keep
            Path(tmp).mkdir(parents=True, exist_ok=True)
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
