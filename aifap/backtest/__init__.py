"""The backtester: the live planner and fill model driven over historical bars.

``aifap.backtest(strategy, data)`` returns a :class:`BacktestResult` with the equity
curve, daily returns, positions and transactions in pyfolio's formats, and the
metrics of :mod:`aifap.core.metrics`.
"""

import sys
import types
from typing import Any

from aifap.backtest import compiled

compiled.select()  # before anything imports the books: a stale compiled build is not run

from aifap.backtest.result import BacktestResult  # noqa: E402
from aifap.backtest.run import backtest  # noqa: E402

__all__ = ["BacktestResult", "backtest"]


class _CallableModule(types.ModuleType):
    """Let ``aifap.backtest(...)`` work even when ``aifap.backtest`` is this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> BacktestResult:
        return backtest(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
