"""pyfolio tear sheets as one self-contained HTML file, with crypto's 365-day year.

pyfolio (and empyrical by default) annualize with 252 trading days and expect one
return per day. Crypto trades every day, so :func:`create_tear_sheet`:

- compounds bar returns (1m, 5m, ...) into daily returns, and takes each day's last
  positions;
- computes the headline table with empyrical and ``annualization=365`` (Sharpe
  from daily returns with Rf = 0, the definition of :mod:`aifap.core.metrics`); the
  HTML says so, because pyfolio's own plots (rolling Sharpe, volatility) still use 252;
- draws pyfolio's returns, positions and transactions sheets with the Agg renderer,
  embeds each figure as a base64 PNG and closes it;
- leaves round trips out: pyfolio's round-trip analysis casts amounts to integers
  and fails on fractional crypto amounts.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from aifap.core.downsample import MAX_POINTS, downsample

log = logging.getLogger(__name__)

ANNUALIZATION = 365
_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th { background: #f5f5f5; } p.note { color: #555; font-size: 0.9em; max-width: 60em; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def daily_returns(returns: pd.Series) -> pd.Series:
    """Compound bar returns into calendar-day (UTC) returns; days without bars are dropped."""
    series = _utc(pd.Series(returns, dtype="float64").dropna())
    grouped = (1.0 + series).groupby(series.index.floor("D"))
    daily = grouped.prod() - 1.0
    daily.index = pd.DatetimeIndex(daily.index, name=None)
    return daily


def headline_stats(daily: pd.Series, benchmark: pd.Series | None = None) -> pd.Series:
    """Return the headline metrics of daily returns, annualized with 365 days."""
    import empyrical as ep

    stats = {
        "Start date": daily.index[0].date().isoformat() if len(daily) else "",
        "End date": daily.index[-1].date().isoformat() if len(daily) else "",
        "Days": len(daily),
        "Cumulative return": ep.cum_returns_final(daily),
        "Annual return": ep.annual_return(daily, annualization=ANNUALIZATION),
        "Annual volatility": ep.annual_volatility(daily, annualization=ANNUALIZATION),
        "Sharpe ratio": ep.sharpe_ratio(daily, annualization=ANNUALIZATION),
        "Sortino ratio": ep.sortino_ratio(daily, annualization=ANNUALIZATION),
        "Calmar ratio": ep.calmar_ratio(daily, annualization=ANNUALIZATION),
        "Max drawdown": ep.max_drawdown(daily),
        "Stability": ep.stability_of_timeseries(daily),
        "Omega ratio": ep.omega_ratio(daily, annualization=ANNUALIZATION),
        "Tail ratio": ep.tail_ratio(daily),
        "Daily value at risk": ep.value_at_risk(daily),
        "Best day": daily.max(),
        "Worst day": daily.min(),
    }
    if benchmark is not None and len(benchmark):
        aligned = benchmark.reindex(daily.index).fillna(0.0)
        alpha, beta = ep.alpha_beta(daily, aligned, annualization=ANNUALIZATION)
        stats["Alpha"], stats["Beta"] = alpha, beta
    return pd.Series(stats, dtype="object")


def create_tear_sheet(
    returns: pd.Series,
    *,
    positions: pd.DataFrame | None = None,
    transactions: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
    output: str | Path | None = None,
    title: str = "AIFAP tear sheet",
) -> str | Path:
    """Build a pyfolio tear sheet as a self-contained HTML page.

    Args:
        returns: per-bar (or daily) simple returns with a DatetimeIndex.
        positions: pyfolio's positions frame: value per symbol and a ``cash`` column.
        transactions: pyfolio's transactions frame: ``amount`` (signed), ``price``,
            ``symbol``, indexed by time.
        benchmark: per-bar or daily returns of a benchmark (e.g. BTC buy-and-hold).
        output: where to write the HTML; None returns the HTML as a string.
        title: the page title.

    Returns:
        The HTML (``output`` is None) or the path written.

    Raises:
        ValueError: ``returns`` is empty or has no DatetimeIndex.
    """
    if not isinstance(returns, pd.Series) or not isinstance(returns.index, pd.DatetimeIndex):
        raise ValueError("returns must be a pandas Series with a DatetimeIndex")
    daily = daily_returns(returns)
    if daily.empty:
        raise ValueError("returns must hold at least one bar, was empty")
    bench = (
        daily_returns(benchmark).reindex(daily.index).fillna(0.0) if benchmark is not None else None
    )
    pos = _daily_positions(positions, daily.index) if positions is not None else None
    txn = _transactions(transactions) if transactions is not None and len(transactions) else None
    stats = headline_stats(daily, bench)
    figures, tables = _pyfolio_sheets(daily, pos, txn, bench)
    page = _render(title, stats, figures, tables)
    if output is None:
        return page
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    log.debug("tear sheet written to %s", path)
    return path


def plot_equity(equity: pd.Series, *, title: str = "Equity", ax: Any = None) -> Any:
    """Plot an equity curve with its drawdown shaded; return the matplotlib Figure.

    A long curve (a month of minutes) is drawn from its M4-downsampled points
    (:func:`aifap.core.downsample.downsample`): the same picture at a fraction of the cost.
    """
    import matplotlib.pyplot as plt

    curve = _utc(pd.Series(equity, dtype="float64").dropna())
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4))
    else:
        fig = ax.figure
    peak = curve.cummax()
    if len(curve) > MAX_POINTS:
        keep = downsample(curve.index.as_unit("ms").asi8, curve.to_numpy(), MAX_POINTS)
        curve, peak = curve.iloc[keep], peak.iloc[keep]
    ax.plot(curve.index, curve.to_numpy(), color="#1f77b4", lw=1.2, label="equity")
    ax.fill_between(
        curve.index, curve.to_numpy(), peak.to_numpy(), color="#d62728", alpha=0.2, label="drawdown"
    )
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def _utc(series: pd.Series) -> pd.Series:
    index = pd.DatetimeIndex(series.index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return series.set_axis(index)


def _daily_positions(positions: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    frame = positions.copy()
    index = pd.DatetimeIndex(frame.index)
    frame.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    daily = frame.groupby(frame.index.floor("D")).last()
    daily.index = pd.DatetimeIndex(daily.index, name=None)
    return daily.reindex(days).ffill().fillna(0.0).astype("float64")


def _transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    frame = transactions.loc[:, ["amount", "price", "symbol"]].copy()
    index = pd.DatetimeIndex(frame.index)
    frame.index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    frame["amount"] = frame["amount"].astype("float64")
    frame["price"] = frame["price"].astype("float64")
    return frame


@contextmanager
def _quiet_pyfolio(tables: list[tuple[str | None, str]]) -> Iterator[Any]:
    """Import pyfolio, capture the tables it would display, silence its known warnings."""
    category_log = logging.getLogger("matplotlib.category")
    level = category_log.level
    with warnings.catch_warnings():
        for module in ("pyfolio", "empyrical", "seaborn", "matplotlib", "pandas"):
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
            warnings.filterwarnings("ignore", category=FutureWarning, module=module)
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=module)
        # short histories: "identical low and high xlims", empty rolling windows
        warnings.filterwarnings("ignore", category=UserWarning, module="pyfolio")
        warnings.filterwarnings("ignore", message='Module "zipline.assets" not found')
        warnings.filterwarnings("ignore", message=".*inplace.*")
        warnings.filterwarnings("ignore", message="Unable to generate turnover plot")
        # pyfolio plots tz-aware daily indexes; matplotlib notes it drops the zone (UTC)
        warnings.filterwarnings("ignore", message="no explicit representation of timezones")
        for module in ("pyfolio", "empyrical", "numpy"):
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=module)
        if "matplotlib.pyplot" not in sys.modules:
            import matplotlib

            matplotlib.use("Agg")  # no display needed; a notebook's backend is kept
        import pyfolio

        def capture(table: Any, name: str | None = None, **kwargs: Any) -> None:
            header = kwargs.get("header_rows") or {}
            if "Start date" in header:
                return  # pyfolio's perf stats, annualized with 252: replaced by ours
            frame = table.to_frame() if isinstance(table, pd.Series) else table
            fmt = kwargs.get("float_format")
            tables.append((name, frame.to_html(float_format=fmt, border=0)))

        # pyfolio plots dates as strings: matplotlib logs an INFO line per axis
        category_log.setLevel(logging.WARNING)
        try:
            with mock.patch.object(pyfolio.utils, "print_table", capture):
                yield pyfolio
        finally:
            category_log.setLevel(level)


def _pyfolio_sheets(
    daily: pd.Series,
    positions: pd.DataFrame | None,
    transactions: pd.DataFrame | None,
    benchmark: pd.Series | None,
) -> tuple[list[tuple[str, str]], list[tuple[str | None, str]]]:
    import matplotlib.pyplot as plt

    tables: list[tuple[str | None, str]] = []
    figures: list[tuple[str, str]] = []
    before = set(plt.get_fignums())
    try:
        with _quiet_pyfolio(tables) as pf:
            sheets: list[tuple[str, Callable[[], Any]]] = [
                (
                    "Returns",
                    lambda: pf.create_returns_tear_sheet(
                        daily,
                        positions=positions,
                        transactions=transactions,
                        benchmark_rets=benchmark,
                        return_fig=True,
                    ),
                ),
            ]
            if positions is not None:
                sheets.append(
                    (
                        "Positions",
                        lambda: pf.create_position_tear_sheet(daily, positions, return_fig=True),
                    )
                )
            if positions is not None and transactions is not None:
                sheets.append(
                    (
                        "Transactions",
                        lambda: pf.create_txn_tear_sheet(
                            daily, positions, transactions, return_fig=True
                        ),
                    )
                )
            for name, make in sheets:
                try:
                    figure = make()
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    log.warning("pyfolio %s sheet failed: %s", name.lower(), exc)
                    continue
                figures.append((name, _png(figure)))
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
    return figures, tables


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _format(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "nan" if not np.isfinite(value) else f"{value:.4f}"
    return html.escape(str(value))


def _render(
    title: str,
    stats: pd.Series,
    figures: list[tuple[str, str]],
    tables: list[tuple[str | None, str]],
) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_format(v)}</td></tr>" for k, v in stats.items()
    )
    parts = [
        "<!DOCTYPE html>",
        f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Performance</h2>",
        f'<table class="headline">{rows}</table>',
        '<p class="note">Bar returns compounded to daily (UTC) returns. The metrics above '
        "are computed with empyrical using annualization=365 (crypto trades every day; "
        "Sharpe from daily returns, risk-free rate 0). pyfolio's plots below (rolling "
        "volatility and Sharpe) annualize with 252 days, which understates them by "
        "a factor of sqrt(252/365). Round-trip analysis is left out: pyfolio's fails on "
        "fractional amounts.</p>",
    ]
    for name, table in tables:
        parts.append(f"<h2>{html.escape(name or 'Table')}</h2>{table}")
    for name, png in figures:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(
            f'<img alt="{html.escape(name)} tear sheet" src="data:image/png;base64,{png}">'
        )
    parts.append("</body></html>")
    return "\n".join(parts)


# --- report panels: one figure each, drawn only where the history fills them ---------

ROLLING_DAYS = 30
MIN_DAILY_DAYS = 2
MIN_QUANTILE_DAYS = 14
MIN_MONTHLY_DAYS = 60


@dataclass(frozen=True)
class Panel:
    """One report figure: its title, the days of history it needs and how to draw it."""

    title: str
    min_days: int
    draw: Callable[[Any], Any]  # (ax) -> None
    needs: str = "returns"  # returns, positions or transactions


def rolling_sharpe(daily: pd.Series, window: int = ROLLING_DAYS) -> pd.Series:
    """Return the rolling Sharpe of daily returns over ``window`` days, annualized with √365."""
    roll = daily.rolling(window)
    return (roll.mean() / roll.std(ddof=1) * np.sqrt(ANNUALIZATION)).dropna()


def rolling_volatility(daily: pd.Series, window: int = ROLLING_DAYS) -> pd.Series:
    """Return the rolling volatility of daily returns over ``window`` days, × √365."""
    return (daily.rolling(window).std(ddof=1) * np.sqrt(ANNUALIZATION)).dropna()


def _line(series: pd.Series, label: str, ax: Any) -> None:
    ax.plot(series.index.to_pydatetime(), series.to_numpy(), lw=1.2)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


def report_panels(
    daily: pd.Series,
    positions: pd.DataFrame | None = None,
    transactions: pd.DataFrame | None = None,
) -> list[Panel]:
    """Return every report panel of daily returns, positions and transactions.

    pyfolio draws the panels it has with 252-day annualization only where none is
    involved (cumulative returns, drawdowns, monthly tables, exposures); the rolling
    Sharpe and volatility are ours, with √365.
    """
    import pyfolio.plotting as pp

    def has_drawdown() -> bool:
        return bool((1.0 + daily).cumprod().pipe(lambda c: (c / c.cummax() - 1.0).min()) < 0)

    panels = [
        Panel(
            "Cumulative returns",
            MIN_DAILY_DAYS,
            lambda ax: pp.plot_rolling_returns(daily, ax=ax),
        ),
        Panel("Daily returns", MIN_DAILY_DAYS, lambda ax: pp.plot_returns(daily, ax=ax)),
        Panel(
            "Underwater (drawdown from the running peak)",
            MIN_DAILY_DAYS,
            lambda ax: pp.plot_drawdown_underwater(daily, ax=ax),
        ),
    ]
    if has_drawdown():
        panels.append(
            Panel(
                "Top 5 drawdown periods",
                MIN_DAILY_DAYS + 3,
                lambda ax: pp.plot_drawdown_periods(daily, top=5, ax=ax),
            )
        )
    panels += [
        Panel(
            f"Rolling {ROLLING_DAYS}-day Sharpe ratio (√365)",
            ROLLING_DAYS + 1,
            lambda ax: _line(rolling_sharpe(daily), "Sharpe", ax),
        ),
        Panel(
            f"Rolling {ROLLING_DAYS}-day volatility (√365)",
            ROLLING_DAYS + 1,
            lambda ax: _line(rolling_volatility(daily), "volatility", ax),
        ),
        Panel(
            "Return quantiles (daily, weekly, monthly)",
            MIN_QUANTILE_DAYS,
            lambda ax: pp.plot_return_quantiles(daily, ax=ax),
        ),
        Panel(
            "Monthly returns (%)",
            MIN_MONTHLY_DAYS,
            lambda ax: pp.plot_monthly_returns_heatmap(daily, ax=ax),
        ),
        Panel("Annual returns", MIN_MONTHLY_DAYS, lambda ax: pp.plot_annual_returns(daily, ax=ax)),
        Panel(
            "Distribution of monthly returns",
            MIN_MONTHLY_DAYS,
            lambda ax: pp.plot_monthly_returns_dist(daily, ax=ax),
        ),
    ]
    if positions is not None and len(positions.columns.drop("cash", errors="ignore")):
        panels += [
            Panel(
                "Long and short exposure",
                MIN_DAILY_DAYS,
                lambda ax: pp.plot_exposures(daily, positions, ax=ax),
                "positions",
            ),
            Panel(
                "Holdings per day",
                MIN_DAILY_DAYS,
                lambda ax: pp.plot_holdings(daily, positions, ax=ax),
                "positions",
            ),
            Panel(
                "Gross leverage",
                MIN_DAILY_DAYS,
                lambda ax: pp.plot_gross_leverage(daily, positions, ax=ax),
                "positions",
            ),
            Panel(
                "Position concentration",
                MIN_DAILY_DAYS,
                lambda ax: pp.plot_max_median_position_concentration(positions, ax=ax),
                "positions",
            ),
        ]
        if transactions is not None and len(transactions):
            panels += [
                Panel(
                    "Daily turnover",
                    MIN_DAILY_DAYS,
                    lambda ax: pp.plot_turnover(daily, transactions, positions, ax=ax),
                    "transactions",
                ),
                Panel(
                    "Daily trading volume",
                    MIN_DAILY_DAYS,
                    lambda ax: pp.plot_daily_volume(daily, transactions, ax=ax),
                    "transactions",
                ),
            ]
    return panels


def draw_panels(
    panels: list[Panel], days: int
) -> tuple[list[tuple[str, Any]], list[str], list[str]]:
    """Draw the panels ``days`` of history fill; return (title, Figure) pairs, the titles
    left out for a short history and the titles pyfolio could not draw (with why).
    """  # noqa: D205
    import matplotlib.pyplot as plt

    drawn: list[tuple[str, Any]] = []
    short: list[str] = []
    failed: list[str] = []
    with _quiet_pyfolio([]):
        for panel in panels:
            if days < panel.min_days:
                short.append(f"{panel.title} (needs {panel.min_days} days)")
                continue
            figure, ax = plt.subplots(figsize=(10, 3.6))
            try:
                panel.draw(ax)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                plt.close(figure)
                log.warning("panel %r failed: %s", panel.title, exc)
                failed.append(f"{panel.title}: {type(exc).__name__}")
                continue
            ax.set_title(panel.title)
            figure.tight_layout()
            drawn.append((panel.title, figure))
    return drawn, short, failed


def drawdown_table(daily: pd.Series, top: int = 5) -> pd.DataFrame:
    """Return the worst drawdown periods of daily returns (pyfolio's table)."""
    from pyfolio import timeseries

    with _quiet_pyfolio([]):
        table = timeseries.gen_drawdown_table(daily, top=top)
    return table.dropna(how="all")
