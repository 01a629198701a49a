"""The session dashboard in a real browser (Voila + Debian's Chromium), on a real session's rows."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from dash_helpers import (
    RENDER_TIMEOUT_MS,
    add_snapshot,
    chart_data,
    copy_db,
    equity,
    journal,
    stat,
    wait_rendered,
)

from aifap.core import metrics
from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot
from aifap.db import make_engine, migrate
from aifap.live.clock import from_ms
from aifap.watch.snapshots import SnapshotStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _close(shown: str, expected: float | None) -> bool:
    if expected is None:
        return shown == ""
    return math.isclose(float(shown), expected, rel_tol=1e-9, abs_tol=1e-12)


def test_every_panel_shows_the_sessions_numbers(finished_session, voila, page):
    url, sid = finished_session["url"], finished_session["session_id"]
    running = voila(sid, url, finished_session["config_path"].parent)
    page.goto(running.url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS)
    wait_rendered(page, charts=3)

    # the stat panels are the core's metrics over the session's PV series
    pv = equity(url, sid)
    initial = float(finished_session["allocation"])
    last = SnapshotStore(make_engine(url, fresh=True), sid).latest()
    expected = {
        "roe": metrics.roe(pv.iloc[-1], initial),
        "sharpe": metrics.sharpe_ratio(metrics.daily_returns(pv, initial=initial)),
        "max_drawdown": metrics.max_drawdown(pv),
    }
    assert expected["roe"] == pytest.approx(last.roe)
    assert expected["max_drawdown"] == pytest.approx(last.max_drawdown)
    for key, value in expected.items():
        raw, _text = stat(page, key)
        assert _close(raw, value), (key, raw, value)
    assert stat(page, "roe")[1].startswith(f"{expected['roe'] * 100:+.2f}%")
    assert stat(page, "max_drawdown")[1].startswith(f"{expected['max_drawdown'] * 100:+.2f}%")
    roe_color = page.locator('.aifap-stat[data-key="roe"] .aifap-stat-value').evaluate(
        "e => getComputedStyle(e).color")
    assert roe_color in ("rgb(0, 255, 136)", "rgb(255, 107, 107)")

    # Portfolio Value Over Time: every snapshot (fewer than 2,000), from the first PV to
    # the last; hovering a point shows its value
    line = chart_data(page, "aifap-pv")
    assert line["points"] == len(pv)
    assert line["first"] == pytest.approx(float(pv.iloc[0]))
    assert line["last"] == pytest.approx(float(last.pv))
    assert line["hover"][-1].endswith(f"{float(last.pv):,.2f} USDT")
    tip = page.locator(".aifap-pv .aifap-hit").last
    tip.locator(".aifap-hit-area").hover()
    assert tip.locator(".aifap-tip").evaluate("e => getComputedStyle(e).visibility") == "visible"

    # Position Allocation and Position Sizes (USDT): the last snapshot's open positions
    held = {p.symbol: float(abs(p.size) * p.mark_price) for p in last.positions if p.size}
    pie = chart_data(page, "aifap-pie")
    assert dict(zip(pie["labels"], pie["values"], strict=True)) == pytest.approx(held)
    bars = chart_data(page, "aifap-bars")
    assert dict(zip(bars["labels"], bars["values"], strict=True)) == pytest.approx(held)
    assert len(bars["hover"]) == len(held)
    rows = page.locator(".aifap-positions tbody tr")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.symbol)")) == sorted(held)

    # recent orders, fills and alerts; state and heartbeat
    jr = journal(url, sid)
    assert int(page.locator(".aifap-orders").get_attribute("data-rows")) == min(
        15, len(jr.orders()))
    assert int(page.locator(".aifap-fills").get_attribute("data-rows")) == min(15, len(jr.fills()))
    assert int(page.locator(".aifap-alerts").get_attribute("data-rows")) >= 2
    assert "session dash started" in page.locator(".aifap-alerts").inner_text()
    assert page.locator(".aifap-state").get_attribute("data-state") == "stopped"
    assert float(page.locator(".aifap-heartbeat").get_attribute("data-age")) > 0
    assert page.locator(".aifap-empty-state").count() == 0
    assert page.locator(".aifap-last-snapshot").get_attribute("data-count") == str(len(pv))


def test_a_new_snapshot_appears_without_a_reload(finished_session, voila, page, tmp_path):
    sid = finished_session["session_id"]
    url = copy_db(finished_session["url"], tmp_path / "db")
    running = voila(sid, url, finished_session["config_path"].parent, refresh=1.0)
    page.goto(running.url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS)
    wait_rendered(page, charts=3)
    before = int(page.locator(".aifap-last-snapshot").get_attribute("data-count"))
    page.evaluate("window.__aifapNoReload = true")

    pv = float(equity(url, sid).iloc[-1]) * 1.05
    btc = Position("BTCUSDT", Decimal("0.05"), Decimal(60000), Decimal(61000), Decimal(2))
    snapshot = add_snapshot(url, sid, pv, float(finished_session["allocation"]), (btc,))
    page.wait_for_selector(f'.aifap-last-snapshot[data-count="{before + 1}"]', timeout=60_000)

    assert page.evaluate("window.__aifapNoReload") is True
    assert _close(stat(page, "roe")[0], snapshot.roe)
    assert _close(stat(page, "max_drawdown")[0], snapshot.max_drawdown)
    page.wait_for_selector(f'.aifap-pv svg[data-points="{before + 1}"]', timeout=30_000)
    assert chart_data(page, "aifap-pv")["last"] == float(snapshot.pv)
    pie = chart_data(page, "aifap-pie")
    assert pie["labels"] == ["BTCUSDT"]
    assert pie["values"] == [pytest.approx(0.05 * 61000)]


def test_a_session_without_snapshots_shows_the_empty_state(voila, page, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    running = voila("ghost", url, tmp_path / "ghost", refresh=1.0)
    page.goto(running.url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS)
    page.wait_for_selector(".aifap-empty-state", timeout=RENDER_TIMEOUT_MS)
    text = page.locator(".aifap-empty-state").inner_text()
    assert "No snapshots yet" in text
    assert "ghost" in text
    assert page.locator(".aifap-state").get_attribute("data-state") == "not started"
    for key in ("roe", "sharpe", "max_drawdown"):
        assert stat(page, key) == ("", "—")
    wait_rendered(page, charts=3)
    assert "Waiting for the first snapshot" in page.locator(".aifap-pv").inner_text()
    assert "No open positions" in page.locator(".aifap-pie").inner_text()
    assert page.locator(".aifap-positions").get_attribute("data-rows") == "0"

    # the first snapshot replaces the empty state, still without a reload
    add_snapshot(url, "ghost", 1000.0, 1000.0)
    page.wait_for_selector('.aifap-last-snapshot[data-count="1"]', timeout=60_000)
    assert page.locator(".aifap-empty-state").count() == 0
    assert stat(page, "roe")[1].startswith("+0.00%")


def test_the_range_buttons_redraw_the_pv_chart_over_the_chosen_window(voila, page, tmp_path):
    # three days of hourly snapshots: "1d" shows the last day's 25, "all" every one
    url = f"sqlite:///{tmp_path / 'range.db'}"
    migrate(url)
    store = SnapshotStore(make_engine(url, fresh=True), "ranged")
    hour, start = 3_600_000, 1_718_841_600_000
    for i in range(72):
        pv = Decimal(10_000 + 10 * i)
        when = from_ms(start + i * hour)
        store.save(Snapshot("ranged", when, pv, (), pv=pv, roe=i / 1000, max_drawdown=0.0), when)
    last_ms = start + 71 * hour
    running = voila("ranged", url, tmp_path / "ranged", refresh=0)
    page.goto(running.url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS)
    wait_rendered(page, charts=3)
    svg = ".aifap-pv svg.aifap-chart"
    assert page.locator(svg).get_attribute("data-points") == "72"
    assert page.locator(svg).get_attribute("data-first-ms") == str(start)

    page.locator(".aifap-range button", has_text="1d").click()
    page.wait_for_selector(f'{svg}[data-points="25"]', timeout=30_000)
    assert page.locator(svg).get_attribute("data-first-ms") == str(last_ms - 24 * hour)
    assert page.locator(svg).get_attribute("data-last-ms") == str(last_ms)
    first_tip = page.locator(".aifap-pv .aifap-hit title").first.text_content()
    assert first_tip.endswith(f"{10_000 + 10 * 47:,.2f} USDT")

    page.locator(".aifap-range button", has_text="all").click()
    page.wait_for_selector(f'{svg}[data-points="72"]', timeout=30_000)
    assert page.locator(svg).get_attribute("data-first-ms") == str(start)


def test_the_parity_link_opens_the_report_over_the_dashboards_http(
    finished_session, voila, page, tmp_path
):
    import aifap
    from aifap.replay.files import report_dir

    sid = finished_session["session_id"]
    workdir = tmp_path / "wd"
    aifap.parity(finished_session["config_path"]).save(report_dir(workdir))
    running = voila(sid, copy_db(finished_session["url"], tmp_path / "db"), workdir)
    page.goto(running.url, wait_until="domcontentloaded", timeout=RENDER_TIMEOUT_MS)
    link = page.locator("a.aifap-parity")
    link.wait_for(timeout=RENDER_TIMEOUT_MS)
    assert link.inner_text().startswith("parity: PV gap +0.00 USDT")
    href = link.evaluate("a => a.href")  # as the browser resolves it against the page
    assert href == f"{running.url}aifap/parity/{sid}.html"
    with page.expect_popup() as opened:
        link.click()
    report = opened.value
    report.wait_for_load_state()
    assert report.url == href
    assert f"Parity: session {sid}" in report.locator("body").inner_text()
    report.close()
    # the dashboard's server serves that report and nothing else of the working directory
    answer = page.request.get(href)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    for other in ("aifap/parity/other.html", "aifap/parity/..%2Fsession.yaml",
                  "voila/files/parity/" + f"{sid}_parity.html"):  # fmt: skip
        assert page.request.get(running.url + other).status in (403, 404), other
