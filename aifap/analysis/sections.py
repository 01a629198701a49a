"""The sections of the tear-sheet notebook (``templates/reports/tearsheet.ipynb``).

Each ``show_*`` function displays one part of the report in the running kernel: an
HTML table or note, or matplotlib figures (shown, then closed). Headline numbers are
the core's metrics from the results directory; nothing here recomputes them.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from aifap.analysis.report import HEADLINE, ReportData
from aifap.analysis.round_trips import extract_round_trips, round_trip_summary
from aifap.analysis.tearsheet import (
    MIN_DAILY_DAYS,
    draw_panels,
    drawdown_table,
    plot_equity,
    report_panels,
)

STYLE = """<style>
.aifap-report table { border-collapse: collapse; margin: 0.4em 0 1em; }
.aifap-report th, .aifap-report td { border: 1px solid #ddd; padding: 3px 10px; }
.aifap-report td { text-align: right; } .aifap-report th { text-align: left; background: #f6f6f6; }
.aifap-report p.note { color: #555; max-width: 60em; }
</style>"""


def _display(markup: str, *, style: bool = False) -> None:
    from IPython.display import HTML, display

    display(HTML(f'{STYLE if style else ""}<div class="aifap-report">{markup}</div>'))


def _show_figure(figure: Any) -> None:
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(figure)
    plt.close(figure)


def format_value(value: Any, style: str) -> str:
    """Format one headline value: money, percent, ratio, int or text."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if style == "money":
        return f"{float(value):,.2f}"
    if style == "percent":
        return f"{float(value) * 100:.2f} %"
    if style == "ratio":
        return f"{float(value):.3f}"
    if style == "int":
        return f"{int(value):,}"
    return html.escape(str(value))


def headline_rows(data: ReportData) -> list[tuple[str, str, str | None]]:
    """Return (label, value, value over the period) rows of the headline table."""
    rows = []
    for key, label, style in HEADLINE:
        if key not in data.metrics and not (data.period_metrics and key in data.period_metrics):
            continue
        period = format_value(data.period_metrics.get(key), style) if data.period_metrics else None
        rows.append((label, format_value(data.metrics.get(key), style), period))
    return rows


def show_headline(data: ReportData) -> None:
    """Display the title, what the report covers, and the core's metrics table."""
    parts = [f"<h1>{html.escape(data.title)}</h1>"]
    if data.info:
        facts = " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in data.info.items())
        parts.append(f'<p class="note">{facts}</p>')
    period = data.period_metrics.get("label") if data.period_metrics else None
    head = "<tr><th>metric</th><th>to date</th>" + (
        f"<th>{html.escape(str(period))}</th></tr>" if period else "</tr>"
    )
    body = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{value}</td>"
        + (f"<td>{p}</td>" if period else "")
        + "</tr>"
        for label, value, p in headline_rows(data)
    )
    parts.append(f'<table class="headline">{head}{body}</table>')
    source = "finwatcher's last snapshot" if data.kind == "session" else "the backtest"
    parts.append(
        f'<p class="note">Metrics from {source}, as defined in aifap.core.metrics: PV = '
        "balance + unrealized PnL; ROE over the starting allocation; Sharpe from daily "
        "returns (the last PV of each UTC day; day one against the allocation), risk-free "
        "rate 0, annualized with √365; max drawdown from the running peak of PV. pyfolio's "
        "own 252-day statistics are left out; its panels below need no annualization, and "
        "the rolling Sharpe and volatility are ours, with √365.</p>"
    )
    _display("".join(parts), style=True)


def show_equity(data: ReportData) -> None:
    """Display PV over time with its drawdown (every observation, not daily)."""
    if data.equity.empty:
        _display('<p class="note">No portfolio values recorded yet: nothing to plot.</p>')
        return
    what = "finwatcher snapshot" if data.kind == "session" else "bar"
    figure = plot_equity(data.equity, title=f"Portfolio value (every {what})")
    figure.tight_layout()
    _show_figure(figure)


def show_panels(data: ReportData) -> None:
    """Display the daily panels the history fills, and say which were left out and why."""
    panels = report_panels(data.daily, data.positions, data.transactions)
    drawn, short, failed = draw_panels(panels, data.days)
    notes = []
    if data.days < MIN_DAILY_DAYS:
        notes.append(
            f"This report covers {data.days} day(s) of daily returns; the daily panels need at "
            f"least {MIN_DAILY_DAYS}, so it shows the metrics and the portfolio value only."
        )
    elif short:
        notes.append(
            f"With {data.days} days of history these panels are left out: " + "; ".join(short)
        )
    if failed:
        notes.append("pyfolio could not draw: " + "; ".join(failed))
    if notes:
        _display("".join(f'<p class="note">{html.escape(n)}</p>' for n in notes))
    for _title, figure in drawn:
        _show_figure(figure)
    if data.days >= MIN_DAILY_DAYS + 3:
        table = drawdown_table(data.daily)
        if len(table):
            _display("<h2>Worst drawdown periods</h2>" + table.to_html(border=0))


def show_positions(data: ReportData) -> None:
    """Display the average and largest share of PV each symbol held (daily)."""
    positions = data.positions
    if positions is None or data.days == 0:
        return
    symbols = positions.drop(columns="cash", errors="ignore")
    if symbols.empty or not symbols.abs().to_numpy().any():
        return
    total = positions.sum(axis=1).replace(0.0, float("nan"))
    share = symbols.div(total, axis=0)
    table = pd.DataFrame(
        {
            "average share of PV": share.mean(),
            "largest long": share.clip(lower=0).max(),
            "largest short": share.clip(upper=0).min(),
        }
    ).sort_values("average share of PV", key=abs, ascending=False)
    _display(
        "<h2>Positions (each day's last snapshot)</h2>"
        + table.to_html(border=0, float_format=lambda v: f"{v * 100:.2f} %")
    )


def show_round_trips(data: ReportData) -> None:
    """Display round-trip statistics (FIFO over fractional amounts, our own code)."""
    if data.transactions is None or data.transactions.empty:
        return
    trips = extract_round_trips(data.transactions)
    if trips.empty:
        _display('<p class="note">No position was closed: no round trips yet.</p>')
        return
    summary = round_trip_summary(trips)
    _display(
        "<h2>Round trips</h2>"
        '<p class="note">Lots closed first in, first out over fractional amounts; PnL '
        "before fees and funding.</p>"
        + summary.to_html(
            border=0, float_format=lambda v: f"{v:,.4f}", formatters={"round trips": str}
        )
    )
