"""Gateway benchmark: 20 orders (4 batches of 5) through ``CcxtGateway`` at the emulator.

    .venv/bin/python benches/gateway.py              # 9 runs each, 20 ms latency
    .venv/bin/python benches/gateway.py --runs 21    # more runs, steadier percentiles

The real ``ccxt.bitget`` client talks to the local Bitget emulator (in its own process,
as a real exchange would be), which delays every
request by ``--latency`` (default 20 ms). Each run uses a fresh account and a fresh
gateway, calls ``prepare()`` (position mode, margin mode, leverage of the 5 symbols)
and ``validate()`` on the first batch (loads markets and caches the reference prices
used for minimum-notional checks), then times ``place_orders`` on 4 batches of 5
market orders, one per symbol, with ``confirm_orders=False`` (placement only, no
fetch of each order after it).

Two configurations:

- **limiter off** (``rate_limit=False``): the floor is 4 x latency (each batch's 5
  requests in flight at once); targets: <= 1.5 x floor and <= floor + 50 ms.
- **limiter on** (production): ccxt's Bitget table costs ``v2/mix/order/place-order``
  2 units of ``rateLimit`` = 50 ms, so the gateway's shared limiter starts one
  place-order every 100 ms across all threads. Its own floor for 20 orders is
  19 x 100 ms + one latency (the last request's round trip); target <= 1.1 x that.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ccxt  # noqa: E402
from remote_emulator import RemoteEmulator  # noqa: E402

from aifap.core.markets import MarketType  # noqa: E402
from aifap.core.orders import OrderRequest, Side, client_order_id  # noqa: E402
from aifap.exchange.ccxt.gateway import CcxtGateway  # noqa: E402
from aifap.exchange.emulator import (  # noqa: E402
    DEFAULT_MARKETS,
    BitgetEmulator,
    EmulatorMarket,
    ManualClock,
)

AMOUNTS = {
    "BTCUSDT": "0.002",
    "ETHUSDT": "0.02",
    "SOLUSDT": "0.5",
    "XRPUSDT": "20",
    "ADAUSDT": "20",
}
BATCHES = 4
PLACE_ORDER = "/api/v2/mix/order/place-order"
PLACE_ORDER_COST = 2  # ccxt bitget.py: 'v2/mix/order/place-order': {'cost': 2}


def build_emulator() -> BitgetEmulator:
    """The bench's emulator: the default pairs plus ADAUSDT, a fixed clock, a large balance."""
    return BitgetEmulator(
        markets=markets(), clock=ManualClock("2024-03-01T00:00:00Z"), initial_balance=100_000
    )


def markets() -> list[EmulatorMarket]:
    """The emulator's 4 default pairs plus ADAUSDT: 5 futures symbols for a batch of 5."""
    ada = EmulatorMarket(
        "ADAUSDT",
        "ADA",
        MarketType.FUTURES,
        4,
        0,
        Decimal(1),
        max_leverage=75,
        fallback_price=Decimal("0.5"),
    )
    return [*DEFAULT_MARKETS, ada]


def batch(run: int, cycle: int) -> list[OrderRequest]:
    """Five market buys, one per symbol, with deterministic client ids."""
    return [
        OrderRequest(
            client_order_id(f"bench{run}", cycle, symbol, "open"), symbol, Side.BUY, Decimal(amount)
        )
        for symbol, amount in AMOUNTS.items()
    ]


def one_run(emu: RemoteEmulator, run: int, rate_limit: bool) -> tuple[float, list[float]]:
    """Time ``place_orders`` on 4 batches of 5 on a fresh account.

    Returns:
        The seconds it took, and each batch's span in the emulator's request log
        (first request in to last response out).
    """
    gateway = CcxtGateway(
        venue="bitget",
        market_type=MarketType.FUTURES,
        api_key=f"bench-{rate_limit}-{run}",
        secret="bench-secret",
        password="bench-pass",
        api_url=emu.url,
        rate_limit=rate_limit,
        leverage=5,
        confirm_orders=False,
        timeout_ms=5_000,
    )
    try:
        gateway.prepare(list(AMOUNTS))
        gateway.validate(batch(run, 0))  # markets and reference prices, cached
        time.sleep(0.25)  # let the limiter's window from the warm-up pass
        emu.ask("reset_log")
        start = time.perf_counter()
        for cycle in range(BATCHES):
            orders = gateway.place_orders(batch(run, cycle))
            assert all(o.exchange_id for o in orders), orders
        elapsed = time.perf_counter() - start
        placed = sorted(emu.ask("spans", PLACE_ORDER))
        assert len(placed) == BATCHES * len(AMOUNTS)
        spans = [
            max(end for _, end in group) - group[0][0]
            for group in (placed[i : i + len(AMOUNTS)] for i in range(0, len(placed), 5))
        ]
        return elapsed, spans
    finally:
        gateway.close()


def summary(times: list[float]) -> dict[str, float]:
    """Median, p90, min and max in milliseconds."""
    ordered = sorted(t * 1000 for t in times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0], "max": ordered[-1]}


def main() -> None:
    """Run both configurations and print a Markdown table for benches/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    args = parser.parse_args()

    emu = RemoteEmulator(build_emulator, args.latency)
    latency_ms = args.latency * 1000
    concurrency = 0
    try:
        off, off_spans, outside = [], [], []
        for run in range(args.runs):
            elapsed, spans = one_run(emu, run, rate_limit=False)
            concurrency = max(concurrency, emu.ask("max_concurrency", PLACE_ORDER))
            off.append(elapsed)
            off_spans += spans
            outside.append(elapsed - sum(spans))
        rate_limit_ms = float(ccxt.bitget().rateLimit)
        on = [one_run(emu, run, rate_limit=True)[0] for run in range(args.runs)]
    finally:
        emu.stop()

    orders = BATCHES * len(AMOUNTS)
    floor_off = BATCHES * latency_ms
    gap = rate_limit_ms * PLACE_ORDER_COST
    floor_on = (orders - 1) * gap + latency_ms
    load = os.getloadavg()
    print(
        f"conditions: {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} "
        f"(1 / 5 min), Python {platform.python_version()}, ccxt {ccxt.__version__}, "
        f"{args.runs} runs each, latency {latency_ms:.0f} ms on every request, "
        f"max place-order concurrency seen {concurrency}"
    )
    print()
    print(
        "| run | floor (ms) | target (ms) | median (ms) | p90 (ms) | min (ms) | max (ms) "
        "| median / floor |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, times, floor, target in (
        ("limiter off", off, floor_off, min(1.5 * floor_off, floor_off + 50)),
        ("limiter on", on, floor_on, 1.1 * floor_on),
    ):
        s = summary(times)
        print(
            f"| {name} | {floor:.0f} | {target:.0f} | {s['median']:.1f} | {s['p90']:.1f} "
            f"| {s['min']:.1f} | {s['max']:.1f} | {s['median'] / floor:.2f} |"
        )
    span = summary(off_spans)
    print()
    print(
        f"limiter off, one batch inside the emulator (first request in, last response "
        f"out): median {span['median']:.1f} ms, p90 {span['p90']:.1f} ms, min "
        f"{span['min']:.1f} ms (latency {latency_ms:.0f} ms)"
    )
    rest = summary(outside)
    print(
        f"limiter off, 4 batches outside the emulator (gateway + ccxt + HTTP client): "
        f"median {rest['median']:.1f} ms, p90 {rest['p90']:.1f} ms"
    )


if __name__ == "__main__":
    main()
