"""A local HTTP server playing Discord's webhook endpoint (uvicorn in a thread)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@dataclass
class Received:
    channel: str
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival


@dataclass
class FakeDiscord:
    """Scripted responses per channel; every request is recorded on arrival."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[tuple[str, float]]] = field(default_factory=lambda: defaultdict(deque))
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, channel: str, token: str = "tok-abcdefghijklmnopqrstuvwxyz") -> str:
        return f"{self.base_url}/api/webhooks/{channel}/{token}"

    def script(self, channel: str, *actions: tuple[str, float]) -> None:
        """Queue responses: ('429', retry_after), ('500', 0), ('slow', s), ('bucket', reset),
        ('stall', max_seconds), ('400', 0); then 204 for ever."""
        self.scripts[channel].extend(actions)

    def delivered(self, channel: str) -> list[dict[str, Any]]:
        """Return the bodies answered with success, in arrival order."""
        with self.lock:
            return [r.body for r in self.received if r.channel == channel and r.body.get("_ok")]

    def arrivals(self, channel: str) -> list[float]:
        with self.lock:
            return [r.at for r in self.received if r.channel == channel]


def build_app(fake: FakeDiscord) -> FastAPI:
    app = FastAPI()

    @app.post("/api/webhooks/{channel}/{token}")
    async def webhook(channel: str, token: str, request: Request) -> Response:
        body = await request.json()
        record = Received(channel, body, time.monotonic())
        with fake.lock:
            fake.received.append(record)
            action, value = fake.scripts[channel].popleft() if fake.scripts[channel] else ("ok", 0)
        if action == "429":
            return JSONResponse(
                {"message": "You are being rate limited.", "retry_after": value, "global": False},
                status_code=429,
            )
        if action == "500":
            return Response(status_code=500)
        if action == "400":
            return JSONResponse({"message": "Invalid Form Body"}, status_code=400)
        if action == "slow":
            await asyncio.sleep(value)
        if action == "stall":
            await asyncio.to_thread(fake.release.wait, value)
        headers = {}
        if action == "bucket":
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(value)}
        body["_ok"] = True
        return Response(status_code=204, headers=headers)

    return app


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord()
    config = uvicorn.Config(
        build_app(fake), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("fake Discord server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}"
    yield fake
    fake.release.set()
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def dead_url() -> str:
    """A URL on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/webhooks/dead/tok-abcdefghijklmnopqrstuvwxyz"
