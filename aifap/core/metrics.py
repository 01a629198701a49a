"""The seed's metrics, defined once for the backtest, finwatcher and the dashboards.

Definitions (quote currency; fractions, not percent):

- **PV** (portfolio value) = wallet balance + unrealized PnL. The wallet balance is
  allocation + realized PnL − fees ± funding; an exchange "equity" that already
  contains uPnL must never be used as the balance.
- **uPnL** = Σ side × (mark − entry) × size × contract size over open positions
  (``size`` signed: side × |size|).
- **PnL** = PV − the allocation at session start; **ROE** = PnL / that allocation.
- **Daily returns**: PV at the end of each UTC day over the previous day's end (the
  first day over the starting allocation). A day is ``(00:00, 24:00]``: an
  observation at exactly midnight closes the day before.
- **Sharpe** = mean(daily return − Rf/365) / std(daily return, ddof=1) × √365;
  Rf = 0 by default; None with fewer than two days or zero volatility.
- **Max drawdown** = min over t of PV_t / max_{s<=t} PV_s − 1: a fraction <= 0
  (−0.25 means the equity fell 25 % below its running peak).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from aifap.core.portfolio import Position

DAYS_PER_YEAR = 365


def unrealized_pnl(positions: Iterable[Position]) -> Decimal:
    """Return Σ side × (mark − entry) × |size| × contract size."""
    return sum((p.unrealized_pnl for p in positions), Decimal(0))


def portfolio_value(balance: Decimal, positions: Iterable[Position]) -> Decimal:
    """Return PV = wallet balance + unrealized PnL."""
    return balance + unrealized_pnl(positions)


def pnl(pv: float | Decimal, initial: float | Decimal) -> float:
    """Return PnL = PV − the allocation at session start."""
    return float(pv) - float(initial)


def roe(pv: float | Decimal, initial: float | Decimal) -> float:
    """Return ROE = (PV − initial allocation) / initial allocation, as a fraction."""
    start = float(initial)
    if start <= 0:
        raise ValueError(f"initial allocation must be > 0, was {initial}")
    return (float(pv) - start) / start


def _series(equity: pd.Series) -> pd.Series:
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise ValueError(f"equity index must be a DatetimeIndex, was {type(equity.index).__name__}")
    values = equity.astype("float64")
    if values.index.tz is None:
        values.index = values.index.tz_localize("UTC")
    return values


def daily_returns(equity: pd.Series, initial: float | None = None) -> pd.Series:
    """Return simple returns of PV between the ends of consecutive UTC days.

    Args:
        equity: PV observations indexed by UTC time (any frequency).
        initial: the allocation at session start; the first day's return is taken
            against it (default: the first observation).

    Returns:
        A float64 Series indexed by UTC midnight of each day (pyfolio's format).
    """
    values = _series(equity)
    if values.empty:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype="float64")
    closes = values.resample("1D", closed="right", label="left").last().dropna()
    start = float(values.iloc[0]) if initial is None else float(initial)
    first = values.index[0]
    if first == first.floor("D") and len(closes) > 1:
        closes = closes.iloc[1:]  # a first point at midnight only opens the first day
    previous = closes.shift(1)
    previous.iloc[0] = start
    out = closes / previous - 1.0
    out.name = "returns"
    return out


def sharpe_ratio(
    returns: pd.Series | np.ndarray,
    risk_free: float = 0.0,
    periods_per_year: int = DAYS_PER_YEAR,
) -> float | None:
    """Return the annualized Sharpe ratio of periodic (daily) returns.

    ``mean(r − risk_free / periods) / std(r, ddof=1) × √periods``; ``risk_free`` is an
    annual rate. None when there are fewer than two returns or no volatility.
    """
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    if r.size < 2:
        return None
    excess = r - risk_free / periods_per_year
    std = float(np.std(excess, ddof=1))
    if std == 0 or not math.isfinite(std):
        return None
    return float(np.mean(excess) / std * math.sqrt(periods_per_year))


def drawdown(equity: pd.Series | np.ndarray) -> np.ndarray:
    """Return PV / running peak − 1 at each observation (values <= 0)."""
    values = np.asarray(equity, dtype="float64")
    if values.size == 0:
        return values
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, values / peak - 1.0, 0.0)


def max_drawdown(equity: pd.Series | np.ndarray) -> float:
    """Return the maximum drawdown of PV as a fraction <= 0 (0.0 for an empty series)."""
    dd = drawdown(equity)
    return float(dd.min()) if dd.size else 0.0


def annualized_volatility(returns: pd.Series | np.ndarray) -> float | None:
    """Return std(daily returns, ddof=1) × √365, or None with fewer than two returns."""
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    if r.size < 2:
        return None
    return float(np.std(r, ddof=1) * math.sqrt(DAYS_PER_YEAR))


def summary(
    equity: pd.Series,
    *,
    initial: float | None = None,
    risk_free: float = 0.0,
    trades: int | None = None,
    fees: float | None = None,
    funding: float | None = None,
) -> dict[str, Any]:
    """Return the metrics table of an equity (PV) series.

    Keys: ``start``, ``end``, ``initial``, ``final_equity``, ``pnl``, ``roe``,
    ``sharpe``, ``max_drawdown``, ``volatility``, ``days``, and ``trades``, ``fees``,
    ``funding`` when given. Sharpe and volatility use daily returns and √365.
    """
    values = _series(equity)
    start = float(values.iloc[0]) if initial is None and not values.empty else initial
    if start is None:
        raise ValueError("initial allocation must be given for an empty equity series")
    final = float(values.iloc[-1]) if not values.empty else float(start)
    daily = daily_returns(values, initial=start)
    table: dict[str, Any] = {
        "start": values.index[0] if not values.empty else None,
        "end": values.index[-1] if not values.empty else None,
        "initial": float(start),
        "final_equity": final,
        "pnl": pnl(final, start),
        "roe": roe(final, start),
        "sharpe": sharpe_ratio(daily, risk_free=risk_free),
        "max_drawdown": max_drawdown(values),
        "volatility": annualized_volatility(daily),
        "days": len(daily),
    }
    if trades is not None:
        table["trades"] = trades
    if fees is not None:
        table["fees"] = fees
    if funding is not None:
        table["funding"] = funding
    return table
