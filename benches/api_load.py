"""Platform API under load: results queries and trader status at a fixed rate, on loopback.

    .venv/bin/python benches/api_load.py                      # 200 req/s for 60 s, SQLite
    .venv/bin/python benches/api_load.py --postgres           # on a throwaway PostgreSQL
    .venv/bin/python benches/api_load.py --rate 50 --duration 10

Sets up an org (a supervisor, a manager with ``--traders`` traders, each trader's session
with a day of hourly finwatcher snapshots written by ``aifap.testing.results``), serves
``aifap serve api`` in its own processes (``--workers``; default: the command's), logs in
as the manager (so every request goes through the row-level rights) and sends an
open-loop load: request ``i`` is due at ``i / rate`` seconds whatever the answers before
it, so a slow answer delays none of the next sends (no coordinated omission).
Latency = answer time − due time. The mix, in turn: ``GET /results/sessions``,
``GET /results/sessions/{id}/snapshots?limit=100``, ``GET /traders/{id}/status``.
Target: p99 <= 100 ms, no error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aifap.api.users import create_user  # noqa: E402
from aifap.testing.results import write_session  # noqa: E402

PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(
    url: str, data_dir: Path, env: dict[str, str], workers: int | None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``aifap serve api`` on a free port; return the process and its base URL."""
    port = free_port()
    child = {
        **os.environ,
        **env,
        "AIFAP_DATABASE_URL": url,
        "AIFAP_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from aifap.cli import main; main()", "serve", "api",
         "--port", str(port), "--risk-interval", "0",
         *(["--workers", str(workers)] if workers else [])],
        env=child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the API did not start")


def build_org(base: str, traders: int) -> tuple[str, list[int], list[str]]:
    """Create a manager with traders through the API; return its token, trader and session ids."""
    with httpx.Client(base_url=base, timeout=60) as client:
        root = client.post("/auth/token", data={"username": "root", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {root.json()['access_token']}"
        manager = client.post(
            "/managers", json={"username": "bench_manager", "password": PASSWORD,
                               "budget": "1000000"},
        ).json()["id"]  # fmt: skip
        ids, sessions = [], []
        for i in range(traders):
            made = client.post(
                "/traders",
                json={"name": f"bench_{i}", "strategy": "strategies/momentum.py",
                      "allocation": "1000", "symbols": ["BTCUSDT", "ETHUSDT"],
                      "manager_id": manager},
            ).json()  # fmt: skip
            ids.append(made["id"])
            sessions.append(made["session_id"])
        token = client.post(
            "/auth/token", data={"username": "bench_manager", "password": PASSWORD}
        ).json()["access_token"]
    return token, ids, sessions


async def load(
    base: str, token: str, paths: list[tuple[str, str]], rate: float, duration: float
) -> list[tuple[str, float, int]]:
    """Send ``rate`` requests per second for ``duration`` s; return (kind, latency s, status).

    The client is aiohttp (a fraction of httpx's CPU per request: the load generator
    shares the machine's cores with the server).
    """
    import aiohttp

    results: list[tuple[str, float, int]] = []
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=100)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=timeout
    ) as client:
        start = time.perf_counter() + 0.5
        count = int(rate * duration)

        async def one(i: int) -> None:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            kind, path = paths[i % len(paths)]
            try:
                async with client.get(path) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            results.append((kind, time.perf_counter() - due, status))

        await asyncio.gather(*(one(i) for i in range(count)))
    return results


def cpu_seconds(process: psutil.Process) -> float:
    """Return the user + system CPU seconds of ``process`` and its live children."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            total += sum(each.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def summary(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p90_ms": round(float(np.percentile(ms, 90)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--traders", type=int, default=8)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="default: the command's")
    args = parser.parse_args()
    env = {"AIFAP_SECRET_KEY": "bench-" + "b" * 40}
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="aifap-api-bench-") as tmp:
        server_pg = None
        if args.postgres:
            from aifap.testing.postgres import start_postgres

            server_pg = start_postgres()
            url = server_pg.create_database()
        else:
            url = f"sqlite:///{Path(tmp) / 'platform.db'}"
        create_user(url, "root", PASSWORD, "supervisor")
        process, base = serve(url, Path(tmp), env, args.workers)
        try:
            token, traders, sessions = build_org(base, args.traders)
            for sid in sessions:
                write_session(url, sid, days=1, interval=timedelta(hours=1))
            paths: list[tuple[str, str]] = []
            for tid, sid in zip(traders, sessions, strict=True):
                paths += [
                    ("results list", "/results/sessions"),
                    ("snapshots", f"/results/sessions/{sid}/snapshots?limit=100"),
                    ("trader status", f"/traders/{tid}/status"),
                ]
            asyncio.run(load(base, token, paths, 20, 2))  # warm-up
            server = psutil.Process(process.pid)
            server_cpu0 = cpu_seconds(server)
            client_cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            load_before = os.getloadavg()
            wall0 = time.perf_counter()
            results = asyncio.run(load(base, token, paths, args.rate, args.duration))
            wall = time.perf_counter() - wall0
            client_cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu = cpu_seconds(server) - server_cpu0
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:  # requests still queued: do not wait for them
                process.kill()
                process.wait(15)
            if server_pg is not None:
                server_pg.stop()
    errors = [r for r in results if r[2] != 200]
    out = {
        "backend": "postgresql" if args.postgres else "sqlite",
        "rate": args.rate,
        "workers": args.workers or "default",
        "duration_s": args.duration,
        "wall_s": round(wall, 1),
        "sent": len(results),
        "errors": len(errors),
        "error_statuses": sorted({r[2] for r in errors}),
        "all": summary([r[1] for r in results]),
        **{
            kind: summary([r[1] for r in results if r[0] == kind])
            for kind in ("results list", "snapshots", "trader status")
        },
        "server_cpu_s": round(server_cpu, 1),
        "client_cpu_s": round(
            (client_cpu1.ru_utime - client_cpu0.ru_utime)
            + (client_cpu1.ru_stime - client_cpu0.ru_stime),
            1,
        ),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
