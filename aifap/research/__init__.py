"""Research at scale: parameter sweeps and walk-forward tests of a strategy, on Dask.

``aifap.sweep(strategy, data, grid)`` runs one :func:`aifap.backtest` per parameter
combination (grid, random or Optuna search) on a local cluster or an existing Dask
scheduler; ``aifap.walk_forward(...)`` picks the best parameters on rolling train
windows and runs them on the following test windows.
"""

from aifap.research.sweep import SweepResult, sweep
from aifap.research.walkforward import WalkForwardResult, walk_forward

__all__ = ["SweepResult", "WalkForwardResult", "sweep", "walk_forward"]
