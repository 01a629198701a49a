"""``aifap.promote``: freezing under a content hash, refusals before launch, the local handle."""

from __future__ import annotations

import builtins
import itertools
import linecache
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import aifap
from aifap.core.errors import UnknownPluginError
from aifap.deploy import LocalSessionHandle, SessionHandle, launchers
from aifap.notebook.freeze import FreezeError, freeze_strategy
from aifap.notebook.preflight import PreflightError
from aifap.notebook.promote import PromoteError

_cells = itertools.count(1)

MOMENTUM = '''
import numpy as np

LOOKBACK = 4
ASSETS = ("BTCUSDT", "ETHUSDT")


def sign(x):
    return float(np.sign(x))


def strategy(context, config_dict):
    prices = context.get_history(list(ASSETS), window=LOOKBACK + 1, frequency="15m")
    if len(prices) <= LOOKBACK:
        return None
    up = [a for a in ASSETS if sign(prices[a].iloc[-1] - prices[a].iloc[0]) > 0]
    return {a: 0.4 for a in up}
'''


def in_notebook(source: str, name: str = "strategy", **namespace: Any) -> Any:
    """Define ``source`` the way an IPython cell does (``__main__``, source in linecache)."""
    filename = f"/tmp/ipykernel_0/{next(_cells)}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, **namespace}
    exec(compile(source, filename, "exec"), ns)
    return ns[name]


def test_a_notebook_function_is_frozen_with_its_imports_helpers_and_constants(tmp_path):
    frozen = freeze_strategy(in_notebook(MOMENTUM), "mom", tmp_path)
    assert frozen.path.parent == tmp_path.resolve() / "frozen"
    assert frozen.path.name == f"mom_{frozen.digest}.py"
    text = frozen.path.read_text()
    assert "import numpy as np" in text
    assert "LOOKBACK = 4" in text
    assert "ASSETS = ('BTCUSDT', 'ETHUSDT')" in text
    assert text.index("def sign") < text.index("def strategy")
    compile(text, str(frozen.path), "exec")


def test_the_same_source_gives_the_same_file_and_another_source_another(tmp_path):
    first = freeze_strategy(in_notebook(MOMENTUM), "mom", tmp_path)
    again = freeze_strategy(in_notebook(MOMENTUM), "mom", tmp_path)
    other = freeze_strategy(in_notebook(MOMENTUM.replace("0.4", "0.5")), "mom", tmp_path)
    assert again.path == first.path
    assert other.path != first.path
    assert len(list((tmp_path / "frozen").glob("*.py"))) == 2


def test_a_hand_edited_frozen_file_is_refused(tmp_path):
    frozen = freeze_strategy(in_notebook(MOMENTUM), "mom", tmp_path)
    frozen.path.write_text(frozen.path.read_text() + "# tweak\n")
    with pytest.raises(FreezeError, match="edited"):
        freeze_strategy(in_notebook(MOMENTUM), "mom", tmp_path)


def test_a_module_strategy_is_frozen_whole(tmp_path):
    module = Path(__file__).parent / "nb_strategies.py"
    frozen = freeze_strategy(f"{module}:steady", "steady", tmp_path)
    assert frozen.function == "steady"
    assert frozen.path.read_text().endswith(module.read_text())


def test_globals_that_cannot_be_frozen_are_refused_by_name(tmp_path):
    source = "def strategy(context, config_dict):\n    return dict(BOOK)\n"
    with pytest.raises(FreezeError, match=r"'BOOK'.*object"):
        freeze_strategy(in_notebook(source, BOOK=object()), "bad", tmp_path)
    closure = "def make(w):\n    def strategy(context, config_dict):\n" \
              "        return {'BTCUSDT': w}\n    return strategy\nstrategy = make(0.1)\n"
    with pytest.raises(FreezeError, match="closure"):
        freeze_strategy(in_notebook(closure), "bad", tmp_path)


def _promote(tmp_path: Path, strategy: Any, **options: Any) -> SessionHandle:
    settings: dict[str, Any] = {
        "symbols": ["BTCUSDT", "ETHUSDT"], "rebalance_every": "15m", "clock": "replay",
        "finwatcher_interval": "15m", "strategies": tmp_path / "strategies",
        "workdir": str(tmp_path / "wd"), "alert_channel": "none", "validation_days": 1,
        "results_database_url": f"sqlite:///{tmp_path / 'r.db'}"}
    settings.update(options)
    return aifap.promote(strategy, "promoted", **settings)


def test_a_strategy_that_fails_its_backtest_is_refused_before_launch(tmp_path):
    broken = in_notebook("def strategy(context, config_dict):\n    raise ValueError('nope')\n")
    with pytest.raises(PromoteError, match=r"validation backtest.*nope"):
        _promote(tmp_path, broken)
    assert not (tmp_path / "strategies").exists()
    assert not (tmp_path / "wd" / "runner.log").exists()


def test_an_import_that_only_works_in_the_notebook_is_caught_in_a_fresh_process(
        tmp_path, monkeypatch):
    (tmp_path / "only_here").mkdir()
    (tmp_path / "only_here" / "notebook_helpers.py").write_text("WEIGHT = 0.2\n")
    monkeypatch.syspath_prepend(str(tmp_path / "only_here"))
    source = ("def strategy(context, config_dict):\n"
              "    from notebook_helpers import WEIGHT\n"
              "    return {'BTCUSDT': WEIGHT}\n")
    with pytest.raises(PreflightError, match="notebook_helpers"):
        _promote(tmp_path, in_notebook(source))
    sys.modules.pop("notebook_helpers", None)
    assert (tmp_path / "wd" / "session.yaml").exists()
    assert not (tmp_path / "wd" / "runner.log").exists()


def test_an_unknown_launcher_lists_the_known_ones(tmp_path):
    with pytest.raises(UnknownPluginError, match="local"):
        _promote(tmp_path, in_notebook(MOMENTUM), launcher="moon")
    assert "local" in launchers


@pytest.mark.slow
def test_a_promoted_session_runs_and_its_handle_shows_status_and_logs_and_stops(tmp_path):
    handle = _promote(tmp_path, in_notebook(MOMENTUM), duration="720h",
                      clock={"kind": "replay", "speed": 600})
    try:
        assert isinstance(handle, LocalSessionHandle)
        assert handle.dashboard_url is None
        status = handle.status()
        assert status.state in ("starting", "running")
        for _ in range(600):
            status = handle.status()
            if status.state == "running" and (status.cycle or 0) >= 1:
                break
            assert status.running, handle.logs(30)
            time.sleep(0.2)
        assert status.state == "running"
        assert status.pids["kernel"]
        assert status.pids["strategy"]
        assert "promoted" in handle.logs(5)
        final = handle.stop()
        assert final.state == "stopped", final
        assert final.exit_code == 0
        assert not handle.stop().running  # stopping twice is harmless
    finally:
        handle.stop(timeout=10)
    config = (tmp_path / "wd" / "session.yaml").read_text()
    assert "strategies/frozen/promoted_" in config
    assert "strategy_version:" in config
