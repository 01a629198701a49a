"""The fleet dashboard in a real browser: every session with its numbers, sortable."""

from __future__ import annotations

import pytest
from dash_helpers import RENDER_TIMEOUT_MS, add_snapshot, copy_db

from aifap.db import make_engine
from aifap.notebook.dashboard_data import fleet

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _order(page) -> list[str]:
    return page.locator(".aifap-fleet-row").evaluate_all("rs => rs.map(r => r.dataset.session)")


def test_the_fleet_view_lists_every_session_and_sorts(finished_session, voila, page, tmp_path):
    url = copy_db(finished_session["url"], tmp_path / "db")
    for pv in (1000.0, 1100.0, 1250.0):  # a second session, finwatcher rows only
        add_snapshot(url, "winner", pv, 1000.0)
    running = voila(None, url, refresh=1.0)
    page.goto(running.url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(".aifap-fleet-row", timeout=RENDER_TIMEOUT_MS)

    rows = {r.session_id: r for r in fleet(make_engine(url, fresh=True))}
    assert set(rows) == {"dash"}  # a session without a live_sessions row is not a session yet
    assert _order(page) == ["dash"]
    dash = page.locator('.aifap-fleet-row[data-session="dash"]')
    assert dash.get_attribute("data-state") == "stopped"
    assert float(dash.locator("td[data-value]").get_attribute("data-value")) == pytest.approx(
        rows["dash"].pv)
    assert f"{rows['dash'].roe * 100:+.2f}%" in dash.inner_text()
    assert int(dash.locator("svg.aifap-spark").get_attribute("data-points")) >= 2

    # a second session appears without a reload, and the sort keys order the table
    from aifap.db import session_factory
    from aifap.live.models import LiveSession

    with session_factory(make_engine(url, fresh=True)).begin() as db:
        base = db.get(LiveSession, "dash")
        db.add(LiveSession(**{c.name: getattr(base, c.name) for c in LiveSession.__table__.c}
                           | {"session_id": "winner", "initial_equity": 1000,
                              "workdir": str(tmp_path / "winner")}))
    page.wait_for_selector('.aifap-fleet-row[data-session="winner"]', timeout=60_000)
    page.locator(".aifap-sort select").select_option("ROE")
    page.get_by_text("descending", exact=True).click()
    page.wait_for_selector('.aifap-fleet[data-sort="roe"]', timeout=30_000)
    page.wait_for_function(
        "() => document.querySelector('.aifap-fleet-row').dataset.session === 'winner'",
        timeout=30_000)
    assert _order(page) == ["winner", "dash"]
    page.get_by_text("ascending", exact=True).click()
    page.wait_for_function(
        "() => document.querySelector('.aifap-fleet-row').dataset.session === 'dash'",
        timeout=30_000)
