"""Start a throwaway PostgreSQL server from the installed binaries.

The server refuses to run as root, so as root the data directory is handed to the
``postgres`` user and the binaries run through ``runuser``. Settings favour speed
(fsync off): this is for tests and benchmarks, never for data that matters.

Each data directory records the process that started it (``aifap-owner.pid``): a test
run killed with SIGKILL cannot stop its server, so the next start stops and deletes the
servers whose owner is gone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OWNER_FILE = "aifap-owner.pid"
PREFIX = "aifap-pg-"
FAST_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB"
)


def find_bindir() -> Path | None:
    """Return the newest installed PostgreSQL bin directory, or None."""
    env = os.environ.get("AIFAP_PG_BINDIR")
    if env:
        return Path(env)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A running throwaway server; ``url`` points at its ``postgres`` database."""

    bindir: Path
    datadir: Path
    port: int
    as_user: str | None

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the default database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """Return the SQLAlchemy URL of database ``name`` on this server."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database and return its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, disconnecting its clients."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete its data directory."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.datadir), "stop", "-m", "immediate", "-w")
        shutil.rmtree(self.datadir, ignore_errors=True)


def _unprivileged_user() -> str:
    """Return the account to run the server as when we are root (it refuses root)."""
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root needs a 'postgres' or 'nobody' account to start PostgreSQL")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(bindir: Path, root: Path | None = None) -> list[Path]:
    """Stop and delete throwaway servers whose owner process is gone; return their dirs."""
    as_user = _unprivileged_user() if os.geteuid() == 0 else None
    reaped = []
    for datadir in sorted(Path(root or tempfile.gettempdir()).glob(f"{PREFIX}*")):
        try:
            owner = int((datadir / OWNER_FILE).read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if _alive(owner):
            continue
        PostgresServer(bindir, datadir, 0, as_user).stop()
        reaped.append(datadir)
    return reaped


def start_postgres(bindir: Path | None = None) -> PostgresServer:
    """Initialise and start a server on a free loopback port; raise RuntimeError if impossible."""
    bindir = bindir or find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        raise RuntimeError("PostgreSQL binaries not found (set AIFAP_PG_BINDIR)")
    reap_orphans(bindir)
    as_user = _unprivileged_user() if os.geteuid() == 0 else None
    datadir = Path(tempfile.mkdtemp(prefix=PREFIX))
    if as_user:
        shutil.chown(datadir, user=as_user, group=as_user)
    server = PostgresServer(bindir, datadir, _free_port(), as_user)
    try:
        server._run(
            "initdb",
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        server._run(
            "pg_ctl",
            "-D",
            str(datadir),
            "-l",
            str(datadir / "server.log"),
            "-w",
            "-o",
            f"-p {server.port} -k {datadir} -c listen_addresses=127.0.0.1 {FAST_SETTINGS}",
            "start",
        )
        (datadir / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(datadir, ignore_errors=True)
        raise RuntimeError(
            f"could not start PostgreSQL: {exc} {detail.decode(errors='replace')}"
        ) from exc
    return server


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """Run a throwaway server for the duration of a ``with`` block."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
