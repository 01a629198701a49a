"""Scheduled reports announced on Discord with the file; the tear-sheet service."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import Response
from typer.testing import CliRunner

from aifap.analysis import service as tearsheet_service
from aifap.analysis.service import TearSheetCache, create_app, tearsheet_router
from aifap.cli import app
from aifap.db import make_engine
from aifap.exchange.emulator.server import ThreadedServer
from aifap.settings import get_settings
from aifap.testing.results import START, write_session
from aifap.watch.snapshots import SnapshotStore

pytestmark = pytest.mark.slow


@pytest.fixture
def discord():
    received: list[tuple[str, bytes]] = []
    hook = FastAPI()

    @hook.post("/api/webhooks/{channel}/{token}")
    async def webhook(channel: str, token: str, request: Request) -> Response:
        received.append((request.headers["content-type"], await request.body()))
        return Response(status_code=204)

    server = ThreadedServer(hook)
    server.start()
    yield f"http://127.0.0.1:{server.port}/api/webhooks/1/tok-abcdefghijklmnop", received
    server.stop()


def test_schedule_once_renders_and_announces_with_the_file(
    paper_session, tmp_path, discord, monkeypatch
):
    url, received = discord
    monkeypatch.setenv("AIFAP_DISCORD_WEBHOOK_URL", url)
    get_settings.cache_clear()
    config = yaml.safe_load(paper_session.read_text())
    config["alert_channel"] = "discord"
    session_file = tmp_path / "session.yaml"
    session_file.write_text(yaml.safe_dump(config))
    answer = CliRunner().invoke(
        app,
        [
            "report",
            "schedule",
            str(session_file),
            "--out",
            str(tmp_path / "out"),
            "--every",
            "1d",
            "--once",
        ],
    )
    assert answer.exit_code == 0, answer.output
    path = Path(answer.stdout.strip().splitlines()[-1])
    assert path.exists()
    ((content_type, body),) = received
    assert content_type.startswith("multipart/form-data")
    assert b'name="payload_json"' in body
    assert f'name="files[0]"; filename="{path.name}"'.encode() in body
    assert b"Performance Report: paper-report" in body
    assert b"ROE:" in body
    assert b"Sharpe: n/a" in body
    assert path.read_bytes()[:200] in body  # the HTML travelled whole


def test_schedule_rejects_a_bad_cron_and_two_triggers(tmp_path):
    bad = CliRunner().invoke(
        app, ["report", "schedule", "s", "--out", str(tmp_path), "--cron", "61 * * * *"]
    )
    assert bad.exit_code == 2
    both = CliRunner().invoke(
        app,
        ["report", "schedule", "s", "--out", str(tmp_path), "--cron", "0 8 * * *", "--every", "1d"],
    )
    assert both.exit_code == 2


@pytest.fixture
def tearsheets(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    write_session(url, "sess", days=3, interval=timedelta(hours=1), rebalance_every=6)
    cache = TearSheetCache()
    service = FastAPI()
    engine = make_engine(url)
    service.include_router(tearsheet_router(engine, url, cache))
    server = ThreadedServer(service)
    server.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120) as client:
        yield client, cache, url
    server.stop()


def test_perf_is_finwatchers_last_snapshot(tearsheets):
    client, _, url = tearsheets
    perf = client.get("/sessions/sess/perf").json()
    last = SnapshotStore(make_engine(url), "sess").latest()
    assert perf["final_equity"] == float(last.pv)
    assert perf["roe"] == last.roe
    assert perf["sharpe"] == last.sharpe
    assert perf["max_drawdown"] == last.max_drawdown
    assert perf["snapshots"] == 72
    assert perf["days"] == 3
    assert client.get("/sessions/nope/perf").status_code == 404
    assert client.get("/sessions/nope/tearsheet.html").json() == {
        "detail": "session 'nope' not found"
    }


def test_tearsheet_is_cached_per_session_and_snapshot_count(tearsheets, monkeypatch):
    client, cache, url = tearsheets
    first = client.get("/sessions/sess/tearsheet.html")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    assert len(re.findall(r"<img[^>]*src=\"data:image/png;base64,", first.text)) >= 5
    assert client.get("/sessions/sess/tearsheet.html").text == first.text
    assert cache.renders == 1

    def quick(url, session_id, out, **_):  # the next render only needs to be counted
        page = Path(out) / "page.html"
        page.write_text("<html>again</html>")
        return page

    monkeypatch.setattr(tearsheet_service, "session_report", quick)
    write_more = SnapshotStore(make_engine(url), "sess")
    snapshot = write_more.latest()
    from dataclasses import replace

    write_more.save(replace(snapshot, timestamp=START + timedelta(days=4)), START)
    assert client.get("/sessions/sess/tearsheet.html").text == "<html>again</html>"
    assert cache.renders == 2


def test_tearsheet_service_is_503_when_the_database_is_down():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedServer(create_app(f"postgresql://a:b@127.0.0.1:{port}/r"))
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert client.get("/ready").status_code == 503
            assert client.get("/sessions/x/perf").status_code == 503
            assert client.get("/sessions/x/tearsheet.html").status_code == 503
    finally:
        server.stop()
