"""The platform API served over HTTP for a test, with a supervisor's client logged in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from aifap.api.users import create_user
from aifap.exchange.emulator.server import ThreadedServer


@contextlib.contextmanager
def served_api(app: Any, url: str, password: str) -> Iterator[tuple[httpx.Client, list[int]]]:
    """Serve ``app``; yield a client logged in as supervisor ``root`` and a list of traders.

    The test appends the traders it starts to the list; whatever it left running is
    stopped on the way out.
    """
    create_user(url, "root", password, "supervisor")
    server = ThreadedServer(app)
    server.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=120)
    token = client.post("/auth/token", data={"username": "root", "password": password})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    started: list[int] = []
    try:
        yield client, started
    finally:
        for trader in started:
            client.post(f"/traders/{trader}/stop")
        client.close()
        server.stop()
