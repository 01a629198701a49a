"""The Bitget emulator in its own process, as a real exchange would be, driven by pipe.

Running it in the benchmark's process would make the emulator's request handling and
the client's threads share one interpreter lock, so the figures would measure the
emulator's CPU, not the client. ``build`` is a module-level function (it crosses the
``spawn`` boundary) returning the emulator, not yet started.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

COMMANDS: dict[str, Callable[..., Any]] = {
    "reset_log": lambda emu: emu.reset_log(),
    "spans": lambda emu, path: [(r.start, r.end or r.start) for r in emu.request_log.records(path)],
    "max_concurrency": lambda emu, path: emu.request_log.max_concurrency(path),
    "log": lambda emu: [(r.path, r.start, r.end or r.start) for r in emu.request_log.records()],
}


class RemoteEmulator:
    """An emulator served by a child process; ``ask`` runs one of ``COMMANDS`` there."""

    def __init__(self, build: Callable[[], Any], latency_s: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, build, latency_s), daemon=True
        )
        self._process.start()
        self.url: str = self._conn.recv()

    def ask(self, *command: object) -> Any:
        """Send one command to the emulator process and return its answer."""
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        """Stop the emulator process."""
        self.ask("stop")
        self._process.join(10)


def _serve(conn: Any, build: Callable[[], Any], latency_s: float) -> None:
    emu = build().start()
    emu.faults.latency(latency_s)
    conn.send(emu.url)
    while True:
        command, *args = conn.recv()
        if command not in COMMANDS:
            emu.stop()
            conn.send(None)
            return
        conn.send(COMMANDS[command](emu, *args))
