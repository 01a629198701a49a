"""A process forked from one that serves the emulator holds none of the server's sockets.

The live sessions fork their three processes from the parent; when that parent also
serves the emulator (the end-to-end tests), the children's copies of the accepted
sockets kept connections open after the server closed them, and clients then waited
out their timeout on a connection nobody read.
"""

from __future__ import annotations

import os

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aifap.exchange.emulator.server import ThreadedServer


def _app() -> Starlette:
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])


def _open_in_child(fds: list[int]) -> list[int]:
    """Fork; the child reports which of ``fds`` it still has open."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any cleanup
        still = []
        for fd in fds:
            try:
                os.fstat(fd)
            except OSError:
                continue
            still.append(fd)
        os.write(write, ",".join(map(str, still)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    return [int(fd) for fd in answer.split(",") if fd]


def test_a_forked_child_closes_the_listening_and_the_accepted_sockets() -> None:
    server = ThreadedServer(_app())
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert client.get("/").text == "ok"  # one accepted, kept-alive connection
            fds = server.socket_fds()
            assert len(fds) >= 2, fds  # the listener and the client's connection
            assert _open_in_child(fds) == []
            # the parent still serves, on the same connection
            assert client.get("/").text == "ok"
    finally:
        server.stop()


def test_a_child_forked_after_the_server_stopped_is_left_alone() -> None:
    server = ThreadedServer(_app())
    server.start()
    server.stop()
    read, write = os.pipe()
    try:
        assert _open_in_child([read, write]) == [read, write]
    finally:
        os.close(read)
        os.close(write)

