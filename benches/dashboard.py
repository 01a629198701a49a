"""Session dashboard benchmark: first render of a month of per-minute snapshots in Chromium.

    .venv/bin/python benches/dashboard.py                  # SQLite in a temporary directory
    .venv/bin/python benches/dashboard.py --runs 5 --db postgresql://...   # an empty database

The results database holds one session with 30 days of per-minute finwatcher snapshots
(43,200 rows) of 20 open positions each (864,000 position rows), plus 2,000 orders,
2,000 fills and 200 events. Measured:

1. **Queries**: :meth:`aifap.notebook.dashboard_data.SessionSource.load` cold (every
   PV observation fetched, downsampled to <= 2,000 points) and warm (a refresh: only
   rows newer than the ones held).
2. **First render**: from ``start_dashboard`` (Voila starts, preheats a kernel that runs
   the template) to every panel drawn in Debian's Chromium (three stat panels with
   values, the three SVG charts with their data, the positions table). The browser is
   launched beforehand (its launch time is printed separately). Target <= 3 s.
3. **Page load on a running server** (the preheated kernel refilled): ``goto`` to every
   panel drawn, ``--runs`` times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT",
           "AVAXUSDT", "LTCUSDT", "DOTUSDT", "LINKUSDT", "TRXUSDT", "ATOMUSDT", "NEARUSDT",
           "UNIUSDT", "APTUSDT", "ARBUSDT", "OPUSDT", "FILUSDT", "ETCUSDT"]
START_MS = 1_717_200_000_000  # 2024-06-01 00:00 UTC
MINUTES = 30 * 1440
SESSION = "bench"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DRAWN = """() => {
  const ready = [...document.querySelectorAll('svg.aifap-chart')].filter(
      c => Number(c.dataset.points) > 0);
  const stats = [...document.querySelectorAll('.aifap-stat')].filter(s => s.dataset.value);
  return ready.length >= 3 && stats.length >= 2 &&
      document.querySelectorAll('.aifap-positions tbody tr').length === 20;
}"""


def populate(url: str) -> float:
    """Write the month of snapshots; return the seconds it took."""
    import pandas as pd
    from sqlalchemy import insert

    from aifap.core import metrics
    from aifap.db import make_engine, migrate
    from aifap.live.models import LiveEvent, LiveFill, LiveOrder, LiveSession
    from aifap.watch.models import WatchPosition, WatchSnapshot

    started = time.perf_counter()
    migrate(url)
    engine = make_engine(url)
    rng = np.random.default_rng(12)
    ts = START_MS + np.arange(MINUTES, dtype="int64") * 60_000
    pv = 10_000 * np.exp(np.cumsum(rng.normal(0.00001, 0.0008, MINUTES)))
    equity = pd.Series(pv, index=pd.to_datetime(ts, unit="ms", utc=True))
    drawdown = np.minimum.accumulate(metrics.drawdown(pv))
    daily = metrics.daily_returns(equity, initial=10_000.0)
    sharpe_by_day = [metrics.sharpe_ratio(daily.iloc[: i + 1]) for i in range(len(daily))]
    day = (ts - START_MS) // 86_400_000
    config = {"mode": "paper", "symbols": SYMBOLS}
    with engine.begin() as db:
        db.execute(insert(LiveSession), [{
            "session_id": SESSION, "trader": "bench", "strategy": "equal_weight",
            "account_key": "paper:paper:futures:bench", "config_json": json.dumps(config),
            "status": "running", "started_ms": START_MS, "run_started_ms": START_MS,
            "initial_equity": 10_000, "initial_wallet": 10_000, "clock_ms": int(ts[-1]),
            "baseline_json": "{}", "baseline_epoch": 0, "runs": 1, "workdir": "/nonexistent",
        }])  # fmt: skip
        chunk = 5_000
        for lo in range(0, MINUTES, chunk):
            hi = min(lo + chunk, MINUTES)
            db.execute(insert(WatchSnapshot), [{
                "id": i + 1, "session_id": SESSION, "ts_ms": int(ts[i]), "taken_ms": int(ts[i]),
                "balance": f"{pv[i]:.8f}", "pv": f"{pv[i]:.8f}", "roe": pv[i] / 10_000 - 1,
                "unrealized_pnl": "0", "sharpe": sharpe_by_day[min(day[i], len(daily) - 1)],
                "max_drawdown": float(drawdown[i]), "funding_fees": "0",
            } for i in range(lo, hi)])  # fmt: skip
            db.execute(insert(WatchPosition), [{
                "snapshot_id": i + 1, "symbol": s, "size": f"{0.01 * (k + 1):.4f}",
                "entry_price": "100", "mark_price": f"{100 + k:.2f}", "leverage": "2",
                "take_profit": "150", "stop_loss": "50", "funding_fee": "0",
                "unrealized_pnl": f"{0.01 * (k + 1) * k:.6f}",
            } for i in range(lo, hi) for k, s in enumerate(SYMBOLS)])  # fmt: skip
        db.execute(insert(LiveOrder), [{
            "client_id": f"o{i}", "session_id": SESSION, "cycle": i // 20, "seq": i % 20,
            "batch": (i % 20) // 5, "symbol": SYMBOLS[i % 20], "side": "buy", "amount": "0.01",
            "reduce_only": False, "leg": "open", "status": "filled", "filled": "0.01",
            "average_price": "100", "sends": 1, "updated_ms": START_MS + i * 1_296_000,
        } for i in range(2000)])  # fmt: skip
        db.execute(insert(LiveFill), [{
            "session_id": SESSION, "fill_key": f"f{i}", "client_id": f"o{i}",
            "symbol": SYMBOLS[i % 20], "side": "buy", "amount": "0.01", "price": "100",
            "fee": "0.0006", "fee_currency": "USDT", "reason": "rebalance",
            "ts_ms": START_MS + i * 1_296_000, "ours": True, "epoch": 0,
        } for i in range(2000)])  # fmt: skip
        db.execute(insert(LiveEvent), [{
            "session_id": SESSION, "cycle": i, "ts_ms": START_MS + i * 12_960_000,
            "level": "info", "kind": "cycle", "message": f"cycle {i} done",
        } for i in range(200)])  # fmt: skip
    return time.perf_counter() - started


def queries(url: str) -> dict[str, float]:
    """Time a cold load and a warm refresh of the session's view."""
    from aifap.db import make_engine
    from aifap.notebook.dashboard_data import SessionSource

    source = SessionSource(make_engine(url), SESSION)
    started = time.perf_counter()
    view = source.load()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        source.load()
        warm.append(time.perf_counter() - started)
    assert len(view.equity) <= 2000
    assert view.snapshots == MINUTES
    assert len(view.positions) == 20
    return {"cold": cold, "warm": statistics.median(warm), "points": len(view.equity)}


def cpu_seconds(roots: list[int]) -> float:
    """Return the CPU seconds (user + system) used so far by ``roots`` and their children."""
    import psutil

    total = 0.0
    for pid in roots:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    return total


def browser_pids(profile: Path) -> list[int]:
    """Return the Chromium browser process started with ``profile``."""
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"])
            if any(str(profile) in part for part in (p.info["cmdline"] or []))
            and "chromium" in " ".join(p.info["cmdline"] or [])]  # fmt: skip


def render(url: str, runs: int, folder: Path, preheat: bool) -> dict[str, Any]:
    """Time Voila start to every panel drawn, then page loads on the running server."""
    from playwright.sync_api import sync_playwright

    from aifap.deploy.dashboard import DashboardTarget, start_dashboard

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        started = time.perf_counter()
        ctx = p.chromium.launch_persistent_context(
            str(folder / "profile"), executable_path="/usr/bin/chromium", headless=True,
            args=FLAGS, viewport={"width": 1300, "height": 1500},
        )  # fmt: skip
        out["browser launch"] = time.perf_counter() - started
        started = time.perf_counter()
        target = DashboardTarget(SESSION, url, folder / "record")
        running = start_dashboard(target, refresh_seconds=5, preheat=preheat)
        out["voila listening"] = time.perf_counter() - started
        try:
            if preheat:  # the preheated kernel has run the template once voila logs it
                log = Path(running.log)
                while "is filled with" not in log.read_text(errors="replace"):
                    time.sleep(0.05)
                out["kernel preheated"] = time.perf_counter() - started
            page = ctx.new_page()
            page.goto(running.url, wait_until="domcontentloaded", timeout=180_000)
            page.wait_for_function(DRAWN, timeout=180_000, polling=50)
            out["first render (voila start to drawn)"] = time.perf_counter() - started
            page.screenshot(path=str(folder / "first.png"), full_page=True)
            page.close()
            loads, browser_cpu, server_cpu = [], [], []
            chromium = browser_pids(folder / "profile")
            for _ in range(runs):
                time.sleep(8 if preheat else 1)  # let voila refill its preheated kernel
                page = ctx.new_page()
                cpu = cpu_seconds(chromium), cpu_seconds([running.pid])
                started = time.perf_counter()
                page.goto(running.url, wait_until="domcontentloaded", timeout=180_000)
                page.wait_for_function(DRAWN, timeout=180_000, polling=50)
                loads.append(time.perf_counter() - started)
                browser_cpu.append(cpu_seconds(chromium) - cpu[0])
                server_cpu.append(cpu_seconds([running.pid]) - cpu[1])
                page.close()
            out["page loads"] = loads
            out["  chromium CPU seconds per load"] = browser_cpu
            out["  voila + kernels CPU seconds per load"] = server_cpu
        finally:
            running.stop()
            ctx.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an empty results database URL (default: SQLite in a tmp dir)")
    parser.add_argument("--runs", type=int, default=3, help="page loads on the running server")
    parser.add_argument("--no-preheat", action="store_true", help="run voila without preheat")
    parser.add_argument("--all-extensions", action="store_true",
                        help="let the page load every installed JupyterLab extension (as before "
                             "the allowlist), for comparison")  # fmt: skip
    parser.add_argument("--keep", help="keep the SQLite database in this directory and reuse "
                                       "it when it is already populated")  # fmt: skip
    args = parser.parse_args()
    if args.all_extensions:
        from aifap.deploy import dashboard

        dashboard.FRONTEND_EXTENSIONS = ()
    with tempfile.TemporaryDirectory(prefix="aifap-dash-bench-") as tmp:
        folder = Path(tmp)
        kept = Path(args.keep) if args.keep else folder
        kept.mkdir(parents=True, exist_ok=True)
        url = args.db or f"sqlite:///{kept / 'results.db'}"
        if args.keep and (kept / "populated").exists():
            print(f"reusing the populated {url}")
        else:
            print(f"populating {MINUTES} snapshots x {len(SYMBOLS)} positions ...", flush=True)
            print(f"  written in {populate(url):.1f} s")
            (kept / "populated").touch()
        q = queries(url)
        print(f"SessionSource.load: cold {q['cold'] * 1000:.0f} ms, warm refresh "
              f"{q['warm'] * 1000:.0f} ms, PV points drawn {q['points']}")  # fmt: skip
        r = render(url, args.runs, folder, preheat=not args.no_preheat)
        print(f"load average during the run: {os.getloadavg()[0]:.1f} (2 cores here); page "
              f"extensions: {'all installed' if args.all_extensions else 'widget managers'}")
        for key, value in r.items():
            if isinstance(value, list):
                shown = ", ".join(f"{v:.2f}" for v in value)
                print(f"{key}: {shown} s (median {statistics.median(value):.2f} s)")
            else:
                print(f"{key}: {value:.2f} s")


if __name__ == "__main__":
    main()
