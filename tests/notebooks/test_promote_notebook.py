"""``notebooks/02_promote_to_live.ipynb`` runs top to bottom under nbval, with no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02_promote_to_live.ipynb"


def test_the_promote_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], "".join(cell["source"])[:60]
    assert any("aifap.promote(" in "".join(c["source"]) for c in nb["cells"])


@pytest.mark.slow
def test_the_promote_notebook_passes_nbval(tmp_path):
    env = {**os.environ, "AIFAP_DATA_DIR": str(tmp_path / "data"),
           "AIFAP_STRATEGIES_DIR": str(tmp_path / "strategies")}
    command = [
        sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
        "--nbval-cell-timeout", "300", "-p", "no:cacheprovider", "-q",
        "--rootdir", str(tmp_path), "-c", "/dev/null", str(NOTEBOOK),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                         check=False, env=env)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    frozen = list((tmp_path / "strategies" / "frozen").glob("momentum_v2_*.py"))
    assert len(frozen) == 1
    state = json.loads((tmp_path / "data" / "sessions" / "momentum_v2" / "runner.json").read_text())
    assert state["status"] == "stopped"
