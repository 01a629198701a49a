"""The research notebooks run top to bottom under nbval, on the synthetic market."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_research_*.ipynb"))


def test_research_notebooks_exist():
    assert [n.name for n in NOTEBOOKS][:1] == ["01_research_momentum.ipynb"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_but_the_checked_cell(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    checked = [c for c in cells if "# NBVAL_CHECK_OUTPUT" in "".join(c.get("source", ""))]
    assert len(checked) == 1
    for cell in cells:
        if cell["cell_type"] == "code" and cell not in checked:
            assert cell["outputs"] == [], "".join(cell["source"])[:60]
    assert checked[0]["outputs"], "the checked cell must keep its expected output"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_passes_nbval(notebook, tmp_path):
    command = [
        sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
        "--nbval-cell-timeout", "240", "-p", "no:cacheprovider", "-q",
        "--rootdir", str(tmp_path), "-c", "/dev/null", str(notebook),
    ]  # fmt: skip
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
