"""Launch the Voila dashboards as local processes and record them beside the session.

``aifap dashboard SESSION`` and ``aifap.promote(..., dashboard=True)`` start
Voila (:mod:`aifap.deploy.voila_app`, which also serves the session's parity report)
on ``<package templates>/dashboards/session.ipynb`` (``fleet.ipynb`` for every session).
Voila takes no papermill parameters, so the session id, results database and working
directory travel in ``AIFAP_DASHBOARD_*`` environment variables, which the
template's ``parameters`` cell reads as its defaults. A running dashboard is recorded
in ``<workdir>/dashboard.json`` (pid, process start time, url);
:func:`dashboard_url` returns its URL while that very process lives, else None.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from aifap.core.errors import AifapError
from aifap.procs import process_alive

log = logging.getLogger(__name__)

ENV_SESSION = "AIFAP_DASHBOARD_SESSION"
ENV_DB = "AIFAP_DASHBOARD_DB"
ENV_WORKDIR = "AIFAP_DASHBOARD_WORKDIR"
ENV_REFRESH = "AIFAP_DASHBOARD_REFRESH"
# where the dashboard's server serves the session's parity report (aifap.deploy.voila_app),
# relative to the dashboard page: a browser follows no file:// link from an http:// page
PARITY_ROUTE = "aifap/parity/{session}.html"
RECORD_NAME = "dashboard.json"
LOG_NAME = "dashboard.log"
# the package's templates (aifap/templates links to the project's templates/, wheels copy it)
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "dashboards"
SESSION_TEMPLATE = TEMPLATES / "session.ipynb"
FLEET_TEMPLATE = TEMPLATES / "fleet.ipynb"


# the only JupyterLab extensions the page loads: the widget managers. Others installed
# in the environment (plotly's, anywidget's, pygments' styles) would each be fetched,
# parsed and started on every page load for nothing (benches/README.md).
FRONTEND_EXTENSIONS = ("@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8")

# the Popen of every Voila this process started, so stopping it reaps it (no zombie, no
# "subprocess is still running" warning when a handle is dropped while Voila serves)
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class DashboardError(AifapError):
    """A dashboard could not be started."""


@dataclass(frozen=True)
class DashboardTarget:
    """What a dashboard shows: one session (``session_id``) or every session (None)."""

    session_id: str | None
    results_url: str
    workdir: Path | None = None

    @property
    def notebook(self) -> Path:
        """Return the template this target is served from."""
        return FLEET_TEMPLATE if self.session_id is None else SESSION_TEMPLATE

    @property
    def record_dir(self) -> Path:
        """Return where the running dashboard is recorded (the session's workdir)."""
        if self.workdir is not None:
            return self.workdir
        from aifap.settings import get_settings

        name = "fleet" if self.session_id is None else self.session_id
        return get_settings().data_dir / "dashboards" / name

    def environment(self, refresh_seconds: float) -> dict[str, str]:
        """Return the ``AIFAP_DASHBOARD_*`` variables the template's parameters cell reads."""
        env = {ENV_DB: self.results_url, ENV_REFRESH: f"{refresh_seconds:g}"}
        if self.session_id is not None:
            env[ENV_SESSION] = self.session_id
        if self.workdir is not None:
            env[ENV_WORKDIR] = str(self.workdir)
        return env


def parity_href(session_id: str) -> str | None:
    """Return the link to ``session_id``'s parity report from its dashboard page, or None.

    The dashboard's server (started by :func:`start_dashboard`, which names the session
    in ``AIFAP_DASHBOARD_SESSION`` for it and its kernel) serves the report at
    :data:`PARITY_ROUTE`, relative to the page; elsewhere (a notebook in JupyterLab) no
    server serves it, so there is no link.
    """
    if os.environ.get(ENV_SESSION) != session_id:
        return None
    return PARITY_ROUTE.format(session=quote(session_id, safe=""))


def _recorded_workdir(results_url: str, session_id: str) -> Path | None:
    from sqlalchemy import inspect, select

    from aifap.db import make_engine
    from aifap.live.models import LiveSession

    engine = make_engine(results_url)
    if not inspect(engine).has_table(LiveSession.__tablename__):
        return None
    with engine.connect() as db:
        workdir = db.scalar(select(LiveSession.workdir).where(LiveSession.session_id == session_id))
    return Path(workdir) if workdir else None


def resolve_target(
    session: str | Path | None, db: str | None = None, *, all_sessions: bool = False
) -> DashboardTarget:
    """Return what to show for ``aifap dashboard SESSION [--db URL] [--all]``.

    ``session`` is a session's working directory, its ``session.yaml`` (what ``aifap
    demo`` and ``aifap.promote`` write) or a session id (with ``db``, else the settings'
    results database). ``all_sessions`` (or no session) shows every session of ``db``.

    Raises:
        ConfigError: ``session`` is neither a session directory, a config nor a session id.
    """
    from aifap.db import database_url
    from aifap.live.config import resolve_session

    if all_sessions or session is None:
        return DashboardTarget(None, db or database_url("results"))
    ref = resolve_session(str(session), db)
    if ref.config is not None:
        return DashboardTarget(ref.session_id, ref.url, ref.config.working_directory)
    return DashboardTarget(ref.session_id, ref.url, _recorded_workdir(ref.url, ref.session_id))


def free_port(ip: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``ip`` right now."""
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


def _listening(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((ip, port)) == 0


@dataclass
class DashboardProcess:
    """A running Voila dashboard."""

    pid: int
    url: str
    port: int
    notebook: str
    session_id: str | None
    created: float  # the process's start time (psutil), against pid reuse
    log: str

    def alive(self) -> bool:
        """Tell whether this very process still runs."""
        return _alive(self.pid, self.created)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Voila (SIGTERM, then SIGKILL to its process group after ``timeout``)."""
        _stop(self.pid, self.created, timeout)

    def as_dict(self) -> dict[str, Any]:
        """Return the record written to ``dashboard.json``."""
        return asdict(self)


def _alive(pid: int, created: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - created) < 1.0 and process_alive(proc)
    except psutil.Error:
        return False


def _stop(pid: int, created: float, timeout: float) -> None:
    if _alive(pid, created):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, created):
            time.sleep(0.1)
        if _alive(pid, created):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # voila leads its own session: kernels go too
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout)


def start_dashboard(
    target: DashboardTarget,
    *,
    port: int | None = None,
    ip: str = "127.0.0.1",
    refresh_seconds: float = 5.0,
    python: str = sys.executable,
    timeout: float = 60.0,
    preheat: bool = True,
) -> DashboardProcess:
    """Start Voila on ``target``'s dashboard in the background and record it.

    Voila runs in its own process session (it outlives the caller), logs to
    ``dashboard.log`` beside the record, and preheats a kernel so the first page
    renders without waiting for the notebook to run.

    Raises:
        DashboardError: Voila exited or did not listen within ``timeout`` seconds.
    """
    missing = [m for m in ("voila", "ipywidgets") if importlib.util.find_spec(m) is None]
    if missing and python == sys.executable:
        raise DashboardError(
            f"the dashboards need {', '.join(missing)}: pip install 'aifap[notebook]'"
        )
    folder = target.record_dir
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port(ip)
    command = [
        python, "-m", "aifap.deploy.voila_app", str(target.notebook), "--no-browser",
        f"--port={port}", f"--Voila.ip={ip}", "--theme=dark", "--show_tracebacks=True",
        f"--preheat_kernel={preheat}",
        *(f"--VoilaConfiguration.extension_allowlist={name}" for name in FRONTEND_EXTENSIONS),
    ]  # fmt: skip
    log_path = folder / LOG_NAME
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=folder,
            env={**os.environ, **target.environment(refresh_seconds)},
        )
    _CHILDREN[process.pid] = process
    deadline = time.monotonic() + timeout
    while not _listening(ip, port):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
            _CHILDREN.pop(process.pid, None)
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise DashboardError(
                f"voila must listen on {ip}:{port} within {timeout:g} s, it "
                f"{'exited' if process.returncode is not None else 'did not'}:\n{tail}"
            )
        time.sleep(0.1)
    running = DashboardProcess(
        pid=process.pid,
        url=f"http://{ip}:{port}/",
        port=port,
        notebook=str(target.notebook),
        session_id=target.session_id,
        created=psutil.Process(process.pid).create_time(),
        log=str(log_path),
    )
    (folder / RECORD_NAME).write_text(json.dumps(running.as_dict(), indent=1), encoding="utf-8")
    log.info("dashboard of %s at %s (pid %d)", target.session_id or "every session",
             running.url, running.pid)  # fmt: skip
    return running


def running_dashboard(workdir: str | Path) -> DashboardProcess | None:
    """Return the dashboard recorded in ``workdir`` while its process lives, else None."""
    try:
        data = json.loads((Path(workdir) / RECORD_NAME).read_text(encoding="utf-8"))
        running = DashboardProcess(**data)
    except (OSError, ValueError, TypeError):
        return None
    return running if running.alive() else None


def dashboard_url(workdir: str | Path) -> str | None:
    """Return the URL of the dashboard running for the session in ``workdir``, or None."""
    running = running_dashboard(workdir)
    return None if running is None else running.url


def stop_dashboard(workdir: str | Path, timeout: float = 10.0) -> bool:
    """Stop the dashboard recorded in ``workdir``; return whether one was running."""
    running = running_dashboard(workdir)
    (Path(workdir) / RECORD_NAME).unlink(missing_ok=True)
    if running is None:
        return False
    running.stop(timeout)
    return True
