"""A throwaway Dask cluster of real processes: one ``dask scheduler``, N ``dask worker``.

For tests and benchmarks of :mod:`aifap.research` against a cluster that is not a
``LocalCluster``: the processes are started on free ports, waited for, and ended by
their own pids (terminate, then kill after a grace period).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from aifap.procs import process_alive

START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(args: list[str]) -> psutil.Popen:
    return psutil.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(procs: list[psutil.Popen]) -> None:
    """End the workers, then the scheduler (a worker whose scheduler is gone lingers)."""
    for group in (procs[1:], procs[:1]):
        for proc in group:
            if process_alive(proc):
                proc.terminate()
        for proc in group:
            try:
                proc.wait(timeout=10)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def dask_cluster(workers: int = 2, *, threads: int = 1) -> Iterator[str]:
    """Run a scheduler and ``workers`` worker processes; yield the scheduler's address.

    Raises:
        RuntimeError: the workers did not all connect within :data:`START_TIMEOUT`.
    """
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = [
        _spawn(
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
             address.rsplit(":", 1)[1], "--no-dashboard"]
        )
    ]  # fmt: skip
    try:
        for _ in range(workers):
            procs.append(
                _spawn(
                    ["distributed.cli.dask_worker", address, "--nthreads", str(threads),
                     "--nworkers", "1", "--no-dashboard", "--no-nanny", "--host", "127.0.0.1"]
                )
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        with Client(address, timeout=START_TIMEOUT) as client:
            while len(client.scheduler_info(n_workers=-1)["workers"]) < workers:
                if time.monotonic() > deadline or not all(process_alive(p) for p in procs):
                    raise RuntimeError(f"{workers} Dask workers must connect to {address}")
                time.sleep(0.2)
        yield address
    finally:
        _stop(procs)
