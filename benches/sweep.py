"""Sweep benchmark: 24 combinations of the seed momentum on N assets x D days, on Dask.

    .venv/bin/python benches/sweep.py                  # 20 assets x 30 days (the target)
    .venv/bin/python benches/sweep.py --assets 5 --days 3   # a quick look

Measures, on the same bars (benches/backtest.py's correlated random walks, 1m) and the
same backtest arguments (futures, rebalance every 5m, fee 6 bps):

- **single**: one ``aifap.backtest`` of one combination in this process (wall, CPU s);
- **1 worker / 2 workers**: ``aifap.sweep`` of the 24 combinations on a LocalCluster of
  that many single-threaded worker processes (wall from the call to the table, cluster
  start and the bars' scatter included; CPU seconds of this process and its workers);
- **speed-up** = wall(1 worker) / wall(2 workers) (target >= 1.8 on 2 cores);
- **overhead per combination** = sweep time / (the 24 single backtests' summed time) - 1
  (target <= 5 %), by wall clock and by CPU seconds (the CPU figure moves far less with
  the machine's load). ``--baseline all`` (the default) times a single backtest of every
  combination in this process, one after the other, so each row is compared with its own
  run (the combinations differ in cost: longer lookbacks, more trades);
  ``--baseline middle`` times only the middle combination and multiplies it by 24.

The load average is printed before and after: on a shared machine, record it beside
the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aifap  # noqa: E402
from aifap.data.frames import FrameBarSource  # noqa: E402

GRID = {"lookback": [5, 10, 20, 40], "window": [60, 100, 150], "take_profit": [0.03, 0.05]}
KWARGS = {"rebalance_every": "5m", "fee_rate": 0.0006}
MOMENTUM = ROOT / "strategies" / "momentum.py"


def _bars(assets: int, days: int) -> dict:
    spec = importlib.util.spec_from_file_location(
        "bench_backtest", ROOT / "benches" / "backtest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.synthetic(assets, days))


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the Dask workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn, *args, **kwargs):
    cpu, wall = _cpu(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, _cpu() - cpu


def _sweep(source: FrameBarSource, workers: int):
    """``aifap.sweep`` on a local cluster of ``workers``, timed in parts.

    The same steps as ``aifap.sweep(..., workers=N)`` (a ``LocalCluster`` with the
    sweep's settings and pinning, :func:`~aifap.research.execute.local_cluster`, the scatter,
    the tasks, the shutdown), with the cluster made here so that Dask's task stream can
    report each task's compute time on its worker.
    """
    from distributed import get_task_stream

    from aifap.research.execute import local_cluster

    cpu, wall = _cpu(), time.perf_counter()
    cluster, client = local_cluster(workers)
    started = time.perf_counter()
    with get_task_stream(client) as stream:
        result = aifap.sweep(MOMENTUM, source, GRID, scheduler=client, progress=False, **KWARGS)
    swept = time.perf_counter()
    client.close()
    cluster.close()
    end = time.perf_counter()
    compute = sum(
        part["stop"] - part["start"]
        for task in stream.data
        if str(task["key"]).startswith("job-")
        for part in task["startstops"]
        if part["action"] == "compute"
    )
    split = {"start": started - wall, "compute": compute, "close": end - swept}
    return result, end - wall, _cpu() - cpu, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--baseline",
        choices=["all", "middle"],
        default="all",
        help="single backtests to compare with: every combination (default) or the middle one",
    )
    args = parser.parse_args()
    combos = 1
    for values in GRID.values():
        combos *= len(values)
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}")
    source = FrameBarSource(_bars(args.assets, args.days))
    params = {k: v[len(v) // 2] for k, v in GRID.items()}
    single, single_wall, single_cpu = _timed(
        aifap.backtest, MOMENTUM, source, config=params, **KWARGS
    )
    print(
        f"single backtest {params}: {single_wall:.2f} s wall, {single_cpu:.2f} CPU s, "
        f"{single.metrics['trades']} trades"
    )
    base_wall, base_cpu = single_wall * combos, single_cpu * combos
    if args.baseline == "all":
        base_wall, base_cpu = 0.0, 0.0
        for combo in itertools.product(*GRID.values()):
            config = dict(zip(GRID, combo, strict=True))
            _, wall, cpu = _timed(aifap.backtest, MOMENTUM, source, config=config, **KWARGS)
            base_wall += wall
            base_cpu += cpu
        print(
            f"{combos} single backtests one after the other: {base_wall:.2f} s wall, "
            f"{base_cpu:.2f} CPU s; load average {os.getloadavg()}"
        )
    walls = {}
    for n in args.workers:
        result, wall, cpu, split = _sweep(source, n)
        assert result.table["error"].isna().all(), result.failed
        row = result.table.set_index(list(GRID)).loc[tuple(params.values())]
        assert row["final_equity"] == single.metrics["final_equity"]
        walls[n] = wall
        print(
            f"{n} worker(s): {combos} combinations in {wall:.2f} s wall, {cpu:.2f} CPU s; "
            f"per combination {wall / combos:.2f} s wall "
            f"(overhead {wall / base_wall - 1:+.1%}), {cpu / combos:.2f} CPU s "
            f"(overhead {cpu / base_cpu - 1:+.1%}); "
            f"load average {os.getloadavg()}"
        )
        print(
            f"   of which: cluster start {split['start']:.2f} s, the tasks' compute on the "
            f"workers {split['compute']:.2f} s in all (vs the single runs' {base_wall:.2f} s: "
            f"{split['compute'] / base_wall - 1:+.1%}), cluster shutdown {split['close']:.2f} s"
        )
    if 1 in walls and 2 in walls:
        print(f"speed-up 2 workers vs 1: {walls[1] / walls[2]:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
