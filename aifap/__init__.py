"""AIFAP: a Jupyter-first research-to-live platform for crypto portfolio rebalancing."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it; imported on first use so `import aifap` stays fast
_LAZY: dict[str, str] = {
    "BacktestResult": "aifap.backtest.result",
    "Context": "aifap.context",
    "InvalidTargetError": "aifap.core.errors",
    "StrategyError": "aifap.core.errors",
    "SweepResult": "aifap.research.sweep",
    "SyntheticMarket": "aifap.data.synthetic",
    "WalkForwardResult": "aifap.research.walkforward",
    "backtest": "aifap.backtest.run",
    "load_config": "aifap.live.config",
    "load_strategy": "aifap.strategy",
    "parity": "aifap.replay.run",
    "promote": "aifap.notebook.promote",
    "session_summary": "aifap.notebook.session_report",
    "sweep": "aifap.research.sweep",
    "walk_forward": "aifap.research.walkforward",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aifap' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
