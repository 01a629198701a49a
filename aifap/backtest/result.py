"""What a backtest returns: equity, returns, positions and transactions in pyfolio's formats."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aifap.core import metrics as core_metrics


class BacktestResult:
    """The outcome of :func:`aifap.backtest`.

    Attributes:
        equity: PV (wallet balance + uPnL) at each base bar's close, indexed by that
            close time; the first point is the starting capital.
        returns: daily simple returns of PV (pyfolio's ``returns``), UTC midnight index.
        positions: pyfolio's ``positions``: per UTC day, each symbol's signed value
            (``size × contract size × close``) and ``cash`` (PV − Σ values).
        transactions: pyfolio's ``transactions``: one row per fill, ``amount`` (signed,
            base units traded; a spot buy's holding grows by that less its base fee),
            ``price``, ``symbol``, indexed by fill time.
        orders: every fill with its reason, client id, fee (its value in the quote, also
            for a spot buy's fee charged in the base) and realized PnL, plus the legs
            the planner dropped (``status='dropped'``, with the reason: spot dust too).
            ``client_id`` is a ``str`` column, NaN for stop fills and dropped legs.
            Built when first read: a year of fills is ~10^6 rows with a hashed id
            each, which a sweep reading only the metrics never needs (the run passes
            ``orders`` as a function that builds it).
        metrics: :func:`aifap.core.metrics.summary` of ``equity`` plus trade counts.
        errors: the rebalances skipped with ``on_error='skip'`` (time, message).
        config: the arguments of the run.
    """

    def __init__(
        self,
        equity: pd.Series,
        returns: pd.Series,
        positions: pd.DataFrame,
        transactions: pd.DataFrame,
        orders: pd.DataFrame | Callable[[], pd.DataFrame],
        metrics: dict[str, Any],
        errors: list[tuple[pd.Timestamp, str]] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        """Hold a run's results; ``orders`` may be a function building the frame on demand."""
        self.equity = equity
        self.returns = returns
        self.positions = positions
        self.transactions = transactions
        self._orders = orders
        self.metrics = metrics
        self.errors = [] if errors is None else errors
        self.config = {} if config is None else config

    @property
    def orders(self) -> pd.DataFrame:
        """Return the orders frame (see the class docstring), built once when first read."""
        if not isinstance(self._orders, pd.DataFrame):
            self._orders = self._orders()
        return self._orders

    def __repr__(self) -> str:
        m = self.metrics
        return (
            f"BacktestResult(final_equity={m.get('final_equity'):.2f}, roe={m.get('roe'):.4f}, "
            f"sharpe={m.get('sharpe')}, max_drawdown={m.get('max_drawdown'):.4f}, "
            f"trades={m.get('trades')})"
        )

    def metrics_table(self) -> pd.Series:
        """Return the metrics as a Series (one row per metric) for display."""
        return pd.Series(self.metrics, dtype="object", name="value")

    def save(self, directory: str | Path) -> Path:
        """Write equity, returns, positions, transactions, orders (CSV) and metrics (JSON)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.equity.rename("equity").to_csv(out / "equity.csv", index_label="timestamp")
        self.returns.rename("returns").to_csv(out / "returns.csv", index_label="timestamp")
        self.positions.to_csv(out / "positions.csv", index_label="timestamp")
        self.transactions.to_csv(out / "transactions.csv", index_label="timestamp")
        self.orders.to_csv(out / "orders.csv", index=False)
        payload = {
            "metrics": _jsonable(self.metrics),
            "errors": [[str(t), m] for t, m in self.errors],
            "config": _jsonable(self.config),
        }
        (out / "metrics.json").write_text(json.dumps(payload, indent=2, sort_keys=True))
        return out

    def plot(self, ax: Any = None) -> Any:
        """Plot the equity curve and its drawdown; return the matplotlib figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, (top, bottom) = plt.subplots(
                2, 1, sharex=True, figsize=(10, 6), gridspec_kw={"height_ratios": [3, 1]}
            )
        else:
            top, bottom, fig = ax, None, ax.figure
        # tz-aware datetimes: matplotlib keeps UTC (a datetime64 array would lose it)
        times = self.equity.index.to_pydatetime()
        top.plot(times, self.equity.to_numpy(), lw=1)
        top.set_ylabel("equity (PV)")
        top.set_title("Backtest equity")
        if bottom is not None:
            dd = core_metrics.drawdown(self.equity.to_numpy())
            bottom.fill_between(times, dd, 0, color="tab:red", alpha=0.4)
            bottom.set_ylabel("drawdown")
        return fig

    def tear_sheet(self, path: str | Path | None = None, **kwargs: Any) -> Any:
        """Build the pyfolio tear sheet (daily returns, √365) via ``aifap.analysis``."""
        from aifap.analysis.tearsheet import create_tear_sheet

        return create_tear_sheet(
            self.returns,
            positions=self.positions,
            transactions=self.transactions,
            output=path,
            **kwargs,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, int | np.integer | bool | str) or value is None:
        return value.item() if isinstance(value, np.generic) else value
    return str(value)
