"""Run an ASGI app with uvicorn in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class ThreadedServer:
    """A uvicorn server on its own thread; ``port=0`` picks a free port.

    Args:
        app: the ASGI app.
        host: the interface to bind.
        port: the TCP port (0 = any free port; read ``port`` after ``start``).
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and wait until the socket is bound."""
        self._thread = threading.Thread(
            target=self._server.run, name="bitget-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _close_in_child(ref))

    def socket_fds(self) -> list[int]:
        """Return the file descriptors of the listening and the accepted sockets."""
        fds = [s.fileno() for server in self._server.servers for s in server.sockets]
        for protocol in list(self._server.server_state.connections):
            transport = getattr(protocol, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None and sock.fileno() >= 0:
                fds.append(sock.fileno())
        return fds

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
            self._thread = None


def _close_in_child(ref: weakref.ref[ThreadedServer]) -> None:
    """In a process forked from the server's, close the server's sockets.

    The serving thread does not exist in the child, but the child's copies of the
    sockets would keep every connection open after the server closes its own: a
    client would then send its next request on a connection nobody reads and wait
    for its timeout (the forked session processes of the emulator tests did).
    """
    server = ref()
    if server is None or server._thread is None:
        return
    for fd in server.socket_fds():
        try:
            os.close(fd)
        except OSError:
            continue


def serve_forever(app: Any, host: str, port: int) -> None:
    """Serve ``app`` in the foreground until interrupted (the CLI)."""
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off", ws="none")
