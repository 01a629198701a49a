"""The integer books compiled (Cython) and as Python: the same results; a stale build unused.

``pip install`` compiles the books and their spec reader where it can (setup.py). Each
case runs in a fresh interpreter, as a user's does: the choice is made when
``aifap.backtest`` is first imported. CI must build them (``CI=true``: a missing
build fails); elsewhere the compiled side is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifap.backtest import compiled

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# backtests with stops (futures, shorts) and without (spot): the books' whole hot path
RUNS = """
import hashlib, json, sys
sys.path[:0] = [{here!r}]
from test_stop_scan import run, walk
from aifap.backtest import compiled
out = {{"state": compiled.STATE}}
for market in ("futures", "spot"):
    result = run(walk(7, False, n=900, symbols=5), market, "auto")
    out[market] = [
        result.config["ledger"],
        len(result.orders),
        hashlib.sha256(result.orders.to_csv().encode()).hexdigest(),
        hashlib.sha256(result.equity.to_numpy().tobytes()).hexdigest(),
    ]
print(json.dumps(out))
"""


def _python(code: str, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    environment.update(env, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment,
        check=False, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _built() -> bool:
    """Tell whether the books have compiled builds beside their sources."""
    spec_dir = ROOT / "aifap" / "backtest"
    return all(any(spec_dir.glob(f"{name.rsplit('.', 1)[1]}.*.so")) for name in compiled.MODULES)


def _need_build() -> None:
    if _built():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("the books are not compiled: pip install -e . needs Cython and a C compiler")
    pytest.skip("the books are not compiled here (pip install -e . with a C compiler builds them)")


def test_compiled_and_python_books_give_the_same_orders_and_equity():
    _need_build()
    fast = _python(RUNS.format(here=str(HERE)))
    pure = _python(RUNS.format(here=str(HERE)), **{compiled.PURE_ENV: "1"})
    assert set(fast["state"].values()) == {"compiled"}
    assert all(state.startswith("python: ") for state in pure["state"].values())
    for market in ("futures", "spot"):
        assert fast[market][0] == "integer"  # the books ran, not the Decimal ledger
        assert fast[market][1] > 50
        assert fast[market] == pure[market], market


def test_a_compiled_build_of_another_source_version_is_not_run(tmp_path):
    _need_build()
    manifest = tmp_path / "compiled.json"
    manifest.write_text(json.dumps(dict.fromkeys(compiled.MODULES, "0" * 64)))
    code = f"""
import json, sys
from pathlib import Path
from aifap.backtest import compiled
before = {{n: sys.modules[n].__file__ for n in compiled.MODULES}}
for name in reversed(compiled.MODULES):
    del sys.modules[name]
state = compiled.select(Path({str(manifest)!r}))
after = {{n: sys.modules[n].__file__ for n in compiled.MODULES}}
from aifap.backtest.futuresbook import FuturesBook
from aifap.backtest.spotbook import SpotBook
print(json.dumps({{"before": before, "after": after, "state": state,
                   "base": FuturesBook.__mro__[1] is SpotBook}}))
"""
    out = _python(code)
    for name in compiled.MODULES:
        assert out["before"][name].endswith(".so")
        assert out["after"][name].endswith(".py")
        assert out["state"][name] == f"python: {compiled.STALE}"
    assert out["base"]  # futuresbook was loaded against the .py spotbook



def test_one_stale_module_takes_the_others_to_python(tmp_path):
    _need_build()
    # the futures book's C type extends the spot book's: they run compiled together or not
    recorded = json.loads(compiled.MANIFEST.read_text())
    stale = "aifap.backtest.spotbook"
    manifest = tmp_path / "compiled.json"
    manifest.write_text(json.dumps({**recorded, stale: "0" * 64}))
    code = f"""
import json, sys
from pathlib import Path
from aifap.backtest import compiled
for name in reversed(compiled.MODULES):
    del sys.modules[name]
state = compiled.select(Path({str(manifest)!r}))
from aifap.backtest.futuresbook import FuturesBook
from aifap.backtest.spotbook import SpotBook
print(json.dumps({{"files": {{n: sys.modules[n].__file__ for n in compiled.MODULES}},
                   "state": state, "base": FuturesBook.__mro__[1] is SpotBook}}))
"""
    out = _python(code)
    assert all(path.endswith(".py") for path in out["files"].values()), out["files"]
    assert out["state"][stale] == f"python: {compiled.STALE}"
    for name in set(compiled.MODULES) - {stale}:
        assert out["state"][name] == f"python: {compiled.STALE} (in another module of the set)"
    assert out["base"]

def test_the_manifest_records_the_sources_it_compiled():
    _need_build()
    recorded = json.loads(compiled.MANIFEST.read_text())
    for name in compiled.MODULES:
        source = ROOT / (name.replace(".", "/") + ".py")
        assert recorded[name] == compiled.source_hash(source), (
            f"{name} changed since it was compiled: pip install -e . rebuilds it"
        )
