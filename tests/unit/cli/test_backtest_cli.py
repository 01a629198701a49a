"""``aifap backtest`` through Typer's CliRunner, on the synthetic market and on files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aifap.cli import app
from aifap.core.errors import DataError
from aifap.data.files import write_bar_file
from aifap.data.synthetic import SyntheticMarket

ROOT = Path(__file__).resolve().parents[3]
MOMENTUM = str(ROOT / "strategies" / "momentum.py")
ONE_DAY = ["--start", "2024-06-29", "--end", "2024-06-30", "--rebalance", "1h"]
OPTIONS = [
    "--data", "--symbols", "--rebalance", "--capital", "--fee", "--slippage", "--threshold",
    "--market", "--leverage", "--start", "--end", "--config", "--on-error", "--json",
    "--tearsheet", "--save", "--ledger",
]  # fmt: skip


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_every_option_has_help(runner):
    result = runner.invoke(app, ["backtest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    for option in OPTIONS:
        line = next(line for line in text.splitlines() if f" {option} " in line)
        assert len(line.split(">", 1)[-1].strip(" │")) > 10, option


def test_backtest_on_the_synthetic_market_prints_metrics_and_writes_json(runner, tmp_path):
    out = tmp_path / "metrics.json"
    result = runner.invoke(
        app, ["backtest", MOMENTUM, *ONE_DAY, "--json", str(out)], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    assert "Backtest of momentum.py" in result.output
    assert "roe" in result.output
    saved = json.loads(out.read_text())
    assert set(saved) == {"metrics", "final_equity", "trades"}
    assert saved["final_equity"] == pytest.approx(saved["metrics"]["final_equity"])
    assert saved["trades"] == saved["metrics"]["trades"]
    assert saved["trades"] > 0
    assert saved["metrics"]["start"].startswith("2024-06-29")


def test_same_run_gives_the_same_numbers(runner, tmp_path):
    outputs = []
    for name in ("a.json", "b.json"):
        args = ["backtest", MOMENTUM, *ONE_DAY, "--json", str(tmp_path / name)]
        assert runner.invoke(app, args).exit_code == 0
        outputs.append(json.loads((tmp_path / name).read_text()))
    assert outputs[0] == outputs[1]


def test_backtest_on_a_directory_with_symbols_and_a_tear_sheet(runner, tmp_path):
    market = SyntheticMarket(["BTCUSDT", "ETHUSDT"], days=2, seed=1)
    for symbol, frame in market.frames().items():
        write_bar_file(tmp_path / f"{symbol}_1m.csv.gz", frame)
    sheet = tmp_path / "sheet.html"
    out = tmp_path / "m.json"
    args = [
        "backtest", MOMENTUM, "--data", str(tmp_path), "--symbols", "BTCUSDT,ETHUSDT",
        "--rebalance", "1h", "--market", "spot", "--capital", "5000", "--fee", "0.001",
        "--json", str(out), "--tearsheet", str(sheet),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["metrics"]["initial"] == 5000
    assert "data:image/png;base64," in sheet.read_text()


def test_config_must_be_a_json_object(runner):
    result = runner.invoke(app, ["backtest", MOMENTUM, "--config", "[1, 2]"])
    assert result.exit_code == 2
    assert "must be a JSON object" in result.output


def test_config_and_symbols_reach_the_strategy(runner, tmp_path):
    strategy = tmp_path / "picky.py"
    strategy.write_text(
        "def strategy(context, config_dict):\n"
        "    if config_dict.get('marker') != 7:\n"
        "        raise RuntimeError('config was not passed')\n"
        "    return {config_dict['symbols'][0]: 0.5}\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text("marker: 7\n")
    out = tmp_path / "m.json"
    args = ["backtest", str(strategy), *ONE_DAY, "--symbols", "ethusdt", "--config", str(config)]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["trades"] >= 1
    failed = runner.invoke(app, ["backtest", str(strategy), *ONE_DAY, "--symbols", "ETHUSDT"])
    assert failed.exit_code == 1


def test_a_missing_store_is_a_data_error_exiting_1(runner, tmp_path):
    missing = tmp_path / "bars.db"
    result = runner.invoke(app, ["backtest", MOMENTUM, "--data", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert isinstance(result.exception, DataError)
    assert "must exist" in str(result.exception)
    assert not missing.exists()


def test_save_writes_a_results_directory_the_report_reads(runner, tmp_path):
    from aifap.analysis.report import load_results

    out = tmp_path / "saved"
    result = runner.invoke(app, ["backtest", MOMENTUM, "--symbols", "BTCUSDT,ETHUSDT", *ONE_DAY,
                                 "--save", str(out), "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    for name in ("equity.csv", "returns.csv", "positions.csv", "transactions.csv",
                 "orders.csv", "metrics.json"):
        assert (out / name).exists(), name
    printed = json.loads((tmp_path / "m.json").read_text())["metrics"]
    loaded = load_results(out)
    assert loaded.kind == "backtest"
    assert loaded.metrics["roe"] == pytest.approx(printed["roe"])
    assert loaded.metrics["max_drawdown"] == pytest.approx(printed["max_drawdown"])


@pytest.mark.parametrize("market", ["spot", "futures"])
@pytest.mark.parametrize("ledger", ["auto", "decimal"])
def test_runs_say_which_book_kept_the_account(runner, tmp_path, ledger, market):
    """The synthetic market's prices are whole ticks: spot and futures use the integer book."""
    args = ["backtest", MOMENTUM, *ONE_DAY, "--market", market, "--ledger", ledger]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("ledger: ")]
    if ledger == "decimal":
        assert line == "ledger: decimal"
    else:  # the momentum rule's SL/TP are kept in the integer book too
        assert line == "ledger: integer"
