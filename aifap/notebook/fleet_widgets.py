"""The fleet dashboard: every session of a results database, sortable, with sparklines."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets

from aifap.notebook.dashboard_data import FleetRow, fleet
from aifap.notebook.widgets import (
    CSS,
    GREEN,
    MUTED,
    RED,
    STATE_COLORS,
    Refresher,
    age_text,
    card,
    clock_text,
    engine_for,
    esc,
    number,
    pct,
)


def sparkline_svg(values: Sequence[float], width: int = 140, height: int = 30) -> str:
    """Return a tiny inline SVG line of ``values`` (green when it ends up, red when down)."""
    if len(values) < 2:
        return f'<svg class="aifap-spark" width="{width}" height="{height}"></svg>'
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )
    color = GREEN if values[-1] >= values[0] else RED
    return (
        f'<svg class="aifap-spark" data-points="{len(values)}" width="{width}" '
        f'height="{height}"><polyline fill="none" stroke="{color}" stroke-width="1.5" '
        f'points="{points}"/></svg>'
    )


SORT_KEYS = {
    "session": "session_id",
    "state": "state",
    "PV": "pv",
    "ROE": "roe",
    "drawdown": "max_drawdown",
    "Sharpe": "sharpe",
    "last heartbeat": "heartbeat_age",
}


def fleet_html(rows: Sequence[FleetRow], key: str = "session_id", descending: bool = False) -> str:
    """Return the fleet table sorted on ``key`` (missing values last)."""
    present = [r for r in rows if r.sort_value(key)[0] == 0]
    missing = [r for r in rows if r.sort_value(key)[0] == 1]
    ordered = sorted(present, key=lambda r: r.sort_value(key), reverse=descending) + sorted(
        missing, key=lambda r: r.session_id
    )
    head = ("session", "strategy", "trader", "state", "PV (USDT)", "ROE", "max drawdown",
            "Sharpe", "last snapshot", "last heartbeat", "PV")  # fmt: skip
    body = []
    for r in ordered:
        color = STATE_COLORS.get(r.state, MUTED)
        cells = (
            f"<td><b>{esc(r.session_id)}</b></td><td>{esc(r.strategy)}</td>"
            f"<td>{esc(r.trader)}</td>"
            f'<td><span class="aifap-badge" style="background:{color}">{esc(r.state)}</span></td>'
            f'<td data-value="{r.pv if r.pv is not None else ""}">{number(r.pv)}</td>'
            f'<td style="color:{GREEN if (r.roe or 0) >= 0 else RED}">{pct(r.roe)}</td>'
            f'<td style="color:{RED}">{pct(r.max_drawdown)}</td>'
            f"<td>{'—' if r.sharpe is None else f'{r.sharpe:.2f}'}</td>"
            f"<td>{clock_text(r.last_ms)}</td><td>{age_text(r.heartbeat_age)}</td>"
            f"<td>{sparkline_svg(r.spark)}</td>"
        )
        body.append(
            f'<tr class="aifap-fleet-row" data-session="{esc(r.session_id)}" '
            f'data-state="{esc(r.state)}">{cells}</tr>'
        )
    if not body:
        return '<div class="aifap-fleet aifap-muted" data-rows="0">No sessions yet</div>'
    return (
        f'<table class="aifap-table aifap-fleet" data-rows="{len(body)}" data-sort="{key}">'
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


class FleetDashboard:
    """Every session in a results database, sortable, refreshed from a kernel timer.

    Args:
        load: returns the fleet's rows (:func:`aifap.notebook.dashboard_data.fleet`).
        refresh_seconds: how often it reloads while shown (0: never).
    """

    def __init__(self, load: Callable[[], list[FleetRow]], refresh_seconds: float = 10.0) -> None:
        self.load = load
        self.refresh_seconds = refresh_seconds
        self.rows: list[FleetRow] = []
        self.sort = widgets.Dropdown(
            options=list(SORT_KEYS), value="session", description="Sort by"
        )
        self.order = widgets.ToggleButtons(options=["ascending", "descending"], value="ascending")
        self.sort.add_class("aifap-sort")
        self.order.add_class("aifap-order")
        self.table = widgets.HTML()
        self.footer = widgets.HTML()
        self.sort.observe(lambda _: self.redraw(), names="value")
        self.order.observe(lambda _: self.redraw(), names="value")
        title = widgets.HTML('<div class="aifap-title">AIFAP sessions</div>')
        root = widgets.VBox(
            [
                widgets.HTML(CSS),
                card(title, "aifap-header"),
                widgets.HBox([self.sort, self.order]),
                card(self.table, "aifap-fleet-card"),
                self.footer,
            ]
        )
        root.add_class("aifap-dash")
        root.add_class("aifap-fleet-dashboard")
        self.widget = root
        self.refresher = Refresher(self.refresh, refresh_seconds)

    def refresh(self) -> list[FleetRow]:
        """Reload every session and redraw; return the rows."""
        self.rows = self.load()
        self.redraw()
        return self.rows

    def redraw(self) -> None:
        """Draw the rows in the chosen order."""
        key = SORT_KEYS[self.sort.value]
        self.table.value = fleet_html(self.rows, key, self.order.value == "descending")
        self.footer.value = (
            f'<div class="aifap-footer aifap-muted">{len(self.rows)} sessions · updated '
            f"{datetime.now(UTC).strftime('%H:%M:%S')} UTC</div>"
        )

    def start(self) -> FleetDashboard:
        """Start refreshing every ``refresh_seconds``; return self."""
        self.refresher.start()
        return self

    def stop(self) -> None:
        """Stop refreshing."""
        with contextlib.suppress(Exception):
            self.refresher.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def fleet_dashboard(
    results_url: str | None = None, refresh_seconds: float = 10.0
) -> FleetDashboard:
    """Return the fleet dashboard of a results database, drawn and refreshing."""
    engine = engine_for(results_url)
    dashboard = FleetDashboard(lambda: fleet(engine), refresh_seconds)
    dashboard.refresh()
    return dashboard.start()
