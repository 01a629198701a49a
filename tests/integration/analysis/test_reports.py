"""Tear-sheet reports rendered by papermill + nbconvert from data the suite created."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import aifap
from aifap.analysis.report import export_session, load_results, session_report
from aifap.analysis.sections import format_value
from aifap.cli import app
from aifap.data.synthetic import SyntheticMarket
from aifap.db import make_engine
from aifap.live import load_config
from aifap.testing.results import write_session
from aifap.watch.snapshots import SnapshotStore

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


def check_page(page: str) -> None:
    """Self-contained, no code, no traceback, figures embedded."""
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert not re.findall(r"<script[^>]*src=\"https?://", page)
    assert "load_results(" not in page
    assert "sections.show_" not in page
    assert "Traceback" not in page
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page


def images(page: str) -> int:
    return len(re.findall(r"<img[^>]*src=\"data:image/png;base64,", page))


def headline(page: str) -> dict[str, str]:
    table = re.search(r'<table class="headline">(.*?)</table>', page, re.S).group(1)
    return dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td>", table))


def test_backtest_report_headline_is_the_results_metrics(tmp_path):
    result = aifap.backtest(
        str(REPO / "strategies" / "momentum.py"),
        SyntheticMarket(["BTCUSDT", "ETHUSDT"], days=4),
        rebalance_every="1h",
        capital=1000.0,
        progress=False,
    )
    saved = result.save(tmp_path / "bt")
    answer = CliRunner().invoke(app, ["report", str(saved), "--out", str(tmp_path / "out")])
    assert answer.exit_code == 0, answer.output
    path = Path(answer.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path / "out"
    assert path.suffix == ".html"
    page = path.read_text(encoding="utf-8")
    check_page(page)
    shown = headline(page)
    m = result.metrics
    assert shown["PV (portfolio value)"] == format_value(m["final_equity"], "money")
    assert shown["ROE"] == format_value(m["roe"], "percent")
    assert shown["Sharpe ratio (daily, √365)"] == format_value(m["sharpe"], "ratio")
    assert shown["Max drawdown"] == format_value(m["max_drawdown"], "percent")
    assert shown["Fills"] == format_value(m["trades"], "int")
    loaded = load_results(saved)
    for key in ("final_equity", "roe", "sharpe", "max_drawdown", "volatility"):
        assert loaded.metrics[key] == pytest.approx(m[key], rel=1e-12)
    assert images(page) >= 4  # equity + cumulative, daily returns, underwater...
    assert "Round trips" in page
    assert "252" in page  # says pyfolio's 252-day figures are left out


def test_short_paper_session_gets_a_smaller_report_that_says_why(paper_session, tmp_path):
    config = load_config(paper_session)
    answer = CliRunner().invoke(app, ["report", str(paper_session.parent), "--out", str(tmp_path)])
    assert answer.exit_code == 0, answer.output
    page = Path(answer.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8")
    check_page(page)
    last = SnapshotStore(make_engine(config.results_url()), config.id).latest()
    shown = headline(page)
    assert shown["PV (portfolio value)"] == format_value(float(last.pv), "money")
    assert shown["ROE"] == format_value(last.roe, "percent")
    assert shown["Max drawdown"] == format_value(last.max_drawdown, "percent")
    assert shown["Sharpe ratio (daily, √365)"] == "n/a"  # under two days: None, as finwatcher
    assert "covers 1 day(s) of daily returns" in page
    assert images(page) == 1  # the PV curve only: no empty pyfolio panel
    by_id = CliRunner().invoke(
        app, ["report", config.id, "--db", config.results_url(), "--out", str(tmp_path / "by-id")]
    )
    assert by_id.exit_code == 0, by_id.output


def test_minute_snapshots_become_daily_returns_from_the_allocation(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    write_session(url, "minutes", days=2.5, interval=timedelta(minutes=10), rebalance_every=30)
    export_session(url, "minutes", tmp_path / "export")
    daily = pd.read_csv(tmp_path / "export" / "returns.csv", index_col=0).iloc[:, 0]
    equity = pd.read_csv(tmp_path / "export" / "equity.csv", index_col=0).iloc[:, 0]
    equity.index = pd.to_datetime(equity.index, utc=True)
    # a day is (00:00, 24:00]: the 00:00 snapshot closes the day before
    day_of = (equity.index - pd.Timedelta(1, "ms")).floor("D")
    closes = equity.groupby(day_of).last()
    expected = closes / pd.Series([10_000.0, *closes.iloc[:-1]], index=closes.index) - 1
    assert daily.to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-12)
    assert len(daily) == 3
    meta = json.loads((tmp_path / "export" / "metrics.json").read_text())
    last = SnapshotStore(make_engine(url), "minutes").latest()
    assert meta["metrics"]["sharpe"] == last.sharpe
    assert meta["metrics"]["final_equity"] == float(last.pv)
    positions = pd.read_csv(tmp_path / "export" / "positions.csv", index_col=0)
    assert list(positions.columns) == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "cash"]
    assert positions.sum(axis=1).to_numpy() == pytest.approx(closes.to_numpy())


def test_multi_day_session_report_with_a_period(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    write_session(url, "week", days=8, interval=timedelta(hours=1), rebalance_every=12)
    path = session_report(url, "week", tmp_path / "out", period=timedelta(days=3))
    assert path.name == "week_3d_tearsheet.html"
    page = path.read_text(encoding="utf-8")
    check_page(page)
    assert "<th>last 3d</th>" in page
    last = SnapshotStore(make_engine(url), "week").latest()
    assert headline(page)["Sharpe ratio (daily, √365)"] == format_value(last.sharpe, "ratio")
    assert images(page) >= 6
    assert "Worst drawdown periods" in page or "Top 5 drawdown periods" in page


def test_report_with_parity_writes_the_parity_report_beside_the_tear_sheet(
    paper_session, tmp_path
):
    config = load_config(paper_session)
    out = tmp_path / "out"
    answer = CliRunner().invoke(app, ["report", str(paper_session), "--out", str(out), "--parity"])
    assert answer.exit_code == 0, answer.output
    tear_sheet, summary, page = (Path(p) for p in answer.stdout.strip().splitlines()[-3:])
    assert tear_sheet.name == "paper-report_tearsheet.html"
    assert (summary.name, page.name) == ("paper-report_parity.json", "paper-report_parity.html")
    document = json.loads(summary.read_text(encoding="utf-8"))
    last = SnapshotStore(make_engine(config.results_url()), config.id).latest()
    assert document["pv_session"] == round(float(last.pv), 2)
    assert document["unexplained"] == 0.0
    exact = sum(Decimal(v) for v in document["components_exact"].values())
    assert abs(exact - Decimal(str(document["pv_gap"]))) <= Decimal("0.005")
    assert "Cycle by cycle" in page.read_text(encoding="utf-8")


def test_parity_applies_to_sessions_only(tmp_path):
    saved = tmp_path / "bt"  # what `aifap backtest --save` writes, as far as SOURCE goes
    saved.mkdir()
    (saved / "metrics.json").write_text("{}", encoding="utf-8")
    answer = CliRunner().invoke(app, ["report", str(saved), "--out", str(tmp_path), "--parity"])
    assert answer.exit_code == 2
    assert "applies to sessions only" in answer.output
