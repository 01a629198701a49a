"""``aifap demo``: backtest, paper session on the replay clock, reports; no servers, no network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aifap.live import load_config
from aifap.notebook.session_report import session_summary

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_demo_writes_the_tear_sheet_and_the_returns_report_and_the_session_traded(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-c", "from aifap.cli import main; main()", "demo",
               "--out", str(out), "--days", "0.25"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    tear_sheet = out / "backtest" / "tear_sheet.html"
    report = out / "session_returns.html"
    assert tear_sheet.stat().st_size > 10_000
    assert report.stat().st_size > 10_000
    assert "<img" in report.read_text()
    assert "Where everything is" in run.stdout
    assert "tear sheet" in run.stdout
    summary = session_summary(load_config(out / "session" / "session.yaml"))
    assert summary["status"] == "stopped"
    assert summary["cycles done"] >= 20
    assert summary["orders"] > 0
    assert summary["snapshots"] > 20


def test_demo_help_lists_its_options():
    from typer.testing import CliRunner

    from aifap.cli import app

    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--days", "--symbols", "--speed"):
        assert option in result.output
