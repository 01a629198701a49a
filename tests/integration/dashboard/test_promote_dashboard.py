"""``aifap.promote(..., dashboard=True)``: the handle's ``dashboard_url`` serves the session."""

from __future__ import annotations

import httpx
import pytest

import aifap
from aifap.deploy.dashboard import running_dashboard, stop_dashboard

pytestmark = pytest.mark.slow


STEADY = """
def steady(context, config_dict):
    return {"BTCUSDT": 0.3, "ETHUSDT": 0.3}
"""


def test_promote_with_a_dashboard_serves_it_at_the_handles_url(tmp_path):
    # (a strategy file with `from __future__ import annotations` is frozen with the import
    # after the header, which Python refuses; this one has none)
    (tmp_path / "steady.py").write_text(STEADY)
    handle = aifap.promote(
        f"{tmp_path / 'steady.py'}:steady", "dashed", symbols=["BTCUSDT", "ETHUSDT"],
        rebalance_every="15m", clock="replay", duration="2h", finwatcher_interval="15m",
        strategies=tmp_path / "strategies", workdir=str(tmp_path / "wd"),
        alert_channel="none", validation_days=1,
        results_database_url=f"sqlite:///{tmp_path / 'r.db'}", dashboard=True,
    )  # fmt: skip
    try:
        url = handle.dashboard_url
        assert url is not None
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url, timeout=180.0, trust_env=False)
        assert page.status_code == 200
        assert "application/vnd.jupyter.widget-view+json" in page.text
        assert handle.wait(300).state == "stopped"
        assert handle.dashboard_url == url  # the dashboard outlives the session
        voila = running_dashboard(handle.workdir)
        assert stop_dashboard(handle.workdir)
        assert not voila.alive()
        assert handle.dashboard_url is None
    finally:
        stop_dashboard(handle.workdir)
        handle.stop(timeout=10)
