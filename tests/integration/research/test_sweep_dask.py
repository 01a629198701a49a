"""``aifap.sweep`` on Dask: rows equal single backtests, same table on every cluster, failures.

Three clusters run the same sweep: one worker thread, a ``LocalCluster`` of two worker
processes (the strategy a notebook-style ``__main__`` function, shipped by value), and
a real ``dask scheduler`` with two ``dask worker`` processes (the strategy a file path).
The bars are 3 synthetic assets over 2 days, rebalanced hourly: seconds per sweep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import aifap
from aifap.cli import app
from aifap.core.errors import ConfigError
from aifap.data.files import write_bar_file
from aifap.data.synthetic import SyntheticMarket
from aifap.research.execute import SKIPPED_METRICS
from aifap.testing.dask import dask_cluster

ROOT = Path(__file__).resolve().parents[3]
MOMENTUM = ROOT / "strategies" / "momentum.py"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
GRID = {"lookback": [5, 30], "window": [40, 120]}
KWARGS = {"rebalance_every": "1h", "fee_rate": 0.0006}


def notebook_strategy():
    """The seed momentum as a notebook cell defines it: a function of ``__main__``."""
    namespace = {"__name__": "__main__"}
    exec(compile(MOMENTUM.read_text(), "<notebook cell>", "exec"), namespace)
    fn = namespace["strategy"]
    assert fn.__module__ == "__main__"
    return fn


@pytest.fixture(scope="module")
def market():
    return SyntheticMarket(SYMBOLS, days=2, seed=7)


@pytest.fixture(scope="module")
def scheduler():
    with dask_cluster(workers=2) as address:
        yield address


def test_each_row_equals_a_single_backtest_and_failures_keep_their_params(market, tmp_path):
    grid = {"lookback": [5, 30], "window": [40, "forty"]}
    result = aifap.sweep(
        notebook_strategy(), market, grid, workers=2, processes=False, progress=False, **KWARGS
    )
    table = result.table
    assert list(table.columns[:2]) == ["lookback", "window"]
    assert table[["lookback", "window"]].to_dict("records") == [
        {"lookback": 5, "window": 40},
        {"lookback": 5, "window": "forty"},
        {"lookback": 30, "window": 40},
        {"lookback": 30, "window": "forty"},
    ]
    failed = result.failed
    assert failed["window"].tolist() == ["forty", "forty"]
    assert all("forty" in error for error in failed["error"])
    assert len(result.ok) == 2
    saved = pd.read_parquet(result.save(tmp_path / "mixed") / "table.parquet")
    assert saved["window"].tolist() == ["40", "forty", "40", "forty"]
    for _, row in result.ok.iterrows():
        params = {"lookback": row["lookback"], "window": row["window"]}
        single = aifap.backtest(MOMENTUM, market, config=params, **KWARGS)
        expected = {k: v for k, v in single.metrics.items() if k not in SKIPPED_METRICS}
        assert {k: row[k] for k in expected} == expected, params
        assert row["trades"] == len(single.transactions)
        assert row["final_equity"] == single.equity.iloc[-1]


def test_same_table_on_one_worker_a_local_cluster_and_a_dask_scheduler(market, scheduler):
    one = aifap.sweep(MOMENTUM, market, GRID, workers=1, processes=False, progress=False, **KWARGS)
    local = aifap.sweep(notebook_strategy(), market, GRID, workers=2, progress=False, **KWARGS)
    remote = aifap.sweep(str(MOMENTUM), market, GRID, scheduler=scheduler, progress=False, **KWARGS)
    assert one.table["error"].isna().all()
    assert one.table["trades"].gt(0).all()
    assert one.table["final_equity"].nunique() > 1  # the parameters matter
    pd.testing.assert_frame_equal(one.table, local.table)
    pd.testing.assert_frame_equal(one.table, remote.table)
    assert one.best_params == remote.best_params


def test_best_heatmap_and_save(market, tmp_path):
    result = aifap.sweep(
        MOMENTUM, market, GRID, objective="roe", workers=2, processes=False, progress=False,
        **KWARGS,
    )  # fmt: skip
    assert result.best["roe"] == result.table["roe"].max()
    assert result.best_params == {k: result.best[k] for k in GRID}
    fig = result.heatmap("lookback", "window", "final_equity")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (2, 2)  # rows: window, columns: lookback
    corner = result.table.query("lookback == 30 and window == 40")["final_equity"].item()
    assert image[0, 1] == corner
    with pytest.raises(ConfigError, match="x must be one of"):
        result.heatmap("fee", "window")
    out = result.save(tmp_path / "sweep")
    saved = pd.read_csv(out / "table.csv")
    assert saved["final_equity"].tolist() == result.table["final_equity"].tolist()
    assert pd.read_parquet(out / "table.parquet")["roe"].tolist() == result.table["roe"].tolist()
    assert json.loads((out / "best.json").read_text())["best"] == result.best_params
    assert (out / "heatmap.png").stat().st_size > 1000


def test_random_and_optuna_searches_run_trials_of_the_grid(market):
    grid = {"lookback": [5, 10, 30], "window": [40, 120]}
    picked = aifap.sweep(
        MOMENTUM, market, grid, search="random", trials=3, seed=1, workers=2, processes=False,
        progress=False, **KWARGS,
    )  # fmt: skip
    assert len(picked.table) == 3
    assert picked.table[["lookback", "window"]].drop_duplicates().shape[0] == 3
    tuned = aifap.sweep(
        MOMENTUM, market, grid, search="optuna", trials=4, workers=2, processes=False,
        progress=False, **KWARGS,
    )  # fmt: skip
    assert len(tuned.table) == 4
    assert tuned.table["lookback"].isin(grid["lookback"]).all()
    assert tuned.table["error"].isna().all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "sortino"}, "objective must be one of"),
        ({"search": "bayes"}, "search must be one of"),
        ({"search": "random"}, "trials must be an integer >= 1 with search='random'"),
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"scheduler": "localhost"}, "scheduler must be an address"),
        ({"on_cycle": print}, "on_cycle cannot be given"),
        ({"scheduler": "tcp://127.0.0.1:9"}, "scheduler must be a reachable Dask scheduler"),
    ],
)
def test_bad_arguments_are_refused_naming_them(market, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        aifap.sweep(MOMENTUM, market, GRID, progress=False, **kwargs)


@pytest.fixture
def bar_dir(market, tmp_path):
    """The market's bars as 1m bar files in a directory (what ``--data`` reads)."""
    data = tmp_path / "bars"
    data.mkdir()
    for symbol, frame in market.frames().items():
        write_bar_file(data / f"{symbol}_1m.csv.gz", frame)
    return data


def test_cli_sweep_writes_table_and_heatmap(bar_dir, scheduler, tmp_path):
    data = bar_dir
    out = tmp_path / "out"
    args = [
        "sweep", str(MOMENTUM), "--grid", "lookback=5,30", "--grid", "window=40,120",
        "--data", str(data), "--out", str(out), "--scheduler", scheduler,
        "--objective", "roe", "--rebalance", "1h", "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "table.csv")
    expected = aifap.sweep(
        MOMENTUM, str(data), GRID, objective="roe", workers=1, processes=False, progress=False,
        **KWARGS,
    )  # fmt: skip
    shown = table[["lookback", "window", "final_equity", "error"]].to_string()
    assert table["final_equity"].tolist() == expected.table["final_equity"].tolist(), shown
    assert (out / "heatmap.png").is_file()
    assert "Sweep ranked by roe" in result.output

    bad = CliRunner().invoke(app, ["sweep", str(MOMENTUM), "--grid", "lookback", "--out", "x"])
    assert bad.exit_code == 2
    assert "name=v1,v2" in bad.output


def test_cli_sweep_of_only_failures_writes_their_errors_and_exits_1(
    bar_dir, scheduler, tmp_path
):
    data = bar_dir
    broken = tmp_path / "broken.py"
    broken.write_text(
        "def strategy(context, config):\n"
        "    raise RuntimeError(f\"no luck with {config['lookback']}\")\n"
    )
    out = tmp_path / "out"
    args = [
        "sweep", str(broken), "--grid", "lookback=5,30", "--data", str(data),
        "--out", str(out), "--scheduler", scheduler, "--rebalance", "1h", "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "every combination failed (2)" in result.output
    assert "no luck with 30" in result.output  # the table shows each combination's error
    table = pd.read_csv(out / "table.csv")
    assert table["lookback"].tolist() == [5, 30]
    assert table["error"].str.contains("no luck with").all()


def test_cli_sweep_help_explains_every_option():
    result = CliRunner().invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--grid", "--data", "--out", "--scheduler", "--workers", "--objective"):
        assert option in result.output


def _profiling() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_local_cluster_workers_run_without_the_statistical_profiler(market):
    import dask

    from aifap.research.execute import Runner

    with Runner(MOMENTUM, market, KWARGS, workers=1, progress=False) as runner:
        on_workers = runner.client.run(_profiling)
    assert list(on_workers.values()) == [False]  # a worker process, told by its nanny
    assert dask.config.get("distributed.worker.profile.enabled") is True  # caller's unchanged


def _affinity() -> list[int]:
    import os

    return sorted(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(__import__("os"), "sched_getaffinity"), reason="no CPU affinity")
def test_local_cluster_workers_are_pinned_one_core_each(market):
    import os

    from aifap.research.execute import Runner

    cores = sorted(os.sched_getaffinity(0))
    workers = min(2, len(cores))
    with Runner(MOMENTUM, market, KWARGS, workers=workers, progress=False) as runner:
        pinned = runner.client.run(_affinity)
        table = runner.run([])  # the cluster still runs jobs: none here
    assert table == []
    assert sorted(len(c) for c in pinned.values()) == [1] * workers  # one core each
    assert len({c[0] for c in pinned.values()}) == workers  # different cores
    assert all(c[0] in cores for c in pinned.values())
    assert sorted(os.sched_getaffinity(0)) == cores  # the caller is not pinned


def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import aifap\n"
        "from aifap.data.synthetic import SyntheticMarket\n"
        f"aifap.sweep({str(MOMENTUM)!r}, SyntheticMarket(['BTCUSDT'], days=1, seed=7),\n"
        "            {'lookback': [5, 30]}, workers=1, progress=False)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode != 0
    assert "ConfigError: the sweep's worker processes must start" in done.stderr
    assert 'if __name__ == "__main__":' in done.stderr
