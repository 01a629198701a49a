"""The backtester's own cost per rebalance, without the strategy's: a replay of its outputs.

    .venv/bin/python benches/order_path.py --case turnover --days 2
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python benches/order_path.py --case turnover --days 2 --quiet

The outputs of the ``benches/backtest.py`` rule are computed first, at the same
rebalance bars and on the same bars (the floor's ``FloorContext``); then
``aifap.backtest`` runs a strategy that hands them back one by one, so what the run
costs is the engine: ``parse_targets``, the planner, fills, the ledger, the fill log,
the SL/TP and equity stretch, the result frames. Run it under callgrind at two lengths
(``--days 2`` and ``--days 1``), and the same with ``--outputs-only`` (computing the
outputs, no backtest); the difference of the differences, divided by the rebalances
between the two lengths (288 a day at 5m), is the engine's instruction count per
rebalance, free of the start-up, of the strategy and of the machine's load.

With ``--outputs FILE`` the outputs are computed once and pickled to FILE (when it is
missing), and read from it after that: the measured process then runs no pandas rule.
Prefer it for instruction counts: CPython 3.11's type-attribute cache is indexed by
the addresses of the attribute names, so a change anywhere in the engine can make the
rule's pandas calls collide in it or stop colliding, moving the rule's own count by
±0.2 M a rebalance in the replay process but not in the ``--outputs-only`` one. The
part to subtract is then ``--outputs-only`` with the same FILE (loading it).
"""

from __future__ import annotations

import argparse
import gc
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from backtest import CASES, ArraySource, FloorContext, rebalance_rows, synthetic  # noqa: E402

import aifap  # noqa: E402


def outputs(frames, rows, config, rule) -> list:
    """Return the rule's output at each rebalance row (served as the floor serves it)."""
    symbols = list(frames)
    closes = np.column_stack([frames[s]["close"].to_numpy() for s in symbols])
    ctx = FloorContext(closes, frames[symbols[0]].index, symbols)
    out = []
    for row in rows:
        ctx.row = row
        out.append(rule(ctx, config))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="turnover")
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--tick", type=float, default=0.01, help="price grid (0: raw floats)")
    parser.add_argument(
        "--ledger", choices=["auto", "decimal"], default="auto", help="aifap.backtest's ledger="
    )
    parser.add_argument("--quiet", action="store_true", help="print the result line only")
    parser.add_argument(
        "--outputs-only",
        action="store_true",
        help="compute the outputs, no backtest: the part to subtract",
    )
    parser.add_argument(
        "--outputs",
        type=Path,
        default=None,
        help="pickle of the outputs: written when missing, read after (see above)",
    )
    args = parser.parse_args()
    frames = synthetic(args.assets, args.days, tick=args.tick)
    symbols = list(frames)
    config = {"symbols": symbols}
    if args.case == "turnover":
        kind, threshold, fee = "spot", 0.0, 0.0006
    else:
        kind, threshold, fee = "futures", 0.01, 0.0
    rows = rebalance_rows(frames[symbols[0]].index, 60, 300)
    key = (args.case, args.assets, args.days, args.tick)
    if args.outputs is None:
        replies = iter(outputs(frames, rows, config, CASES[args.case]))
    elif args.outputs.exists():
        saved = pickle.loads(args.outputs.read_bytes())
        if saved["key"] != key:
            parser.error(f"--outputs {args.outputs} holds {saved['key']}, not {key}")
        replies = iter(saved["outputs"])
    else:
        made = outputs(frames, rows, config, CASES[args.case])
        args.outputs.write_bytes(pickle.dumps({"key": key, "outputs": made}))
        print(f"wrote the outputs of {key} to {args.outputs}: run again to measure")
        return
    if args.outputs_only:
        return

    def replay(context, config_dict):
        return next(replies)

    gc.collect()
    t = time.process_time()
    result = aifap.backtest(
        replay, ArraySource(frames, kind), config=config, rebalance_every="5m",
        fee_rate=fee, market=kind, threshold=threshold, progress=False, ledger=args.ledger,
    )  # fmt: skip
    spent = time.process_time() - t
    m = result.metrics
    print(
        f"{args.case} {args.days} d: rebalances {m['rebalances']:,}, fills {m['trades']:,}, "
        f"dropped {m['dropped_legs']:,}, final equity {m['final_equity']!r}"
    )
    if not args.quiet:
        per = spent / m["rebalances"] * 1e6
        print(f"engine CPU {spent:.2f} s, {per:.0f} us / rebalance, {result.config['ledger']}")


if __name__ == "__main__":
    main()
