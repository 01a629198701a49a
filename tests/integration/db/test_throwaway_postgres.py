"""The suite's throwaway PostgreSQL: a server whose test run was killed is reaped next time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.ci import unavailable

from aifap.testing.postgres import OWNER_FILE, PostgresServer, find_bindir, reap_orphans

ORPHAN = """
import os, sys
from aifap.testing.postgres import start_postgres
server = start_postgres()
print(server.datadir, server.port, flush=True)
os._exit(0)  # as if SIGKILLed: no stop, no cleanup
"""


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.postgres
def test_a_server_left_by_a_killed_run_is_stopped_and_deleted_by_the_next():
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        unavailable("PostgreSQL binaries not found (set AIFAP_PG_BINDIR)")
    out = subprocess.run(
        [sys.executable, "-c", ORPHAN], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    datadir, port = Path(out[0]), int(out[1])
    try:
        assert _accepts(port)  # its owner is gone, the server is not
        assert (datadir / OWNER_FILE).is_file()
        assert datadir in reap_orphans(bindir)
        assert not datadir.exists()
        assert not _accepts(port)
    finally:
        if datadir.exists():
            user = datadir.owner() if os.geteuid() == 0 else None
            PostgresServer(bindir, datadir, port, user).stop()


def test_live_owners_and_foreign_directories_are_left_alone(tmp_path):
    bindir = find_bindir() or Path("/nonexistent")
    mine = tmp_path / "aifap-pg-mine"
    mine.mkdir()
    (mine / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
    foreign = tmp_path / "aifap-pg-foreign"  # no owner file: another tool's, or starting
    foreign.mkdir()
    assert reap_orphans(bindir, tmp_path) == []
    assert mine.is_dir()
    assert foreign.is_dir()
