"""Live-session benchmarks: cycle latency at the emulator, promote-to-first-cycle, memory.

    .venv/bin/python benches/live.py                 # all three, 7 latency runs each
    .venv/bin/python benches/live.py --only latency --runs 15

1. **Cycle latency** (20 symbols, Bitget emulator in its own process with 20 ms on every
   request, real ``ccxt.bitget`` with the session's own gateway settings
   (:meth:`aifap.exchange.ccxt.gateway_config.CcxtConfig.for_session`)): from the
   instant ``rebalance_start_event`` would be set to the last order acknowledged,
   running the code the strategy and main
   processes run for a cycle, in one process: :func:`aifap.live.planning.run_strategy`
   (history from the synthetic market, ``balance`` and ``positions`` read concurrently,
   the strategy, the plan), the ``order_info.json`` hand-off written and read, then
   :meth:`aifap.live.execution.Executor.execute` (journal on SQLite, 4 batches of 5
   market orders; fills synced after the last acknowledgement). Each run is a fresh
   account, so all 20 symbols trade. Floor: 4 x 20 ms (batches) + 2 x 20 ms (balance,
   positions) = 120 ms; target <= 2 x floor. Rate limiter off and on (production:
   ccxt's Bitget costs space requests by cost x 50 ms on one shared timeline, so "on"
   has its own floor: accounts, then all-position 200 ms, tickers 50 ms, 20
   place-orders 100 ms apart, + one round trip = 2270 ms). ``--timeline`` prints the
   last run's requests as the emulator saw them. Not included: the event hop between
   processes (an ``Event.wait`` wake-up, < 1 ms).
2. **promote to first completed cycle**: ``aifap.promote(...)`` of a notebook-style
   function (validation backtest, freeze, one cycle in a fresh process, papermill,
   kernel start, session start) until the journal shows cycle 1 ``done``; paper
   session on the stepped replay clock.
3. **Memory**: RSS and PSS (``/proc/<pid>/smaps_rollup`` via psutil) of a running
   paper session's three processes, plus its parent (the kernel) for reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT",
           "AVAXUSDT", "LTCUSDT", "DOTUSDT", "LINKUSDT", "TRXUSDT", "ATOMUSDT", "NEARUSDT",
           "UNIUSDT", "APTUSDT", "ARBUSDT", "OPUSDT", "FILUSDT", "ETCUSDT"]
NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def equal_weight(context: Any, config_dict: Any) -> dict[str, float]:
    """Hold 4 % of equity in each of the 20 symbols (every cycle on a fresh account trades)."""
    return dict.fromkeys(config_dict["symbols"], 0.04)


def build_emulator() -> Any:
    """The bench's emulator over two days of synthetic bars of the 20 symbols."""
    from aifap.data.synthetic import SyntheticMarket
    from aifap.exchange.emulator import BitgetEmulator, EmulatorMarket, ManualClock

    market = SyntheticMarket(SYMBOLS, days=2)
    return BitgetEmulator(
        markets=[EmulatorMarket.from_spec(s) for s in market.markets().values()],
        bars={s: market.bars(s, "1m") for s in SYMBOLS},
        clock=ManualClock(NOW.isoformat()),
        initial_balance=1_000_000,
    )


class _Timed:
    """A gateway proxy noting when each batch came back (``place_orders``, ``place_batches``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.acks: list[float] = []

    def place_orders(self, batch: Any) -> Any:
        out = self.inner.place_orders(batch)
        self.acks.append(time.perf_counter())
        return out

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name != "place_batches":
            return found

        def place_batches(batches: Any, acknowledged: Any) -> None:
            def noted(number: int, placed: Any) -> None:
                self.acks.append(time.perf_counter())
                acknowledged(number, placed)

            found(batches, noted)

        return place_batches


class _ClientCalls:
    """The remote client's requests (its DEBUG records: round trip and ``Server-Timing``)."""

    def __init__(self) -> None:
        import logging

        self.records: list[tuple[float, str]] = []
        outer = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                args = record.args or ()
                if len(args) >= 6:  # method, path, ms, began, ended, stages
                    outer.records.append((float(args[3]),  # type: ignore[arg-type, index]
                                          f"{args[0]} {args[1]}: {args[2]:.1f} ms; "
                                          f"service {args[5]}"))  # type: ignore[index]

        client = logging.getLogger("aifap.exchange.remote.client")
        client.setLevel(logging.DEBUG)
        client.addHandler(_Handler())

    def reset(self) -> None:
        self.records = []

    def lines(self, start: float) -> list[str]:
        """Return one line per request: its start in ms after ``start``, what it was."""
        return [f"{(t - start) * 1000:7.1f}  {text}" for t, text in sorted(self.records)]


def _timeline(requests: list[tuple[str, float, float]], start: float) -> list[str]:
    """Return one line per request: start and end in ms after ``start``, and the path."""
    rows = sorted((s, e, p) for p, s, e in requests if s >= start)
    return [f"{(s - start) * 1000:7.1f} {(e - start) * 1000:7.1f}  {p}" for s, e, p in rows]


SIGNING_KEY = "bench-signing-key-0123456789abcdef0123"


def _serve_gateway(account: dict[str, Any], db: str, port: int) -> None:
    """Run the gateway service of ``account`` (a forked process of the bench)."""
    import uvicorn

    from aifap.exchange.remote.account import load_account
    from aifap.exchange.remote.service import create_app

    app = create_app(load_account(account), db, key=SIGNING_KEY)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _gateway_service(ctx: Any, tmp: Path, sid: str, exchange_url: str) -> tuple[Any, str]:
    """Start the gateway service of the account ``sid`` in its own process; return it, URL."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    account = {
        "account": sid, "venue": "bitget", "demo": True, "exchange_url": exchange_url,
        "rate_limit": False, "keys": {"api_key": sid, "secret": "s", "password": "p"},
    }  # fmt: skip
    proc = ctx.Process(
        target=_serve_gateway, args=(account, f"sqlite:///{tmp / 'gateway.db'}", port), daemon=True
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the gateway service did not start")


def latency(
    runs: int, latency_s: float, variants: tuple[str, ...] = ("off", "on")
) -> dict[str, Any]:
    """Time cycles from the start event to the last acknowledgement, limiter off and on.

    Variant ``remote``: limiter off, through the gateway service (``aifap serve gateway``'s
    app in its own process, one per account) with ``RemoteGateway``: the executor hands
    the cycle's 4 batches over in one request (``place_batches``), each acknowledgement
    streamed back; an ack is timed when its line arrives.
    """
    import multiprocessing

    from aifap.data.synthetic import SyntheticMarket
    from aifap.db import make_engine, migrate
    from aifap.exchange.ccxt.gateway import CcxtGateway
    from aifap.exchange.ccxt.gateway_config import CcxtConfig
    from aifap.history import SourceHistory  # noqa: F401 - imported by planning; warm it
    from aifap.live.clock import SessionClock
    from aifap.live.codec import plan_from_dict, plan_to_dict
    from aifap.live.config import make_config
    from aifap.live.execution import Executor
    from aifap.live.handoff import read_handoff, write_handoff
    from aifap.live.journal import Journal
    from aifap.live.planning import run_strategy

    market = SyntheticMarket(SYMBOLS, days=2)
    specs = market.markets()
    from remote_emulator import RemoteEmulator

    emu = RemoteEmulator(build_emulator, latency_s)
    tmp = Path(tempfile.mkdtemp(prefix="aifap-bench-live-"))
    url = f"sqlite:///{tmp / 'results.db'}"
    migrate(url)
    clock = SessionClock(multiprocessing.get_context("fork"), "replay", start=NOW, speed=1.0)
    keys = ("ack", "planned", "handed", "done")
    results: dict[str, Any] = {f"{lim}_{k}": [] for lim in variants for k in keys}
    results.update(connections=[], requests=[], cpu_service=[])
    calls = _ClientCalls()  # the remote client's requests with the service's stages
    try:
        # variants interleaved run by run, so a change in the machine's load hits all alike
        for run in range(runs + 1):  # the first run warms imports and caches
            for limiter in variants:
                sid = f"b{limiter}{run}"
                cfg = make_config({
                    "session_id": sid, "trader": "bench", "strategy_name": "eq",
                    "strategy": "bench:eq", "config_dict": {"symbols": SYMBOLS},
                    "exchange": "bitget", "mode": "demo", "symbols": SYMBOLS,
                    "allocation": 100_000,
                    "credentials": {"api_key": sid, "secret": "s", "password": "p"},
                    "exchange_url": emu.url, "workdir": str(tmp / sid), "bar_max_age": "1h",
                    "clock": {"kind": "replay", "start": NOW.isoformat()}})
                cfg.working_directory.mkdir(parents=True, exist_ok=True)
                # the session's own gateway settings, the limiter as the run says
                settings = CcxtConfig.for_session(cfg).model_copy(
                    update={"rate_limit": limiter == "on"}
                )
                service = None
                if limiter == "remote":
                    from aifap.auth.tokens import issue_token
                    from aifap.exchange.remote.client import RemoteGateway

                    service, service_url = _gateway_service(
                        multiprocessing.get_context("fork"), tmp, sid, emu.url
                    )
                    token = issue_token(sid, [f"gateway:{sid}"], ttl="1h", key=SIGNING_KEY)
                    inner: Any = RemoteGateway(service_url, token, policy=cfg.retry.policy())
                    inner.info()  # as ``RemoteGateway.for_session`` does when a session opens
                else:
                    inner = CcxtGateway(settings)
                gateway = _Timed(inner)
                journal = Journal(make_engine(url), sid)
                try:
                    # what a session does once at its start, not per cycle
                    gateway.markets()
                    gateway.prepare(SYMBOLS)
                    wallet = gateway.balance().wallet  # the session row's initial wallet
                    executor = Executor(gateway, journal, clock, cfg.working_directory, SYMBOLS)
                    time.sleep(0.3)  # let the limiter's window from the warm-up pass
                    emu.ask("reset_log")
                    calls.reset()
                    if service is not None:  # what the service counted before the cycle
                        import httpx

                        before = httpx.get(f"{service_url}/stats", timeout=5).json()
                    start = time.perf_counter()  # rebalance_start_event
                    journal.start_cycle(1, clock.ms(), clock.ms())
                    result = run_strategy(equal_weight, cfg, bars=market, gateway=gateway,
                                          markets=specs, now=NOW, state={},
                                          initial_wallet=wallet, cycle=1)
                    planned = time.perf_counter()
                    write_handoff(cfg.working_directory, {
                        "session_id": sid, "cycle": 1, "plan": plan_to_dict(result.plan)})
                    plan = plan_from_dict(read_handoff(cfg.working_directory, sid, 1)["plan"])
                    handed = time.perf_counter()
                    executor.execute(1, plan)
                    done = time.perf_counter()
                finally:
                    gateway.close()
                    if service is not None:
                        import psutil

                        traffic = httpx.get(f"{service_url}/stats", timeout=5).json()
                        cpu = sum(psutil.Process(service.pid).cpu_times()[:2])
                        service.terminate()
                        service.join()
                assert len(plan.orders) == len(SYMBOLS), len(plan.orders)
                assert len(gateway.acks) == 4, gateway.acks
                assert len(journal.fills()) == len(SYMBOLS), "every fill recorded"
                if run:
                    for key, value in zip(keys, (gateway.acks[-1], planned, handed, done),
                                          strict=True):
                        results[f"{limiter}_{key}"].append(value - start)
                    results[f"{limiter}_timeline"] = _timeline(emu.ask("log"), start)
                    if service is not None:
                        results["remote_calls"] = calls.lines(start)
                        # opened and asked during the cycle (and the close), less the /stats
                        for key in ("connections", "requests"):
                            results[key].append(traffic[key] - before[key] - 1)
                        results["cpu_service"].append(cpu)
    finally:
        emu.stop()
    return results


def hops(calls: int, latency_s: float) -> dict[str, Any]:
    """Time single gateway calls direct (ccxt in this process) and through the service.

    One account, one service (its own process), one emulator (its own process, every
    request ``latency_s``); ``calls`` rounds, each: ``balance_and_positions`` and a
    batch of 5 market orders (new client ids), direct then remote, interleaved so load
    changes hit both. Returns per-call wall seconds by ``{variant}_{call}``, the
    service's ``Server-Timing`` stages per order batch, and CPU seconds of this process
    and of the service.
    """
    import logging
    import multiprocessing

    import psutil
    from remote_emulator import RemoteEmulator

    from aifap.auth.tokens import issue_token
    from aifap.core.orders import OrderRequest, Side, client_order_id
    from aifap.exchange.ccxt.gateway import CcxtGateway
    from aifap.exchange.ccxt.gateway_config import CcxtConfig
    from aifap.exchange.remote.client import RemoteGateway

    emu = RemoteEmulator(build_emulator, latency_s)
    tmp = Path(tempfile.mkdtemp(prefix="aifap-bench-hops-"))
    sid = "hops"
    service, service_url = _gateway_service(multiprocessing.get_context("fork"), tmp, sid, emu.url)
    stages: list[dict[str, float]] = []

    class _Stages(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.args and str(record.args[1]) == "/orders":
                header = str(record.args[-1])
                stages.append({k.split(";")[0].strip(): float(k.split("dur=")[1])
                               for k in header.split(",") if "dur=" in k})

    client_log = logging.getLogger("aifap.exchange.remote.client")
    client_log.setLevel(logging.DEBUG)
    client_log.addHandler(_Stages())
    direct = CcxtGateway(CcxtConfig(  # an account of its own, trading as the service's does
        venue="bitget", api_key=f"{sid}-direct", secret="s", password="p", demo=True,
        api_url=emu.url, rate_limit=False, confirm_orders=False))
    token = issue_token(sid, [f"gateway:{sid}"], ttl="1h", key=SIGNING_KEY)
    remote = RemoteGateway(service_url, token)
    gateways = {"direct": direct, "remote": remote}
    out: dict[str, Any] = {f"{v}_{c}": [] for v in gateways for c in ("account", "orders")}
    try:
        specs = direct.markets()
        for gateway in gateways.values():
            gateway.prepare(SYMBOLS)
        prices = direct.reference_prices(SYMBOLS, fresh=True)
        amounts = {}  # twice the minimum order, in whole amount steps
        for s, spec in specs.items():
            if s in prices:
                least = max(spec.min_amount, spec.min_notional / prices[s], spec.amount_step)
                amounts[s] = (least * 2 / spec.amount_step).to_integral_value(
                    rounding="ROUND_CEILING") * spec.amount_step
        cpu = time.process_time()
        served = psutil.Process(service.pid)
        served_cpu = sum(served.cpu_times()[:2])
        for n in range(calls + 1):  # round 0 warms connections and caches
            for variant, gateway in gateways.items():
                began = time.perf_counter()
                gateway.balance_and_positions()
                account = time.perf_counter() - began
                symbols = SYMBOLS[(n % 4) * 5 : (n % 4) * 5 + 5]
                side = Side.BUY if n % 8 < 4 else Side.SELL
                batch = [OrderRequest(client_order_id(variant, n, s, "open"), s, side, amounts[s])
                         for s in symbols]
                began = time.perf_counter()
                placed = gateway.place_orders(batch)
                orders = time.perf_counter() - began
                assert all(o.status.value != "rejected" for o in placed), placed
                if n:
                    out[f"{variant}_account"].append(account)
                    out[f"{variant}_orders"].append(orders)
        out["cpu_bench"] = time.process_time() - cpu
        out["cpu_service"] = sum(served.cpu_times()[:2]) - served_cpu
        out["stages"] = stages[-calls:]
    finally:
        direct.close()
        remote.close()
        service.terminate()
        service.join()
        emu.stop()
    return out


MOMENTUM = '''
LOOKBACK = 8


def strategy(context, config_dict):
    assets = config_dict["symbols"]
    prices = context.get_history(assets, window=LOOKBACK + 1, frequency="15m", fields="close")
    if len(prices) <= LOOKBACK:
        return None
    returns = prices.iloc[-1] / prices.iloc[0] - 1
    up = [a for a in assets if returns[a] > 0]
    return {a: 1.0 / len(up) for a in up}
'''


def _notebook_function() -> Any:
    import builtins
    import linecache

    filename = "/tmp/ipykernel_bench/1.py"
    linecache.cache[filename] = (len(MOMENTUM), None, MOMENTUM.splitlines(True), filename)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    exec(compile(MOMENTUM, filename, "exec"), ns)
    return ns["strategy"]


def promote_and_memory(tmp: Path, *, speed: float) -> dict[str, Any]:
    """Promote a paper session; time its first completed cycle; measure its processes."""
    import psutil

    import aifap
    from aifap.db import make_engine, migrate
    from aifap.live.journal import Journal

    migrate(f"sqlite:///{tmp / 'r.db'}")
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    start = time.perf_counter()
    handle = aifap.promote(
        _notebook_function(), f"bench{int(speed)}", symbols=symbols, rebalance_every="15m",
        config={"symbols": symbols}, clock={"kind": "replay", "speed": speed}, duration="720h",
        finwatcher_interval="15m", alert_channel="none", strategies=tmp / "strategies",
        workdir=str(tmp / f"wd{int(speed)}"), results_database_url=f"sqlite:///{tmp / 'r.db'}",
        validation_days=1)
    launched = time.perf_counter() - start
    journal = Journal(make_engine(f"sqlite:///{tmp / 'r.db'}", fresh=True), handle.session_id)
    first = None
    try:
        while time.perf_counter() - start < 600:
            if any(c.state == "done" for c in journal.cycles()):
                first = time.perf_counter() - start
                break
            time.sleep(0.05)
        time.sleep(5.0)  # let the processes settle (imports, caches, a few cycles)
        status = handle.status()
        memory = {}
        for role in ("runner", "papermill", "kernel", "strategy", "main", "finwatcher"):
            info = psutil.Process(status.pids[role]).memory_full_info()
            memory[role] = (info.rss / 2**20, info.pss / 2**20)
    finally:
        handle.stop(timeout=60)
    return {"launched": launched, "first_cycle": first, "memory": memory}


def _stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.0f} | {p90:.0f} | {ms[0]:.0f} | {ms[-1]:.0f}"


def _print_hops(out: dict[str, Any], latency_s: float) -> None:
    load = os.getloadavg()
    runs = len(out["direct_orders"])
    print(f"one gateway call, {latency_s * 1000:g} ms per exchange request; {runs} rounds; "
          f"load average {load[0]:.2f} / {load[1]:.2f}; {os.cpu_count()} cores")
    print("| call | direct: median | p90 | min | max (ms) | remote: median | p90 | min | max "
          "| remote - direct (medians) |")
    for call in ("account", "orders"):
        direct, remote = out[f"direct_{call}"], out[f"remote_{call}"]
        gap = (statistics.median(remote) - statistics.median(direct)) * 1000
        print(f"| {call} | {_stats(direct)} | {_stats(remote)} | {gap:+.1f} |")
    names = sorted({k for row in out["stages"] for k in row})
    print("service stages per order batch, median ms: " + ", ".join(
        f"{k} {statistics.median(row.get(k, 0.0) for row in out['stages']):.2f}" for k in names))
    print(f"CPU seconds: bench process {out['cpu_bench']:.2f}, service {out['cpu_service']:.2f} "
          f"({runs + 1} rounds of both variants)")


def main() -> None:
    """Run the benchmarks and print Markdown rows for benches/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--only", choices=["latency", "promote", "hops"], default=None)
    parser.add_argument("--gateway", action="store_true",
                        help="time direct (limiter off) against the gateway service (remote)")
    parser.add_argument("--timeline", action="store_true",
                        help="print the last run's requests as the emulator saw them")
    args = parser.parse_args()
    if args.only == "hops":
        _print_hops(hops(args.runs, args.latency), args.latency)
    if args.only in (None, "latency"):
        floor = 6 * args.latency * 1000
        variants = ("off", "remote") if args.gateway else ("off", "on")
        cpu_bench = time.process_time()
        results = latency(args.runs, args.latency, variants)
        cpu_bench = time.process_time() - cpu_bench
        load = os.getloadavg()
        print(f"cycle latency, 20 symbols, {args.latency * 1000:g} ms per request, "
              f"floor {floor:.0f} ms, target {2 * floor:.0f} ms; {args.runs} runs; "
              f"load average {load[0]:.2f} / {load[1]:.2f}; {os.cpu_count()} cores")
        print("| limiter | to last ack: median | p90 | min | max (ms) | plan ready: median "
              "| handed over: median | cycle done: median |")
        for limiter in variants:
            planned, handed, done = (statistics.median(results[f"{limiter}_{k}"]) * 1000
                                     for k in ("planned", "handed", "done"))
            print(f"| {limiter} | {_stats(results[f'{limiter}_ack'])} | {planned:.0f} "
                  f"| {handed:.0f} | {done:.0f} |")
        if args.gateway:
            gap = (statistics.median(results["remote_ack"])
                   - statistics.median(results["off_ack"])) * 1000
            print(f"through the gateway service: median + {gap:.1f} ms over direct "
                  f"(target <= 15 ms: {'met' if gap <= 15 else 'NOT met'})")
            print(f"per remote cycle, at the service: new TCP connections "
                  f"{sorted(set(results['connections']))} for "
                  f"{statistics.median(results['requests']):.0f} requests (median); "
                  f"service CPU s median {statistics.median(results['cpu_service']):.2f}")
        print(f"CPU seconds of the bench process (user + sys): {cpu_bench:.1f}")
        if args.timeline:
            for limiter in variants:
                print(f"requests of the last run, limiter {limiter} (start, end ms; path):")
                print("\n".join(results[f"{limiter}_timeline"]))
            if args.gateway:
                print("the remote client's requests of the last run (start ms; round trip; "
                      "the service's stages):")
                print("\n".join(results["remote_calls"]))
    if args.only in (None, "promote"):
        with tempfile.TemporaryDirectory(prefix="aifap-bench-promote-") as tmp:
            out = promote_and_memory(Path(tmp), speed=0.0)
            print(f"promote returned after {out['launched']:.1f} s; first completed cycle "
                  f"{out['first_cycle']:.1f} s after the call")
            out = promote_and_memory(Path(tmp), speed=60.0)
            print("memory of a running paper session (speed 60): role RSS / PSS MiB")
            total = 0.0
            for role, (rss, pss) in out["memory"].items():
                print(f"| {role} | {rss:.0f} | {pss:.0f} |")
                total += pss if role in ("strategy", "main", "finwatcher") else 0.0
            print(f"three processes, PSS together: {total:.0f} MiB")
            pod = sum(pss for _, pss in out["memory"].values())
            print(f"the whole session as a pod runs it (runner, papermill, kernel, three "
                  f"processes), PSS together: {pod:.0f} MiB")


if __name__ == "__main__":
    main()
