"""``templates/dashboards/*.ipynb`` run under papermill with small parameters (no Voila)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from aifap.core.snapshot import Snapshot
from aifap.db import make_engine, migrate
from aifap.deploy.dashboard import FLEET_TEMPLATE, SESSION_TEMPLATE
from aifap.live.clock import from_ms
from aifap.watch.snapshots import SnapshotStore

pytestmark = pytest.mark.slow


def _widget_outputs(nb) -> list[dict]:
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]


@pytest.fixture
def results(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate(url)
    store = SnapshotStore(make_engine(url), "nb")
    for i in range(3):
        store.save(Snapshot("nb", from_ms(i * 60_000), Decimal(1000), pv=Decimal(1000 + i)),
                   from_ms(i * 60_000))  # fmt: skip
    return url


def test_the_session_template_runs_under_papermill(results, tmp_path):
    import papermill as pm

    nb = pm.execute_notebook(
        str(SESSION_TEMPLATE), str(tmp_path / "out.ipynb"), kernel_name="python3",
        parameters={"session_id": "nb", "results_url": results, "refresh_seconds": 0},
        progress_bar=False, cwd=str(tmp_path),
    )  # fmt: skip
    assert len(_widget_outputs(nb)) == 1


def test_the_fleet_template_runs_under_papermill(results, tmp_path):
    import papermill as pm

    nb = pm.execute_notebook(
        str(FLEET_TEMPLATE), str(tmp_path / "out.ipynb"), kernel_name="python3",
        parameters={"results_url": results, "refresh_seconds": 0},
        progress_bar=False, cwd=str(tmp_path),
    )  # fmt: skip
    assert len(_widget_outputs(nb)) == 1
