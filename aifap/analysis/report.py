"""Tear-sheet reports: one self-contained HTML page for a backtest or a session.

A report is rendered from a **results directory**, the format
:meth:`aifap.backtest.BacktestResult.save` writes and :func:`export_session` writes
for a session:

- ``equity.csv``: PV per bar or per finwatcher snapshot (``timestamp, equity``);
- ``returns.csv``: daily returns (a UTC day is ``(00:00, 24:00]``: its last PV over
  the previous day's, the first day over the starting allocation);
- ``positions.csv``: each day's last positions (value per symbol, ``cash``);
- ``transactions.csv``: fills (``amount`` signed, ``price``, ``symbol``);
- ``metrics.json``: ``{"metrics": {...}}``, the headline: :mod:`aifap.core.metrics`
  (PV, ROE, Sharpe √365, max drawdown...) as the backtest or finwatcher computed them.

:func:`render_report` runs ``templates/reports/tearsheet.ipynb`` under papermill on
such a directory and converts the executed notebook to HTML with nbconvert
(``exclude_input``: no code, figures embedded as PNG, no script loaded from elsewhere).
A history shorter than a panel needs leaves that panel out, and the page says why.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aifap.core import metrics as core_metrics

if TYPE_CHECKING:  # the kernel only loads results directories: no SQLAlchemy there
    from aifap.watch.results import ResultsReader

log = logging.getLogger(__name__)

# the package's templates (aifap/templates links to templates/; wheels ship them)
TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "reports" / "tearsheet.ipynb"
FILES = ("equity.csv", "returns.csv", "positions.csv", "transactions.csv", "metrics.json")

HEADLINE = [
    ("final_equity", "PV (portfolio value)", "money"),
    ("roe", "ROE", "percent"),
    ("pnl", "PnL", "money"),
    ("sharpe", "Sharpe ratio (daily, √365)", "ratio"),
    ("max_drawdown", "Max drawdown", "percent"),
    ("volatility", "Annual volatility (√365)", "percent"),
    ("upnl", "Unrealized PnL", "money"),
    ("initial", "Starting allocation", "money"),
    ("trades", "Fills", "int"),
    ("fees", "Fees", "money"),
    ("funding", "Funding", "money"),
    ("days", "Days", "int"),
    ("snapshots", "Finwatcher snapshots", "int"),
    ("start", "Start", "text"),
    ("end", "End", "text"),
]


@dataclass
class ReportData:
    """What a report shows, loaded from a results directory."""

    kind: str
    title: str
    metrics: dict[str, Any]
    equity: pd.Series
    daily: pd.Series
    positions: pd.DataFrame | None = None
    transactions: pd.DataFrame | None = None
    period_metrics: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def days(self) -> int:
        """Return how many daily returns there are."""
        return len(self.daily)


# --- results directories -------------------------------------------------------------


def _read_frame(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col=0)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index, utc=True), name=None)
    return frame


def load_results(directory: str | Path, *, title: str | None = None) -> ReportData:
    """Read a results directory (a saved backtest or an exported session)."""
    root = Path(directory)
    meta_path = root / "metrics.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"results directory must hold metrics.json ({', '.join(FILES)}), was {root}"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    kind = str(meta.get("kind", "backtest"))
    equity_frame = _read_frame(root / "equity.csv")
    equity = (
        equity_frame.iloc[:, 0].astype("float64")
        if equity_frame is not None
        else pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))
    )
    returns_frame = _read_frame(root / "returns.csv")
    daily = (
        returns_frame.iloc[:, 0].astype("float64").dropna()
        if returns_frame is not None
        else core_metrics.daily_returns(equity, initial=meta.get("metrics", {}).get("initial"))
    )
    positions = _read_frame(root / "positions.csv")
    if positions is not None:
        positions = positions.reindex(daily.index).ffill().fillna(0.0).astype("float64")
    transactions = _read_frame(root / "transactions.csv")
    if transactions is not None and transactions.empty:
        transactions = None
    info = dict(meta.get("info", {}))
    if kind == "backtest" and "config" in meta:
        config = meta["config"]
        info.setdefault("strategy", config.get("strategy"))
        info.setdefault("rebalance every", config.get("rebalance_every"))
    default_title = (
        f"AIFAP session {info.get('session', '')}" if kind == "session" else "AIFAP backtest"
    )
    return ReportData(
        kind=kind,
        title=title or meta.get("title") or default_title,
        metrics=dict(meta.get("metrics", {})),
        equity=equity,
        daily=daily,
        positions=positions,
        transactions=transactions,
        period_metrics=meta.get("period_metrics"),
        info={k: v for k, v in info.items() if v is not None},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def export_session(
    url: str,
    session_id: str,
    directory: str | Path,
    *,
    period: timedelta | None = None,
) -> Path:
    """Write a session's results directory from the results database.

    The headline is finwatcher's last snapshot (PV, ROE, uPnL, Sharpe, max drawdown,
    funding) with PnL, volatility and day count from :func:`aifap.core.metrics.summary`
    of the same PV series; with ``period`` the page adds that window's metrics and its
    panels cover the window only.

    Raises:
        aifap.watch.results.SessionNotFound: no session has this id.
    """
    from aifap.db import make_engine
    from aifap.watch.results import ResultsReader

    reader = ResultsReader(make_engine(url))
    reader.require(session_id)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    equity = session_equity(reader, session_id)
    headline = session_metrics(reader, session_id, equity)
    initial = headline["initial"]
    transactions = _transactions(reader.all_fills(session_id))
    window, window_initial, period_metrics = equity, initial, None
    if period is not None and len(equity):
        begin = equity.index[-1] - pd.Timedelta(period)
        before = equity[equity.index <= begin]
        window = equity[equity.index > begin]
        window_initial = float(before.iloc[-1]) if len(before) else initial
        period_metrics = core_metrics.summary(window, initial=window_initial)
        period_metrics["label"] = f"last {_span(period)}"
        transactions = transactions[transactions.index > begin]
    daily = (
        core_metrics.daily_returns(window, initial=window_initial)
        if len(window) and window_initial is not None
        else pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))
    )
    positions = _daily_positions(reader.daily_positions(session_id), equity, daily.index)
    config = reader.config_json(session_id)
    row = reader.session(session_id)
    info = {
        "session": session_id,
        "trader": row.get("trader"),
        "strategy": row.get("strategy"),
        "status": row.get("status"),
        "mode": config.get("mode"),
        "exchange": config.get("exchange"),
        "symbols": ", ".join(config.get("symbols", []) or []) or None,
        "finwatcher interval": config.get("finwatcher_interval"),
    }
    window.rename("equity").to_csv(out / "equity.csv", index_label="timestamp")
    daily.rename("returns").to_csv(out / "returns.csv", index_label="timestamp")
    positions.to_csv(out / "positions.csv", index_label="timestamp")
    transactions.to_csv(out / "transactions.csv", index_label="timestamp")
    payload = {
        "kind": "session",
        "metrics": _jsonable(headline),
        "period_metrics": _jsonable(period_metrics) if period_metrics else None,
        "info": info,
    }
    (out / "metrics.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return out


def session_equity(reader: ResultsReader, session_id: str) -> pd.Series:
    """Return finwatcher's PV per snapshot (UTC index), oldest first."""
    stamps, values = reader.equity(session_id)
    index = pd.DatetimeIndex(pd.to_datetime(stamps, unit="ms", utc=True))
    return pd.Series(values, index=index, dtype="float64", name="equity")


def session_metrics(
    reader: ResultsReader, session_id: str, equity: pd.Series | None = None
) -> dict[str, Any]:
    """Return a session's headline: finwatcher's last snapshot plus the core's summary.

    PV, ROE, uPnL, Sharpe, max drawdown and funding are the last snapshot's own
    values; PnL, volatility, days and the span come from
    :func:`aifap.core.metrics.summary` of the same PV series; fills and fees are
    counted from the journal.
    """
    equity = session_equity(reader, session_id) if equity is None else equity
    last = reader.last_snapshot(session_id)
    allocation = reader.initial_equity(session_id)
    initial = (
        allocation if allocation is not None else (float(equity.iloc[0]) if len(equity) else None)
    )
    headline: dict[str, Any] = {"initial": initial, "snapshots": len(equity)}
    if last is not None and initial is not None:
        summary = core_metrics.summary(equity, initial=initial)
        headline.update({k: summary[k] for k in ("start", "end", "pnl", "volatility", "days")})
        headline.update(
            {
                "final_equity": last["pv"],
                "roe": last["roe"],
                "sharpe": last["sharpe"],
                "max_drawdown": last["max_drawdown"],
                "upnl": last["upnl"],
                "funding": last["funding_fees"],
            }
        )
    trades, fees = reader.fill_totals(session_id)
    headline["trades"], headline["fees"] = trades, fees
    return headline


def _span(period: timedelta) -> str:
    seconds = int(period.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _transactions(fills: list[dict[str, Any]]) -> pd.DataFrame:
    if not fills:
        frame = pd.DataFrame(columns=["amount", "price", "symbol", "fee"])
        frame.index = pd.DatetimeIndex([], tz="UTC")
        return frame
    index = pd.DatetimeIndex([f["time"] for f in fills])
    return pd.DataFrame(
        {
            "amount": [float(f["amount"]) * (1 if f["side"] == "buy" else -1) for f in fills],
            "price": [float(f["price"]) for f in fills],
            "symbol": [f["symbol"] for f in fills],
            "fee": [float(f["fee"]) for f in fills],
        },
        index=index,
    )


def _daily_positions(
    rows: list[dict[str, Any]], equity: pd.Series, days: pd.DatetimeIndex
) -> pd.DataFrame:
    if len(days) == 0:
        return pd.DataFrame(index=days, columns=["cash"], dtype="float64")
    if rows:
        frame = pd.DataFrame(
            {
                "time": [r["time"] for r in rows],
                "symbol": [r["symbol"] for r in rows],
                "value": [r["value"] for r in rows],
            }
        )
        values = frame.pivot_table(index="time", columns="symbol", values="value", aggfunc="sum")
        values.index = pd.DatetimeIndex(values.index)
    else:
        values = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"), dtype="float64")
    # each day's last snapshot, labelled by the day it closes ((00:00, 24:00])
    day_end = equity.resample("1D", closed="right", label="left").last().dropna()
    stamps = equity.groupby((equity.index - pd.Timedelta(1, "ms")).floor("D")).apply(
        lambda s: s.index[-1]
    )
    held = values.reindex(pd.DatetimeIndex(stamps.to_numpy())).fillna(0.0)
    held.index = pd.DatetimeIndex(stamps.index)
    held["cash"] = day_end.reindex(held.index).to_numpy() - held.sum(axis=1).to_numpy()
    return held.reindex(days).ffill().fillna(0.0).astype("float64")


# --- rendering -------------------------------------------------------------------


_EXTERNAL_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>"
    r"|<script\b[^>]*>(?:(?!</script>).)*?https?://cdn[^<]*?</script>",
    re.DOTALL,
)


def _self_contained(page: str) -> str:
    """Drop the scripts nbconvert's template loads from CDNs (MathJax, require, mermaid)."""
    return _EXTERNAL_SCRIPT.sub("", page)


@contextmanager
def _thread_event_loop() -> Iterator[None]:
    """Close the event loop nbclient opens for a worker thread (a service request).

    jupyter_core's ``run_sync`` keeps one loop per context (a ``ContextVar``) and never
    closes it; a request thread's context is thrown away after the call, so without
    this every rendered report would leak a loop and its sockets.
    """
    if threading.current_thread() is threading.main_thread():
        yield
        return
    from jupyter_core import utils as jupyter_utils

    try:
        yield
    finally:
        holder = getattr(jupyter_utils, "_loop", None)
        loop = holder.get() if holder is not None else None
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.close()
        if holder is not None:
            holder.set(None)


def render_report(
    results_dir: str | Path,
    out: str | Path,
    *,
    title: str | None = None,
    name: str | None = None,
    timeout: float = 600.0,
    template: Path = TEMPLATE,
) -> Path:
    """Render the tear-sheet notebook on ``results_dir`` into ``out`` (a directory or .html).

    ``template``: another report notebook taking the same two parameters
    (``results_dir``, ``title``), as the parity report does.

    Returns:
        The HTML file written.
    """
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    source = Path(results_dir).resolve()
    target = Path(out)
    if target.suffix.lower() != ".html":
        target = target / f"{name or 'tearsheet'}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aifap-report-") as scratch:
        executed = Path(scratch) / "report.ipynb"
        with _thread_event_loop():
            pm.execute_notebook(
                str(template),
                str(executed),
                parameters={"results_dir": str(source), "title": title or ""},
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
                cwd=scratch,
                execution_timeout=timeout,
            )
        notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:  # kernel warnings and logs are not part of the report
        cell["outputs"] = [o for o in cell.get("outputs", []) if o.get("name") != "stderr"]
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    page, _ = exporter.from_notebook_node(notebook)
    data_title = title or load_results(source).title
    page = re.sub(r"<title>.*?</title>", f"<title>{_escape(data_title)}</title>", page, count=1)
    target.write_text(_self_contained(page), encoding="utf-8")
    log.info("report written to %s", target)
    return target


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def backtest_report(results_dir: str | Path, out: str | Path, *, title: str | None = None) -> Path:
    """Render the report of a saved backtest (``aifap backtest --save DIR``)."""
    source = Path(results_dir)
    load_results(source)  # fail here, with the file list, rather than inside the kernel
    return render_report(source, out, title=title, name=f"{source.resolve().name}_tearsheet")


def session_report(
    url: str,
    session_id: str,
    out: str | Path,
    *,
    period: timedelta | None = None,
    title: str | None = None,
) -> Path:
    """Export a session's results and render its report into ``out``."""
    with tempfile.TemporaryDirectory(prefix="aifap-session-") as scratch:
        export_session(url, session_id, scratch, period=period)
        suffix = f"_{_span(period)}" if period is not None else ""
        return render_report(scratch, out, title=title, name=f"{session_id}{suffix}_tearsheet")
