"""The results service over real HTTP (uvicorn in a thread), on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest

from aifap.exchange.emulator.server import ThreadedServer
from aifap.testing.results import START, write_session
from aifap.watch.schemas import AlertRow, FillRow, OrderRow, Page, PositionRow, SnapshotRow
from aifap.watch.service import create_app


@pytest.fixture
def served(db_url):
    account = write_session(
        db_url, "sess", days=2, interval=timedelta(minutes=30), rebalance_every=5
    )
    write_session(db_url, "other", days=1, interval=timedelta(hours=2), seed=3)
    server = ThreadedServer(create_app(db_url))
    server.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
        yield client, account
    server.stop()


def walk(client, path, **params):
    """Follow next_cursor to the end; return every row and the pages' sizes."""
    rows, sizes, cursor = [], [], None
    while True:
        answer = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        rows += body["items"]
        sizes.append(len(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, sizes


@pytest.mark.parametrize("limit", [1, 7, 96, 500])
def test_snapshot_pages_round_trip_without_a_lost_or_repeated_row(served, limit):
    client, _ = served
    everything = client.get("/sessions/sess/snapshots", params={"limit": 5000}).json()
    assert everything["next_cursor"] is None
    assert len(everything["items"]) == 96
    rows, sizes = walk(client, "/sessions/sess/snapshots", limit=limit)
    assert rows == everything["items"]
    assert all(size == limit for size in sizes[:-1])
    times = [r["ts_ms"] for r in rows]
    assert times == sorted(set(times))
    assert {"time", "pv", "roe", "upnl", "sharpe", "max_drawdown"} <= set(rows[0])


def test_positions_fills_alerts_and_sessions_page_by_cursor(served):
    client, account = served
    positions, _ = walk(client, "/sessions/sess/positions", limit=13)
    keys = [(p["ts_ms"], p["symbol"]) for p in positions]
    assert keys == sorted(set(keys))
    assert len(positions) == 96 * 3
    fills, _ = walk(client, "/sessions/sess/fills", limit=4)
    assert [f["id"] for f in fills] == sorted({f["id"] for f in fills})
    assert len(fills) == len(account.fills)
    assert fills[0]["amount"] == str(account.fills[0].amount)  # exact decimal text
    sessions, _ = walk(client, "/sessions", limit=1)
    assert [s["session_id"] for s in sessions] == ["other", "sess"]
    alerts, _ = walk(client, "/sessions/sess/alerts", limit=1)
    assert alerts[0]["kind"] == "session_started"
    assert client.get("/sessions/sess/orders").json() == {"items": [], "next_cursor": None}
    latest = client.get("/sessions/sess/positions", params={"latest": "true"}).json()["items"]
    assert {p["ts_ms"] for p in latest} == {keys[-1][0]}


@pytest.mark.parametrize(
    ("name", "row"),
    [("snapshots", SnapshotRow), ("positions", PositionRow), ("orders", OrderRow),
     ("fills", FillRow), ("alerts", AlertRow)],
)  # fmt: skip
def test_pages_are_exactly_what_their_documented_models_serialize(served, name, row):
    # the pages are written without per-row validation: they must still be the schema's JSON
    client, _ = served
    answer = client.get(f"/sessions/sess/{name}", params={"limit": 50})
    assert answer.headers["content-type"] == "application/json"
    model = Page[row].model_validate_json(answer.content, strict=False)
    assert model.model_dump(mode="json") == answer.json()
    for item in answer.json()["items"]:
        assert set(item) == set(row.model_fields)


def test_time_range_filters_start_inclusive_end_exclusive(served):
    client, _ = served
    start = (START + timedelta(hours=6)).isoformat()
    end = (START + timedelta(hours=12)).isoformat()
    rows, _ = walk(client, "/sessions/sess/snapshots", start=start, end=end, limit=5)
    assert rows[0]["time"] == "2024-06-01T06:00:00Z"
    assert rows[-1]["time"] == "2024-06-01T11:30:00Z"
    assert len(rows) == 12
    naive = client.get(
        "/sessions/sess/snapshots",
        params={"start": "2024-06-01T06:00:00", "end": "2024-06-01T12:00:00"},
    )
    assert len(naive.json()["items"]) == 12


def test_one_session_and_its_last_snapshot_agree(served):
    client, _ = served
    session = client.get("/sessions/sess").json()
    assert session["snapshots"] == 96
    assert session["allocation"] == 10_000.0
    last = client.get("/sessions/sess/snapshots", params={"start": session["last_snapshot"]})
    assert last.json()["items"][0]["time"] == session["last_snapshot"]


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/nope",
        "/sessions/nope/snapshots",
        "/sessions/nope/positions",
        "/sessions/nope/orders",
        "/sessions/nope/fills",
        "/sessions/nope/alerts",
    ],
)
def test_unknown_session_is_404_with_a_json_detail(served, path):
    client, _ = served
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json() == {"detail": "session 'nope' not found"}


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-06-02", "end": "2024-06-01"},
        {"start": "2024-06-01", "end": "2024-06-01"},
        {"start": "yesterday"},
        {"cursor": "not-a-cursor"},
        {"limit": 0},
        {"limit": 5001},
    ],
)
def test_bad_ranges_limits_and_cursors_are_422(served, params):
    client, _ = served
    answer = client.get("/sessions/sess/snapshots", params=params)
    assert answer.status_code == 422
    assert isinstance(answer.json()["detail"], str)


def test_health_ready_and_openapi(served):
    client, _ = served
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ok"
    assert ready["sessions"] == 2
    assert ready["database"].split(":")[0] in {"sqlite", "postgresql+psycopg2"}
    spec = client.get("/openapi.json").json()
    snapshot = spec["paths"]["/sessions/{session_id}/snapshots"]["get"]
    assert {"start", "end", "limit", "cursor"} <= {p["name"] for p in snapshot["parameters"]}
    assert {"200", "404", "422", "503"} <= set(snapshot["responses"])
    row = spec["components"]["schemas"]["SnapshotRow"]["properties"]
    assert {"time", "pv", "roe", "upnl", "sharpe", "max_drawdown"} <= set(row)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://aifap:secret@127.0.0.1:{port}/results",
        "sqlite:///{tmp}/empty.db",  # reachable, but no results schema
    ],
)
def test_a_database_that_is_down_answers_503_not_500(url, tmp_path):
    server = ThreadedServer(create_app(url.format(port=_closed_port(), tmp=tmp_path)))
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert client.get("/health").status_code == 200
            ready = client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "unavailable"
            assert "secret" not in ready.text
            for path in ("/sessions", "/sessions/x", "/sessions/x/snapshots"):
                answer = client.get(path)
                assert answer.status_code == 503, path
                assert answer.json()["detail"].startswith("results database unavailable")
    finally:
        server.stop()


@pytest.mark.postgres
def test_the_services_postgresql_engine_reads_each_statement_in_its_own_transaction(pg_url):
    # autocommit: no BEGIN before a read and no ROLLBACK after it, so two statements on
    # one connection see two transaction start times; the shared engine keeps one
    from sqlalchemy import text

    from aifap.db import make_engine

    def starts(engine):
        with engine.connect() as conn:
            first = conn.execute(text("SELECT now()")).scalar()
            conn.execute(text("SELECT pg_sleep(0.01)"))
            return first, conn.execute(text("SELECT now()")).scalar()

    reader = make_engine(pg_url, pooled=True, autocommit=True)
    assert reader is not make_engine(pg_url)
    first, second = starts(reader)
    assert second > first
    first, second = starts(make_engine(pg_url))
    assert second == first
    reader.dispose()
