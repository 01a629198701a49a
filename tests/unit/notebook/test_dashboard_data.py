"""Dashboard data: downsampling, liveness, the empty state and sorting, without a browser."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import numpy as np
import pytest

from aifap.core.errors import ConfigError
from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot
from aifap.db import make_engine, migrate
from aifap.live.clock import from_ms
from aifap.notebook.dashboard_data import (
    FleetRow,
    SessionInfo,
    SessionSource,
    downsample,
    liveness,
)
from aifap.notebook.fleet_widgets import fleet_html
from aifap.notebook.widgets import SessionDashboard, stat_panels
from aifap.watch.snapshots import SnapshotStore


def test_downsampling_keeps_at_most_max_points_with_first_last_and_extremes():
    rng = np.random.default_rng(7)
    ts = np.arange(43_200, dtype="int64") * 60_000
    pv = 10_000 + np.cumsum(rng.normal(0, 5, ts.size))
    pv[12_345] = pv.max() + 500  # a spike and a crash must survive
    pv[30_000] = pv.min() - 500
    keep = downsample(ts, pv, 2000)
    assert len(keep) <= 2000
    assert keep[0] == 0
    assert keep[-1] == ts.size - 1
    assert {12_345, 30_000} <= set(keep.tolist())
    assert np.all(np.diff(keep) > 0)
    assert pv[keep].max() == pv.max()
    assert pv[keep].min() == pv.min()


def test_a_short_series_is_not_downsampled():
    ts = np.arange(10, dtype="int64")
    assert downsample(ts, ts.astype(float), 2000).tolist() == list(range(10))


def _info(status: str, workdir: str) -> SessionInfo:
    return SessionInfo("s", "t", "strat", status, None, None, 1000.0, workdir)


def test_liveness_reads_the_row_and_the_heartbeat(tmp_path):
    assert liveness(None, tmp_path).state == "not started"
    beat = {"status": "running", "wall_ms": int(time.time() * 1000), "cycle": 4}
    (tmp_path / "heartbeat.json").write_text(json.dumps(beat))
    live = liveness(_info("running", str(tmp_path)), None)
    assert (live.state, live.cycle) == ("running", 4)
    assert 0 <= live.heartbeat_age < 5
    beat["wall_ms"] -= 120_000
    (tmp_path / "heartbeat.json").write_text(json.dumps(beat))
    assert liveness(_info("running", str(tmp_path)), None).state == "stale"
    assert liveness(_info("failed", str(tmp_path)), None).state == "failed"


def test_a_fresh_database_gives_the_empty_state(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'none.db'}")
    view = SessionSource(engine, "nobody").load()
    assert view.empty
    assert view.snapshots == 0
    assert view.equity.empty
    dashboard = SessionDashboard(SessionSource(engine, "nobody"), refresh_seconds=0)
    dashboard.refresh()
    assert "No snapshots yet" in dashboard.header.value
    assert "Waiting for the first snapshot" in dashboard.charts.value
    assert all('data-value=""' in panel for panel in stat_panels(view))


def test_the_view_follows_new_snapshots_incrementally(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate(url)
    engine = make_engine(url)
    store = SnapshotStore(engine, "s")
    source = SessionSource(engine, "s", max_points=4)
    for i in range(6):
        pos = Position("BTCUSDT", Decimal(1), Decimal(100), Decimal(100 + i), Decimal(2),
                       take_profit=Decimal(200), stop_loss=Decimal(50))  # fmt: skip
        store.save(
            Snapshot("s", from_ms(i * 60_000), Decimal(1000), (pos,), pv=Decimal(1000 + i),
                     roe=i / 1000, max_drawdown=-0.01 * i),
            from_ms(i * 60_000),
        )
        view = source.load()
        assert view.snapshots == i + 1
        assert view.stats.roe == i / 1000
        assert view.stats.pv == 1000 + i
        assert view.equity.iloc[-1] == 1000 + i
        assert len(view.equity) <= 4
    assert len(source.equity.ts) == 6
    (p,) = view.positions
    assert (p.symbol, p.take_profit, p.stop_loss, p.notional) == ("BTCUSDT", 200, 50, 105)


def _row(sid: str, roe: float | None, pv: float | None) -> FleetRow:
    return FleetRow(sid, "x", "t", "running", 1.0, pv, roe, None, None, None, (1.0, 2.0))


def test_the_fleet_table_sorts_on_the_chosen_key_with_missing_values_last():
    rows = [_row("a", 0.1, 10.0), _row("b", None, None), _row("c", 0.3, 5.0)]
    order = lambda html: [s.split('"')[0] for s in html.split('data-session="')[1:]]  # noqa: E731
    assert order(fleet_html(rows, "roe", descending=True)) == ["c", "a", "b"]
    assert order(fleet_html(rows, "roe")) == ["a", "c", "b"]
    assert order(fleet_html(rows, "pv")) == ["c", "a", "b"]
    assert "No sessions yet" in fleet_html([], "roe")


@pytest.mark.parametrize("name", ["session", "fleet"])
def test_the_templates_read_the_launchers_environment(name):
    from aifap.deploy import dashboard as launch

    nb = json.loads((launch.TEMPLATES / f"{name}.ipynb").read_text())
    (params,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    source = "".join(params["source"])
    names = [launch.ENV_DB, launch.ENV_REFRESH]
    if name == "session":
        names += [launch.ENV_SESSION, launch.ENV_WORKDIR]
    assert all(n in source for n in names)
    assert all(c["outputs"] == [] for c in nb["cells"] if c["cell_type"] == "code")


def test_the_header_links_the_sessions_parity_report_once_written(tmp_path, monkeypatch):
    from aifap.deploy import dashboard as launch

    monkeypatch.delenv(launch.ENV_SESSION, raising=False)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate(url)
    source = SessionSource(make_engine(url), "s", workdir=tmp_path)
    assert source.load().parity is None
    dashboard = SessionDashboard(source, refresh_seconds=0)
    dashboard.refresh()
    assert "aifap-parity" not in dashboard.header.value
    folder = tmp_path / "parity"  # where `aifap parity` writes by default
    folder.mkdir()
    (folder / "s_parity.json").write_text(json.dumps({
        "pv_gap": -12.5, "largest": "fees", "labels": {"fees": "fees"},
        "components": {"fees": -10.25}}))
    (folder / "s_parity.html").write_text("<html></html>")
    view = source.load()
    assert view.parity is not None
    assert view.parity["path"] == str((folder / "s_parity.html").resolve())
    dashboard.refresh()
    header = dashboard.header.value
    # in a notebook no server serves the report: its path on hover, no (file://) link
    assert "href=" not in header
    assert f'title="{(folder / "s_parity.html").resolve()}"' in header
    assert "parity: PV gap -12.50 USDT, largest fees -10.25" in header
    # under the dashboard's server (it names the session), a link beside the page
    monkeypatch.setenv(launch.ENV_SESSION, "s")
    dashboard.refresh()
    header = dashboard.header.value
    assert 'href="aifap/parity/s.html"' in header
    assert "parity: PV gap -12.50 USDT, largest fees -10.25" in header


def test_a_range_shows_the_last_window_downsampled_on_its_own(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    migrate(url)
    engine = make_engine(url)
    store = SnapshotStore(engine, "s")
    for i in range(3 * 1440 // 10):  # three days, every 10 minutes
        when = from_ms(i * 600_000)
        store.save(Snapshot("s", when, Decimal(1000 + i), (), pv=Decimal(1000 + i)), when)
    dashboard = SessionDashboard(SessionSource(engine, "s", max_points=40), refresh_seconds=0)
    dashboard.refresh()
    whole = dashboard.view.equity
    dashboard.set_range("1d")
    day = dashboard.view.equity
    assert day.index[-1] == whole.index[-1]
    assert (day.index[-1] - day.index[0]).total_seconds() == 86_400
    assert len(day) <= 40 < 145  # the day's 145 observations, downsampled on their own
    assert f'data-first-ms="{day.index[0].value // 1_000_000}"' in dashboard.charts.value
    assert dashboard.range.value == "1d"
    dashboard.refresh()  # a refresh keeps the chosen range
    assert dashboard.view.equity.index[0] == day.index[0]
    with pytest.raises(ConfigError, match="range must be one of 1d, 7d, 30d, all"):
        dashboard.set_range("2y")
