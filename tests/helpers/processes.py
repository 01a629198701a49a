"""Waiting: for a server process a test started (``aifap serve ...``), for a condition."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import httpx


def wait_until_up(
    process: subprocess.Popen[bytes], url: str, output: Callable[[], str], timeout: float = 120
) -> None:
    """Wait until ``url`` answers 200; fail with the server's ``output()`` if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, output()
        assert time.monotonic() < deadline, f"{url} never answered 200"
        time.sleep(0.5)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (its last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
