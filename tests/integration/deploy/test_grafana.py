"""Every SQL query of the Grafana provisioning runs on a real PostgreSQL holding a
session's results (written by finwatcher's own snapshot writer) and returns the
columns its panel or alert rule reads."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from aifap.db import make_engine
from aifap.testing.results import START, write_session

pytestmark = pytest.mark.postgres

GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "aifap-session.json"
RULES = GRAFANA / "alerting" / "aifap-rules.yaml"

# the columns each panel / rule reads: (all of these, how many rows at least)
EXPECTED = {
    "ROE": ({"roe"}, 1),
    "Sharpe Ratio": ({"sharpe"}, 1),
    "Max Drawdown": ({"max_drawdown"}, 1),
    "Portfolio Value Over Time": ({"time", "pv"}, 24),
    "Position Allocation": ({"symbol", "value"}, 3),
    "Position Sizes (USDT)": ({"symbol", "usdt"}, 3),
    "variable session": ({"session_id"}, 1),
    "Session drawdown beyond limit": ({"session_id", "value"}, 1),
    "Session heartbeat stale": ({"session_id", "value"}, 1),
}


def queries() -> dict[str, tuple[str, dict]]:
    """Return {panel or rule title: (SQL, its panel or rule)} from the provisioning files."""
    found: dict[str, tuple[str, dict]] = {}
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found[panel["title"]] = (target["rawSql"], panel)
    for variable in dashboard["templating"]["list"]:
        found[f"variable {variable['name']}"] = (variable["query"], variable)
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            for query in rule["data"]:
                if query["datasourceUid"] != "__expr__":
                    found[rule["title"]] = (query["model"]["rawSql"], rule)
    return found


def substitute(sql: str, session: str, start: int, end: int) -> str:
    """Expand the Grafana variables and macros the files use, as Grafana would."""
    sql = sql.replace("${session}", session).replace("$session", session)
    sql = sql.replace("$__unixEpochFrom()", str(start)).replace("$__unixEpochTo()", str(end))
    sql = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m.group(1)} BETWEEN to_timestamp({start}) AND to_timestamp({end})",
        sql,
    )
    assert "$" not in sql, f"unexpanded Grafana macro in: {sql}"
    return sql


@pytest.fixture
def results(pg_url):
    write_session(pg_url, "sess", days=2, interval=timedelta(hours=1), rebalance_every=4)
    engine = make_engine(pg_url)
    with engine.begin() as conn:  # the alert rules watch running sessions
        conn.execute(text("UPDATE live_sessions SET status = 'running' WHERE session_id = 'sess'"))
    return engine


def test_every_query_of_the_provisioning_is_known_to_this_test():
    assert set(queries()) == set(EXPECTED)


@pytest.mark.parametrize("title", sorted(EXPECTED))
def test_query_runs_and_returns_the_columns_its_panel_reads(results, title):
    sql, owner = queries()[title]
    start = int(START.timestamp())
    end = int((START + timedelta(days=2)).timestamp())
    with results.connect() as conn:
        answer = conn.execute(text(substitute(sql, "sess", start, end)))
        columns, rows = set(answer.keys()), answer.all()
    wanted, at_least = EXPECTED[title]
    assert wanted <= columns, (title, columns)
    assert len(rows) >= at_least, (title, rows)
    x_field = owner.get("options", {}).get("xField")
    if x_field:
        assert x_field in columns
    if title == "Position Allocation":
        assert all(value > 0 for _, value in rows)
    if title == "Session heartbeat stale":  # the test session's snapshots are from 2024
        assert rows[0].value > 5


def test_stat_panels_carry_the_seed_colours():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    colours = {
        p["title"]: p["fieldConfig"]["defaults"]["color"].get("fixedColor")
        for p in dashboard["panels"]
        if p["type"] == "stat"
    }
    assert colours == {"ROE": "#00FF88", "Sharpe Ratio": "#4A90D9", "Max Drawdown": "#FF6B6B"}
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["session"]


def test_the_data_source_takes_its_password_from_the_environment():
    source = yaml.safe_load((GRAFANA / "datasources" / "aifap-results.yaml").read_text())
    (entry,) = source["datasources"]
    assert entry["secureJsonData"]["password"] == "${AIFAP_RESULTS_DB_PASSWORD}"
    assert entry["uid"] == "aifap-results"
    provider = yaml.safe_load((GRAFANA / "dashboards" / "provider.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
