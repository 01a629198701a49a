"""``aifap demo``: backtest, paper session on the replay clock, reports; no servers, no network."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from aifap.cli.demo import print_result
from aifap.live import load_config
from aifap.notebook.demo import DemoResult
from aifap.notebook.session_report import session_summary

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "a-rather-long-directory-name-for-the-demo-output"
    command = [
        sys.executable,
        "-c",
        "from aifap.cli import main; main()",
        "demo",
        "--out",
        str(out),
        "--days",
        "3",
        "--json",
    ]
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out, json.loads(run.stdout)


@pytest.mark.slow
def test_demo_backtests_half_a_year_and_its_tear_sheet_has_every_panel(demo_run):
    out, report = demo_run
    backtest = report["backtest"]
    assert backtest["days"] >= 180
    # fees do not decide the result: against buy-and-hold of the same assets, the
    # strategy's edge (or shortfall) is several times what it paid in fees
    edge = (backtest["roe"] - backtest["benchmark_roe"]) * backtest["initial"]
    assert backtest["fees"] < abs(edge) / 3
    tear_sheet = Path(report["paths"]["backtest tear sheet"])
    page = tear_sheet.read_text()
    assert page.count("<img") >= 3  # returns, positions and transactions sheets
    assert "buy-and-hold" in page  # the benchmark is named
    daily = pd.read_csv(out / "backtest" / "returns.csv", index_col=0, parse_dates=True)
    assert daily.index.max() - daily.index.min() >= pd.Timedelta(days=179)


@pytest.mark.slow
def test_demo_session_traded_and_reported(demo_run):
    out, report = demo_run
    assert report["status"]["state"] == "stopped"
    assert Path(report["paths"]["paper session returns report"]).stat().st_size > 10_000
    summary = session_summary(out / "session")
    assert summary["status"] == "stopped"
    assert summary["cycles done"] >= 2
    assert summary["orders"] > 0
    assert summary["snapshots"] > 24
    assert load_config(out / "session").id == report["session"]["session"]
    for path in report["paths"].values():
        assert Path(path).exists(), path


@pytest.mark.slow
def test_demo_paths_are_printed_whole_on_a_narrow_terminal(demo_run):
    _, report = demo_run
    result = DemoResult(
        out=Path(report["out"]),
        paths={what: Path(path) for what, path in report["paths"].items()},
        backtest_metrics=report["backtest"],
        session=report["session"],
    )
    buffer = io.StringIO()
    print_result(result, Console(file=buffer, width=40, force_terminal=False))
    lines = [line.strip() for line in buffer.getvalue().splitlines()]
    for path in report["paths"].values():
        assert path in lines, f"{path} was cut or wrapped"


def test_demo_help_lists_its_options():
    from typer.testing import CliRunner

    from aifap.cli import app

    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--days", "--symbols", "--speed", "--json"):
        assert option in result.output
