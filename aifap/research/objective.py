"""The metric a sweep ranks combinations by, and which way is better."""

from __future__ import annotations

import math
from typing import Any

from aifap.core.errors import ConfigError

# metric of aifap.backtest's result -> True when larger is better
OBJECTIVES: dict[str, bool] = {
    "sharpe": True,
    "roe": True,
    "pnl": True,
    "final_equity": True,
    "realized_pnl": True,
    "max_drawdown": True,  # a fraction <= 0: closer to 0 is better
    "volatility": False,
    "fees": False,
    "trades": False,
}


def check_objective(objective: str) -> str:
    """Return ``objective`` if it is a metric a sweep can rank by.

    Raises:
        ConfigError: it is not one of :data:`OBJECTIVES`.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(
            f"objective must be one of {', '.join(sorted(OBJECTIVES))}, was {objective!r}"
        )
    return objective


def score(objective: str, value: Any) -> float:
    """Return ``value`` as a number where larger is better (-inf when missing or NaN)."""
    if value is None:
        return -math.inf
    number = float(value)
    if math.isnan(number):
        return -math.inf
    return number if OBJECTIVES[objective] else -number
