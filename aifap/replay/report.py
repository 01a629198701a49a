"""The parity report: a JSON summary and an HTML page from ``templates/reports/parity.ipynb``.

:func:`write_report` writes ``<session>_parity.json`` (the summary plus every cycle)
and, through :func:`aifap.analysis.report.render_report` (papermill, then nbconvert
without code cells), ``<session>_parity.html``. The notebook reads a results directory
holding ``parity.json`` and ``pv.csv`` (both PV paths); the ``show_*`` functions below
are its sections.
"""

from __future__ import annotations

import html
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from aifap.analysis.report import TEMPLATE, render_report
from aifap.analysis.sections import STYLE
from aifap.replay.files import report_names

if TYPE_CHECKING:
    from aifap.replay.run import ParityReport

PARITY_TEMPLATE = TEMPLATE.with_name("parity.ipynb")


def summary_document(report: ParityReport) -> dict[str, Any]:
    """Return the JSON document: the summary, every cycle, and the components over time."""
    return {
        **report.summary(),
        "cycle_rows": report.cycles,
        "components_path": [{"time_ms": t, **parts} for t, parts in report.decomposition.path],
    }


def _pv_frame(report: ParityReport) -> pd.DataFrame:
    session = pd.Series(dict(report.session.pv_path), name="session", dtype="float64")
    backtest = pd.Series(dict(report.replay.side.pv_path), name="backtest", dtype="float64")
    frame = pd.concat([session, backtest], axis=1).sort_index()
    frame.index = pd.to_datetime(frame.index, unit="ms", utc=True)
    frame.index.name = "timestamp"
    return frame


def write_report(report: ParityReport, out: Path, *, html: bool = True) -> dict[str, Path]:
    """Write the JSON summary (and the HTML report) into ``out``; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_name, html_name = report_names(report.session_id)
    document = summary_document(report)
    written = {"json": out / json_name}
    written["json"].write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    if html:
        with tempfile.TemporaryDirectory(prefix="aifap-parity-") as scratch:
            root = Path(scratch)
            (root / "parity.json").write_text(json.dumps(document, default=str), encoding="utf-8")
            _pv_frame(report).to_csv(root / "pv.csv")
            written["html"] = render_report(
                root,
                out / html_name,
                title=f"Parity: session {report.session_id} against its backtest",
                template=PARITY_TEMPLATE,
            )
    return written


# --- the notebook's sections ---------------------------------------------------------


def load(results_dir: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read a parity results directory: the JSON document and the PV paths."""
    root = Path(results_dir)
    document = json.loads((root / "parity.json").read_text(encoding="utf-8"))
    pv = pd.read_csv(root / "pv.csv", index_col=0)
    pv.index = pd.to_datetime(pv.index, utc=True)
    return document, pv


def _show(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(f'{STYLE}<div class="aifap-report">{markup}</div>'))


def _money(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):+,.2f}"


def _plain(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):,.2f}"


def show_summary(document: dict[str, Any], title: str) -> None:
    """Show the title, the period, both PVs, the gap and its components."""
    e = html.escape
    labels = document["labels"]
    rows = "".join(
        f"<tr><th>{e(labels[k])}</th><td>{_money(v)}</td></tr>"
        for k, v in document["components"].items()
    )
    largest = labels.get(document["largest"], "none (every component is 0.00)")
    _show(
        f"<h2>{e(title)}</h2>"
        f"<p>Strategy {e(str(document['strategy'].get('strategy')))} "
        f"(version {e(str(document['strategy'].get('version') or 'not recorded'))}). "
        f"{e(document['start'])} to {e(document['end'])}: {document['cycles']} rebalance "
        f"boundaries, {document['cycles_with_different_targets']} with different targets.</p>"
        f"<table><tr><th>PV of the session</th><td>{document['pv_session']:,.2f}</td></tr>"
        f"<tr><th>PV of the backtest</th><td>{document['pv_backtest']:,.2f}</td></tr>"
        f"<tr><th>PV gap (session − backtest)</th><td>{_money(document['pv_gap'])}</td></tr>"
        f"</table><h3>The gap, component by component</h3><table>{rows}"
        f"<tr><th>not accounted for</th><td>{_money(document['unexplained'])}</td></tr></table>"
        f"<p class='note'>Largest component: {e(largest)}. Each component is valued from "
        "both sides' fills and funding at the period's last closes; see "
        "<code>aifap.replay.decompose</code> for the rules.</p>"
    )


def show_paths(document: dict[str, Any], pv: pd.DataFrame) -> None:
    """Plot both PV paths and the components of the gap over time."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for column in pv.columns:
        series = pv[column].dropna()
        top.plot(series.index.to_pydatetime(), series.to_numpy(), label=column, lw=1)
    top.set_ylabel("PV")
    top.set_title("Portfolio value: session and backtest")
    top.legend()
    path = pd.DataFrame(document["components_path"])
    if len(path):
        times = pd.to_datetime(path.pop("time_ms"), unit="ms", utc=True).dt.to_pydatetime()
        for column in path.columns:
            bottom.step(
                times, path[column].to_numpy(), where="post", label=document["labels"][column]
            )
        bottom.legend(fontsize="small")
    bottom.set_ylabel("gap component")
    display(fig)
    plt.close(fig)


def show_first_difference(document: dict[str, Any]) -> None:
    """Show the first boundary with different targets, both inputs side by side."""
    first = document.get("first_difference")
    if first is None:
        _show("<h3>Targets</h3><p>The targets were identical at every boundary.</p>")
        return
    e = html.escape
    keys = ("ran", "error", "targets", "prices", "equity", "weights", "state")
    session, backtest = first.get("session") or {}, first.get("backtest") or {}
    rows = "".join(
        f"<tr><th>{k}</th><td style='text-align:left'>{e(json.dumps(session.get(k)))}</td>"
        f"<td style='text-align:left'>{e(json.dumps(backtest.get(k)))}</td></tr>"
        for k in keys
    )
    same = "the same" if first.get("same_prices") else "different"
    _show(
        f"<h3>First different targets: {e(first['time'])} (cycle {first['cycle']})</h3>"
        f"<p class='note'>The strategy saw {same} closes on both sides.</p>"
        f"<table><tr><th></th><th>session</th><th>backtest</th></tr>{rows}</table>"
    )


def show_cycles(document: dict[str, Any]) -> None:
    """Show every boundary: targets equal, orders, fills and their prices, fees, equity."""
    e = html.escape
    lines = []
    for row in document["cycle_rows"]:
        legs = "; ".join(
            f"{leg['symbol']} {leg['filled_session']:+g} @ {leg['price_session']} vs "
            f"{leg['filled_backtest']:+g} @ {leg['price_backtest']}"
            for leg in row["legs"]
        )
        lines.append(
            f"<tr><td>{e(row['time'])}</td><td>{row['cycle'] or ''}</td>"
            f"<td>{e(str(row['session_state']))}</td>"
            f"<td>{'yes' if row['targets_equal'] else '<b>no</b>'}</td>"
            f"<td>{row['orders_filled']}/{row['orders_planned']}</td>"
            f"<td>{row['orders_partial']}</td><td>{row['orders_problem']}</td>"
            f"<td style='text-align:left'>{e(legs)}</td>"
            f"<td>{row['fees_session']:.2f} / {row['fees_backtest']:.2f}</td>"
            f"<td>{_plain(row['equity_session'])} / {_plain(row['equity_backtest'])}</td></tr>"
        )
    _show(
        "<h3>Cycle by cycle</h3><table><tr><th>boundary</th><th>cycle</th><th>state</th>"
        "<th>same targets</th><th>filled</th><th>partial</th><th>not filled</th>"
        "<th>fills (session vs backtest)</th><th>fees</th><th>equity</th></tr>"
        + "".join(lines)
        + "</table>"
    )
