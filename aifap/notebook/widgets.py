"""The Voila dashboards' widgets: the seed's Grafana layout in ipywidgets and SVG charts.

:class:`SessionDashboard` shows one session: three stat panels (ROE, Sharpe Ratio, Max
Drawdown), Portfolio Value Over Time, Position Allocation (pie), Position Sizes (USDT)
(horizontal bars), open positions with SL/TP, recent orders, fills and alerts, the
session's state and heartbeat age; it refreshes itself from a timer in the kernel
(:class:`Refresher`), so new snapshots appear without a page reload. The fleet view
is in :mod:`aifap.notebook.fleet_widgets`.

The charts are SVG drawn in the kernel (:mod:`aifap.notebook.svg_charts`, hover shows
each value), not plotly widgets: a page load then costs the browser little more than
Voila itself (``benches/README.md``).

Elements carry ``aifap-*`` classes and ``data-*`` attributes with the raw values, so
browser tests read exactly what is drawn.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from aifap.core.downsample import MAX_POINTS
from aifap.core.errors import ConfigError
from aifap.deploy.dashboard import parity_href
from aifap.notebook.dashboard_data import SessionSource, SessionView
from aifap.notebook.svg_charts import CHART_CSS, bar_chart, line_chart, pie_chart

log = logging.getLogger(__name__)

GREEN, BLUE, RED = "#00FF88", "#4A90D9", "#FF6B6B"
BACKGROUND, CARD, BORDER, TEXT, MUTED = "#1A1A1A", "#2A2A2A", "#3A3A3A", "#FFFFFF", "#A0A0A0"
PALETTE = ("#FF6B35", "#4A90D9", "#9B59B6", "#00FF88", "#F1C40F", "#1ABC9C", "#E84393",
           "#E67E22", "#3498DB", "#2ECC71", "#FD79A8", "#A29BFE", "#FAB1A0", "#55EFC4",
           "#FFEAA7", "#74B9FF", "#D63031", "#00CEC9", "#6C5CE7", "#B2BEC3")  # fmt: skip
# the PV chart's range buttons: the last day, week, month or the whole session
RANGES: dict[str, int | None] = {"1d": 86_400_000, "7d": 7 * 86_400_000,
                                 "30d": 30 * 86_400_000, "all": None}  # fmt: skip
STATE_COLORS = {"running": GREEN, "starting": BLUE, "stopping": BLUE, "stopped": MUTED,
                "stale": RED, "failed": RED, "not started": MUTED}  # fmt: skip

CSS = f"""<style>
.aifap-dash {{ background: {BACKGROUND}; color: {TEXT}; padding: 10px; border-radius: 8px;
  font-family: Inter, "Helvetica Neue", Arial, sans-serif; }}
.aifap-card {{ background: {CARD}; border: 1px solid {BORDER}; border-radius: 8px;
  padding: 10px 14px; margin: 5px; color: {TEXT}; }}
.aifap-card h3 {{ margin: 0 0 6px 0; font-size: 14px; font-weight: 600; color: {TEXT}; }}
.aifap-stat .aifap-stat-value {{ font-size: 34px; font-weight: 700; line-height: 1.2; }}
.aifap-stat .aifap-stat-title {{ font-size: 13px; color: {MUTED}; }}
.aifap-empty {{ font-size: 16px; color: {TEXT}; border: 1px dashed {BLUE}; }}
.aifap-table {{ border-collapse: collapse; width: 100%; font-size: 12px; }}
.aifap-table th {{ text-align: left; color: {MUTED}; border-bottom: 1px solid {BORDER};
  padding: 3px 6px; cursor: default; }}
.aifap-table td {{ padding: 3px 6px; border-bottom: 1px solid {BORDER}; color: {TEXT}; }}
.aifap-header .aifap-title {{ font-size: 20px; font-weight: 700; }}
.aifap-badge {{ padding: 2px 8px; border-radius: 10px; color: {BACKGROUND}; font-weight: 700; }}
.aifap-muted {{ color: {MUTED}; }}
.aifap-dash .widget-html-content {{ color: {TEXT}; }}
.aifap-dash .widget-label {{ color: {TEXT}; }}
.aifap-card > * {{ flex: 1 1 auto; width: 100%; min-width: 0; }}
.aifap-row {{ display: flex; }}
.aifap-row > .aifap-card {{ flex: 1 1 0%; min-width: 0; }}
.aifap-range {{ margin: 5px 5px 0 5px; }}
.aifap-range .widget-toggle-button {{ width: 56px; background: {CARD}; color: {TEXT};
  border: 1px solid {BORDER}; }}
.aifap-range .widget-toggle-button.mod-active {{ background: {BLUE}; color: {TEXT}; }}
{CHART_CSS}</style>"""


def esc(value: Any) -> str:
    """Return ``value`` as escaped HTML text (None: empty)."""
    return html.escape("" if value is None else str(value))


def pct(value: float | None, signed: bool = True) -> str:
    """Return a fraction as a percentage (``+12.50%``), or an em dash for None."""
    if value is None:
        return "—"
    return f"{value * 100:+.2f}%" if signed else f"{value * 100:.2f}%"


def number(value: float | None, digits: int = 2) -> str:
    """Return a number with thousands separators, or an em dash for None."""
    return "—" if value is None else f"{value:,.{digits}f}"


def age_text(seconds: float | None) -> str:
    """Return a wall age as ``4.2 s`` / ``3 min`` / ``2.0 h`` (an em dash for None)."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def clock_text(ts_ms: int | None) -> str:
    """Return a session-clock time as ``2024-06-20 01:30 UTC``."""
    if ts_ms is None:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def stat_html(key: str, title: str, value: float | None, text: str, color: str, arrow: str) -> str:
    """Return one stat panel: its title, its value coloured as the seed's Grafana mockup."""
    raw = "" if value is None else repr(float(value))
    icon = f' <span class="aifap-arrow" style="font-size:18px">{arrow}</span>' if arrow else ""
    return (
        f'<div class="aifap-stat" data-key="{key}" data-value="{raw}">'
        f'<div class="aifap-stat-title">{esc(title)}</div>'
        f'<div class="aifap-stat-value" style="color:{color}">{esc(text)}{icon}</div></div>'
    )


def stat_panels(view: SessionView) -> tuple[str, str, str]:
    """Return the ROE, Sharpe Ratio and Max Drawdown panels of the newest snapshot."""
    stats = view.stats
    roe = stats.roe if stats else None
    sharpe = stats.sharpe if stats else None
    drawdown = stats.max_drawdown if stats else None
    up = roe is None or roe >= 0
    return (
        stat_html("roe", "ROE", roe, pct(roe), GREEN if up else RED,
                  "" if roe is None else ("▲" if up else "▼")),
        stat_html("sharpe", "Sharpe Ratio", sharpe,
                  "—" if sharpe is None else f"{sharpe:.2f}", BLUE, ""),
        stat_html("max_drawdown", "Max Drawdown", drawdown, pct(drawdown), RED,
                  "" if drawdown is None else "▼"),
    )  # fmt: skip


def table_html(
    frame: pd.DataFrame, css_class: str, empty: str, formats: Mapping[str, Callable[[Any], str]]
) -> str:
    """Return ``frame`` as an HTML table (``empty`` when it has no rows)."""
    if frame.empty:
        return f'<div class="{css_class} aifap-muted" data-rows="0">{esc(empty)}</div>'
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row, strict=True):
            shown = formats.get(column, _plain)(value)
            cells.append(f"<td>{esc(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="aifap-table {css_class}" data-rows="{len(frame)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _plain(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, float):
        return f"{value:,.8g}"
    return str(value)


def positions_html(view: SessionView) -> str:
    """Return the open positions with their SL/TP as a table."""
    if not view.positions:
        return '<div class="aifap-positions aifap-muted" data-rows="0">No open positions</div>'
    head = ("symbol", "side", "size", "entry", "mark", "leverage", "notional (USDT)", "uPnL",
            "take profit", "stop loss")  # fmt: skip
    rows = []
    for p in view.positions:
        cells = (p.symbol, p.side, f"{abs(p.size):,.8g}", f"{p.entry_price:,.8g}",
                 f"{p.mark_price:,.8g}", f"{p.leverage:g}×", number(p.notional),
                 number(p.unrealized_pnl), _plain(p.take_profit) or "—",
                 _plain(p.stop_loss) or "—")  # fmt: skip
        rows.append(
            f'<tr data-symbol="{esc(p.symbol)}" data-notional="{p.notional!r}">'
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "</tr>"
        )
    return (
        f'<table class="aifap-table aifap-positions" data-rows="{len(rows)}"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def charts_html(view: SessionView, colors: Sequence[str]) -> str:
    """Return Portfolio Value Over Time, Position Allocation and Position Sizes (USDT)."""
    equity, positions = view.equity, view.positions
    index = pd.DatetimeIndex(equity.index)
    ts = index.as_unit("ms").asi8 if len(equity) else np.empty(0, "int64")
    line = line_chart(
        np.asarray(ts, dtype="int64"), equity.to_numpy(dtype="float64"),
        title="Portfolio Value Over Time", color=GREEN, fill="rgba(0,255,136,0.12)",
        empty="Waiting for the first snapshot",
    )  # fmt: skip
    labels = [p.symbol for p in positions]
    values = [p.notional for p in positions]
    pie = pie_chart(labels, values, colors, title="Position Allocation", empty="No open positions")
    bars = bar_chart(labels, values, colors, title="Position Sizes (USDT)",
                     empty="No open positions")  # fmt: skip
    return (
        f'<div class="aifap-card aifap-pv">{line}</div>'
        f'<div class="aifap-row"><div class="aifap-card aifap-pie">{pie}</div>'
        f'<div class="aifap-card aifap-bars">{bars}</div></div>'
    )


def card(child: widgets.Widget, *classes: str, flex: str | None = None) -> widgets.Box:
    """Return ``child`` in a rounded dark card with the ``aifap-card`` and ``classes``."""
    box = widgets.Box([child], layout=widgets.Layout(flex=flex or "1 1 0%", min_width="0"))
    for name in ("aifap-card", *classes):
        box.add_class(name)
    return box


class Refresher:
    """Call ``callback`` every ``seconds`` from the kernel's event loop (a thread without one).

    In Voila and Jupyter the callback runs on the kernel's asyncio loop, between
    messages, so widget updates reach the page without a reload.
    """

    def __init__(self, callback: Callable[[], Any], seconds: float) -> None:
        self.callback = callback
        self.seconds = seconds
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Start the timer (once)."""
        if self.seconds <= 0 or self._task is not None or self._thread is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._thread = threading.Thread(target=self._thread_run, daemon=True)
            self._thread.start()
        else:
            self._task = loop.create_task(self._loop())

    def stop(self) -> None:
        """Stop the timer."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()

    def _tick(self) -> None:
        try:
            self.callback()
        except Exception:
            log.exception("dashboard refresh failed")

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(self.seconds)
            self._tick()

    def _thread_run(self) -> None:
        while not self._stop.wait(self.seconds):
            self._tick()


class SessionDashboard:
    """One session's dashboard (see the module docstring).

    Four HTML widgets under one box: the header (state, heartbeat, empty state, the
    three stat panels), the charts, the tables and the footer, plus the PV chart's range
    buttons (1d, 7d, 30d, all: a click redraws the chart from the PV series the kernel
    holds, the chosen range downsampled on its own, no query). Few widgets keep the
    page light; each is resent only when its markup changed (the charts once per new
    snapshot or range change, the header's heartbeat age every refresh).

    Args:
        source: where the session's data comes from.
        refresh_seconds: how often it reloads while shown (0: never).
    """

    def __init__(self, source: SessionSource, refresh_seconds: float = 5.0) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.view: SessionView | None = None
        self.header = widgets.HTML()
        self.charts = widgets.HTML()
        self.tables = widgets.HTML()
        self.footer = widgets.HTML()
        self.range = widgets.ToggleButtons(options=list(RANGES), value=self._range_name(),
                                           tooltips=[f"PV over {r}" for r in RANGES])  # fmt: skip
        self.range.add_class("aifap-range")
        self.range.observe(self._on_range, names="value")
        self._colors: dict[str, str] = {}
        self._drawn: tuple[int, int | None, int | None] | None = None
        self.error: str | None = None
        root = widgets.VBox([widgets.HTML(CSS), self.header, self.range, self.charts,
                             self.tables, self.footer])  # fmt: skip
        root.add_class("aifap-dash")
        root.add_class("aifap-session-dashboard")
        self.widget = root
        self.refresher = Refresher(self.refresh, refresh_seconds)

    def _color(self, symbol: str) -> str:
        if symbol not in self._colors:
            self._colors[symbol] = PALETTE[len(self._colors) % len(PALETTE)]
        return self._colors[symbol]

    def _range_name(self) -> str:
        window = self.source.window_ms
        return next((name for name, ms in RANGES.items() if ms == window), "all")

    def _on_range(self, change: Mapping[str, Any]) -> None:
        self._apply_range(str(change["new"]))

    def set_range(self, name: str) -> None:
        """Show the PV chart over range ``name`` (``1d``, ``7d``, ``30d`` or ``all``).

        Raises:
            ConfigError: ``name`` is not one of the ranges.
        """
        if name not in RANGES:
            raise ConfigError(f"range must be one of {', '.join(RANGES)}, was {name!r}")
        if self.range.value != name:
            self.range.value = name  # the observer redraws
        else:
            self._apply_range(name)

    def _apply_range(self, name: str) -> None:
        self.source.window_ms = RANGES[name]
        if self.view is not None:
            self.view.equity = self.source.equity_series()
            self._draw_charts(self.view)

    def _draw_charts(self, view: SessionView) -> None:
        self.charts.value = charts_html(view, [self._color(p.symbol) for p in view.positions])
        self._drawn = (view.snapshots, view.stats.ts_ms if view.stats else None,
                       self.source.window_ms)  # fmt: skip

    def refresh(self) -> SessionView:
        """Reload the session's data and redraw what changed; return the view."""
        try:
            view = self.source.load()
        except Exception as exc:  # the database may be briefly unreachable: say so, keep going
            self.error = f"{type(exc).__name__}: {exc}"
            self.footer.value = (
                f'<div class="aifap-footer aifap-error" style="color:{RED}">'
                f"refresh failed: {esc(self.error)}</div>"
            )
            raise
        self.error = None
        self.show(view)
        return view

    def show(self, view: SessionView) -> None:
        """Draw ``view``."""
        self.view = view
        if view.info is not None:
            for symbol in view.info.symbols:
                self._color(symbol)
        drawn = (view.snapshots, view.stats.ts_ms if view.stats else None, self.source.window_ms)
        if drawn != self._drawn:
            self._draw_charts(view)
        stats = "".join(
            f'<div class="aifap-card aifap-stat-{key}">{panel}</div>'
            for key, panel in zip(("roe", "sharpe", "max_drawdown"), stat_panels(view),
                                  strict=True)
        )  # fmt: skip
        self.header.value = (
            f'<div class="aifap-card aifap-header">{self._header(view)}</div>'
            f'{self._empty_state(view)}<div class="aifap-row">{stats}</div>'
        )
        money = {"amount": _plain, "price": _plain, "fee": _plain}
        orders = table_html(view.orders, "aifap-orders", "No orders yet", money)
        fills = table_html(view.fills, "aifap-fills", "No fills yet", money)
        alerts = table_html(view.alerts, "aifap-alerts", "No alerts yet", {})
        self.tables.value = (
            '<div class="aifap-card aifap-positions-card"><h3>Open positions</h3>'
            f"{positions_html(view)}</div>"
            '<div class="aifap-row"><div class="aifap-card aifap-orders-card">'
            f"<h3>Recent orders</h3>{orders}</div>"
            f'<div class="aifap-card aifap-fills-card"><h3>Recent fills</h3>{fills}</div></div>'
            f'<div class="aifap-card aifap-alerts-card"><h3>Recent alerts</h3>{alerts}</div>'
        )
        self.footer.value = (
            f'<div class="aifap-footer aifap-muted" data-refreshed="{time.time():.3f}">'
            f"updated {datetime.now(UTC).strftime('%H:%M:%S')} UTC{self._every()}</div>"
        )

    def _every(self) -> str:
        return f" (refreshing every {self.refresh_seconds:g} s)" if self.refresh_seconds else ""

    def _empty_state(self, view: SessionView) -> str:
        if not view.empty:
            return ""
        return (
            f'<div class="aifap-card aifap-empty"><div class="aifap-empty-state" '
            f'data-session="{esc(view.session_id)}"><b>No snapshots yet.</b> Session '
            f"<code>{esc(view.session_id)}</code> is {esc(view.liveness.state)}; its metrics "
            f"appear with finwatcher's first snapshot{self._every()}.</div></div>"
        )

    def _header(self, view: SessionView) -> str:
        live, info, stats = view.liveness, view.info, view.stats
        color = STATE_COLORS.get(live.state, MUTED)
        strategy = f"{info.strategy} · {info.trader} · {info.mode or ''}" if info else ""
        ended = ""
        if info is not None and info.status in ("stopped", "failed"):
            ended = f" · exit code {info.exit_code}: {esc(info.reason)}"
        last = stats.ts_ms if stats else ""
        pv = f"PV {number(stats.pv)} USDT · " if stats else ""
        age = "" if live.heartbeat_age is None else f"{live.heartbeat_age:.3f}"
        heartbeat = (
            "no heartbeat"
            if live.heartbeat_age is None
            else f"heartbeat {age_text(live.heartbeat_age)} ago"
        )
        parity = parity_link(view.session_id, view.parity)
        return (
            f'<div><span class="aifap-title">Session {esc(view.session_id)}</span> '
            f'<span class="aifap-muted">{esc(strategy)}</span>{parity}</div>'
            f'<div style="margin-top:4px">'
            f'<span class="aifap-badge aifap-state" data-state="{esc(live.state)}" '
            f'style="background:{color}">{esc(live.state)}</span> '
            f'<span class="aifap-heartbeat" data-age="{age}">{heartbeat}</span>'
            f" · cycle {esc(live.cycle or '—')}"
            f' · <span class="aifap-last-snapshot" data-ts-ms="{last}" '
            f'data-count="{view.snapshots}">{pv}last snapshot '
            f"{clock_text(stats.ts_ms if stats else None)}, {view.snapshots} snapshots</span>"
            f'<span class="aifap-muted">{ended}</span></div>'
        )

    def start(self) -> SessionDashboard:
        """Start refreshing every ``refresh_seconds``; return self."""
        self.refresher.start()
        return self

    def stop(self) -> None:
        """Stop refreshing."""
        self.refresher.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def engine_for(results_url: str | None) -> Any:
    """Return the engine of ``results_url`` (default: the settings' results database)."""
    from aifap.db import database_url, make_engine

    return make_engine(results_url or database_url("results"))


def parity_link(session_id: str, parity: dict[str, Any] | None) -> str:
    """Return the header's link to the session's parity report (``aifap parity``), if any.

    The link goes to the report as the dashboard's server serves it
    (:func:`aifap.deploy.dashboard.parity_href`); where no server serves it (a notebook),
    the report's path is shown on hover instead.
    """
    if parity is None:
        return ""
    gap, value = parity["pv_gap"], parity["largest_value"] or 0.0
    text = (
        f"parity: PV gap {'—' if gap is None else f'{gap:+,.2f}'} USDT, largest "
        f"{esc(parity['largest'])} {'—' if value is None else f'{value:+,.2f}'}"
    )
    href = parity_href(session_id) if parity["path"] else None
    if href is not None:
        text = f'<a class="aifap-parity" href="{esc(href)}" target="_blank">{text}</a>'
    elif parity["path"]:
        text = f'<span class="aifap-parity" title="{esc(parity["path"])}">{text}</span>'
    return f' <span class="aifap-muted">· {text}</span>'


def session_dashboard(
    session_id: str,
    results_url: str | None = None,
    workdir: str | None = None,
    refresh_seconds: float = 5.0,
    *,
    max_points: int = MAX_POINTS,
) -> SessionDashboard:
    """Return session ``session_id``'s dashboard, drawn and refreshing (the template's cell).

    Args:
        session_id: the session.
        results_url: its results database (default: the settings' results database).
        workdir: its working directory, for the heartbeat (default: the recorded one).
        refresh_seconds: how often it reloads (0: never, e.g. under papermill).
        max_points: the most PV points the chart gets.

    Raises:
        ConfigError: no session id was given.
    """
    if not session_id:
        raise ConfigError(
            "session_id must be given (papermill -p session_id ID, or AIFAP_DASHBOARD_SESSION)"
        )
    source = SessionSource(
        engine_for(results_url), session_id, workdir=workdir or None, max_points=max_points
    )
    dashboard = SessionDashboard(source, refresh_seconds)
    dashboard.refresh()
    return dashboard.start()
