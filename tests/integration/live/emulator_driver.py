"""Run demo sessions (ccxt's real ``bitget`` class) against an in-process Bitget emulator.

Usage: ``python emulator_driver.py SPEC.json``. The spec holds the session config
(``exchange_url`` is filled in here), a list of ``runs`` (each: ``faults`` to inject
before it, ``env`` to set during it) and ``out``, where the exit codes and the
emulator's orders, positions and fills are written as JSON.

A run may also hold ``config`` (overrides of the session config for that run),
``partial_fills`` (a list of ``BitgetEmulator.partial_fills`` keyword sets, applied
after clearing the previous run's) and ``before`` (what happens at the exchange while
the session is down, before the run starts: ``{"advance_minutes": n}`` moves the
exchange's clock and processes the bars in between, ``{"order": {...}}`` places an
order by hand through a ccxt client on the session's account (with ``"at_stop": f``
in it, the symbol's price is pinned at ``f`` × its armed stop loss while it fills),
``{"price_factor": [symbol, f]}`` jumps the symbol's price by ``f`` for an instant so
its resting triggers react).

The emulator lives in this process (the session's parent) and reads the session's
own clock: the supervisor's ``SessionClock`` lives in shared memory, so the stepped
replay clock that drives the three processes drives the exchange too. Its bars are
the session's synthetic market, so the strategy and the exchange see the same prices.
Runs share the emulator, so a later run is a restart against the same exchange.

With ``"gateway": "remote"`` in the spec, the session trades through the gateway
service instead (``aifap serve gateway`` in its own process, see
``tests/helpers/gateway_process.py``): the session's config gets ``exchange: remote``,
the service's URL and a token, and no keys. A run's ``kill_gateway`` (``{"after_orders": n,
"down_s": s}``) SIGKILLs the service once the exchange has seen ``n`` more order
placements and starts it again ``s`` seconds later.

A run with ``"papermill": speed`` runs the session as production does: the live
template under papermill (``run_live_notebook``, output ``<workdir>/session.ipynb``),
in a kernel of its own, on a replay clock at ``speed``. The session's clock is then
out of reach, so the exchange's runs at the same speed from the run's start: ahead of
the session's by the kernel's start-up, never behind it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from helpers.gateway_process import GatewayProcess, kill_when

import aifap.live.supervisor as supervisor
from aifap.data.sources import open_bar_source
from aifap.exchange.emulator import BitgetEmulator, EmulatorMarket, ManualClock
from aifap.live import run_session

KEY, SECRET, PASSPHRASE = "demo-key", "demo-secret", "demo-pass"


class _Clocks:
    """The emulator's clock: the current session's clock, or the last time it showed."""

    def __init__(self, start_ms: int) -> None:
        self.current: Any = None
        self.fallback = ManualClock(start_ms)

    def __call__(self) -> int:
        if self.current is not None:
            ms = int(self.current.ms())
            self.fallback.set(ms)
            return ms
        return self.fallback()


class _Paced:
    """A replay clock running at ``speed`` from ``start_ms``, as from now."""

    def __init__(self, start_ms: int, speed: float) -> None:
        self.start_ms, self.speed, self.began = start_ms, speed, time.monotonic()

    def ms(self) -> int:
        return self.start_ms + round((time.monotonic() - self.began) * self.speed * 1000)


def _papermill(config: dict[str, Any], clocks: _Clocks, speed: float, directory: Path) -> int:
    """Run the session through the live template under papermill; return its exit code."""
    import yaml

    from aifap.deploy.papermill_run import run_live_notebook

    path = directory / "papermill-session.yaml"
    config = {**config, "clock": {**config["clock"], "speed": speed}}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    clocks.current = _Paced(clocks(), speed)
    return run_live_notebook(path, echo=None).exit_code


def _install(clocks: _Clocks) -> None:
    base = supervisor.SessionClock

    class Recorded(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            clocks.current = self

    supervisor.SessionClock = Recorded  # type: ignore[misc]


def _emulator(config: dict[str, Any], start_ms: int, clocks: _Clocks) -> BitgetEmulator:
    spot = config.get("market") == "spot"
    source = open_bar_source(None, market="spot" if spot else "futures", symbols=config["symbols"])
    markets = [EmulatorMarket.from_spec(source.markets()[s]) for s in config["symbols"]]

    def bars(symbol: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        frame = source.bars(symbol, "1m", start=start.to_pydatetime(), end=end.to_pydatetime())
        return frame[frame.index < end]

    emulator = BitgetEmulator(
        bars=bars, markets=markets, clock=clocks, initial_balance=config["allocation"]
    )
    if spot:
        emulator.add_account(KEY, SECRET, PASSPHRASE, spot_balance=config["allocation"])
    else:
        emulator.add_account(KEY, SECRET, PASSPHRASE, balance=config["allocation"])
    return emulator


def _faults(emulator: BitgetEmulator, faults: list[dict[str, Any]]) -> None:
    emulator.faults.clear()
    emulator.faults.seed(7)
    for fault in faults:
        fault = dict(fault)
        how = fault.pop("how")
        getattr(emulator.faults, how)(**fault)


def _partials(emulator: BitgetEmulator, rules: list[dict[str, Any]]) -> None:
    emulator.partial_fills(None)
    for rule in rules:
        emulator.partial_fills(**rule)


def _while_down(emulator: BitgetEmulator, clocks: _Clocks, actions: list[dict[str, Any]]) -> None:
    from aifap.exchange.emulator import bitget_client

    for action in actions:
        if "advance_minutes" in action:
            clocks.fallback.advance(60 * float(action["advance_minutes"]))
            emulator.advance()
        if "price_factor" in action:  # a jump (the symbol's triggers react), then the bars again
            symbol, factor = action["price_factor"]
            now = emulator.now_ms()
            emulator.set_price(symbol, emulator.pricing.price(symbol, now) * Decimal(str(factor)))
            emulator.set_price(symbol, None)
        if "order" in action:
            order = dict(action["order"])
            at_stop = order.pop("at_stop", None)
            compact = str(order["symbol"]).split(":")[0].replace("/", "")
            if at_stop is not None:
                stop = next(
                    p.trigger_price
                    for p in emulator.ledger(KEY).open_plans(compact)
                    if p.plan_type in ("pos_loss", "loss_plan")
                )
                emulator.set_price(compact, stop * Decimal(str(at_stop)))
            client = bitget_client(emulator, key=KEY, secret=SECRET, passphrase=PASSPHRASE)
            try:
                client.create_order(
                    order.pop("symbol"), "market", order.pop("side"), order.pop("amount"),
                    params=order,
                )
            finally:
                client.session.close()
                if at_stop is not None:
                    emulator.set_price(compact, None)


def _state(emulator: BitgetEmulator) -> dict[str, Any]:
    view = emulator.ledger(KEY)
    return {
        "orders": [
            {
                "client_oid": o.client_oid,
                "symbol": o.symbol,
                "side": o.side,
                "size": str(o.size),
                "status": o.status,
                "reduce_only": o.reduce_only,
            }
            for o in view.orders
        ],
        "positions": {s: str(p.size) for s, p in view.positions.items() if p.size != Decimal(0)},
        "spot": {coin: str(amount) for coin, amount in view.spot.items()},
        "fills": len(view.fills),
        "fill_rows": [
            {"client_oid": f.client_oid, "size": str(f.size), "side": f.side, "ts": f.ts,
             "trade_id": f.trade_id, "symbol": f.symbol, "quote": str(f.quote),
             "fee": str(f.fee), "fee_coin": f.fee_coin}
            for f in view.fills
        ],
        "open_orders": [o.client_oid for o in view.orders if o.is_open],
        "drift": str(view.futures_drift()),
        "faults": [r.fault for r in emulator.request_log.records() if r.fault],
        "demo_requests": all(
            r.demo for r in emulator.request_log.records(path="/api/v2/mix/order/*")
        ),
        "clock_ms": emulator.now_ms(),
        "slowest_order_s": max(
            (r.end - r.start for r in emulator.request_log.records(path="/api/v2/mix/order/*")
             if r.end is not None),
            default=0.0,
        ),
    }


def _journal(config: dict[str, Any]) -> dict[str, Any]:
    from aifap.db import make_engine
    from aifap.live.journal import Journal

    journal = Journal(make_engine(config["results_database_url"], fresh=True), config["session_id"])
    row = journal.session_row()
    return {
        "status": None if row is None else row.status,
        "reason": None if row is None else row.reason,
        "cycles": {c.cycle: c.state for c in journal.cycles()},
        "journal_orders": {o.client_id: [o.status, o.sends] for o in journal.orders()},
        "critical": [e.message for e in journal.events() if e.level == "critical"],
    }


class _Sampler:
    """Record the environment and command line of every session process (not the gateway's)."""

    def __init__(self, gateway: GatewayProcess) -> None:
        import threading

        self.gateway = gateway
        self.seen: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="sampler", daemon=True).start()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.05):
            gateway = self.gateway.proc.pid if self.gateway.proc is not None else None
            for child in me.children(recursive=True):
                if child.pid == gateway or child.pid in self.seen:
                    continue
                try:
                    self.seen[child.pid] = {"environ": child.environ(), "cmdline": child.cmdline()}
                except psutil.Error:
                    continue

    def take(self) -> list[dict[str, Any]]:
        out, self.seen = list(self.seen.values()), {}
        return out


def main(spec_path: str) -> int:
    """Run the spec's sessions one after the other; write what happened to ``out``."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    config = spec["config"]
    start_ms = int(pd.Timestamp(config["clock"]["start"]).value // 1_000_000)
    clocks = _Clocks(start_ms)
    _install(clocks)
    emulator = _emulator(config, start_ms, clocks).start()
    results: list[dict[str, Any]] = []
    gateway: GatewayProcess | None = None
    try:
        config = {**config, "exchange_url": emulator.url}
        if spec.get("gateway") == "remote":
            gateway = GatewayProcess(Path(spec["out"]).parent, emulator.url, config).start()
            config = gateway.session_config(config)
        sampler = _Sampler(gateway) if gateway is not None else None
        for run in spec["runs"]:
            watcher = None
            if gateway is not None and run.get("kill_gateway"):
                watcher = kill_when(gateway, emulator, **run["kill_gateway"])
            _faults(emulator, run.get("faults", []))
            _partials(emulator, run.get("partial_fills", []))
            _while_down(emulator, clocks, run.get("before", []))
            saved = {k: os.environ.get(k) for k in run.get("env", {})}
            os.environ.update(run.get("env", {}))
            try:
                if run.get("papermill"):
                    code = _papermill(
                        {**config, **run.get("config", {})},
                        clocks,
                        float(run["papermill"]),
                        Path(spec["out"]).parent,
                    )
                else:
                    code = run_session({**config, **run.get("config", {})}, log_stdout=False)
            finally:
                for key, value in saved.items():
                    os.environ.pop(key, None) if value is None else os.environ.update({key: value})
            clocks.current = None
            killed = watcher.join() if watcher is not None else None
            extra: dict[str, Any] = {} if killed is None else {"gateway_killed": killed}
            if sampler is not None:
                extra["session_processes"] = sampler.take()
                extra["session_config"] = {**config, **run.get("config", {})}
            results.append({"code": code, **_state(emulator), **_journal(config), **extra})
    finally:
        if gateway is not None:
            gateway.stop()
        emulator.stop()
    Path(spec["out"]).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
