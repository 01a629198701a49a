"""The local launcher: the live notebook under the papermill runner, as a detached process.

The runner (``python -m aifap.deploy.papermill_run CONFIG``) starts in its own
session, so it outlives the notebook or shell that launched it; its messages go to
``<workdir>/runner.log``, the session's to ``<workdir>/session.log``. The handle reads
the runner's ``runner.json`` and the session's ``heartbeat.json`` to tell the state.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from aifap.deploy.base import SESSION_STATES, SessionStatus
from aifap.deploy.papermill_run import OUTPUT_NAME, RUNNER_NAME, read_runner_state
from aifap.live.heartbeat import heartbeat_age, read_heartbeat
from aifap.live.logs import LOG_NAME
from aifap.procs import pid_alive
from aifap.settings import SIGNING_KEY_VARIABLES

RUNNER_LOG = "runner.log"


def _tail(path: Path, n: int) -> list[str]:
    if n <= 0 or not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as handle:
        return handle.read().splitlines()[-n:]


class LocalSessionHandle:
    """A session run by a local runner process.

    Args:
        session_id: the session.
        workdir: its working directory.
        runner_pid: the runner's pid.
        process: the runner's ``Popen`` when this process launched it (reaps it).
        launched_at: wall time of the launch (older heartbeats are ignored).
    """

    def __init__(
        self,
        session_id: str,
        workdir: Path,
        runner_pid: int,
        process: subprocess.Popen[bytes] | None = None,
        launched_at: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.workdir = Path(workdir)
        self.runner_pid = runner_pid
        self._process = process
        self._launched_at = time.time() if launched_at is None else launched_at

    @classmethod
    def attach(cls, session_id: str, workdir: Path) -> LocalSessionHandle:
        """Return a handle on a session launched earlier (from its ``runner.json``)."""
        state = read_runner_state(Path(workdir)) or {}
        if not state.get("pid"):
            raise FileNotFoundError(
                f"{Path(workdir) / RUNNER_NAME} must exist with the runner's pid, it does not"
            )
        return cls(
            session_id,
            Path(workdir),
            int(state["pid"]),
            launched_at=state.get("started_wall_ms", 0) / 1000,
        )

    @property
    def dashboard_url(self) -> str | None:
        """Return the URL of the session's running dashboard, or None when none runs."""
        from aifap.deploy.dashboard import dashboard_url

        return dashboard_url(self.workdir)

    @property
    def output_notebook(self) -> Path:
        """Return the executed live notebook's path."""
        return self.workdir / OUTPUT_NAME

    def _runner_alive(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return pid_alive(self.runner_pid)

    def status(self) -> SessionStatus:
        """Return the session's current state (see :class:`SessionStatus`)."""
        runner = read_runner_state(self.workdir) or {}
        if runner.get("started_wall_ms", 0) / 1000 < self._launched_at - 1.0:
            runner = {}  # left by an earlier run
        beat = read_heartbeat(self.workdir) or {}
        if beat.get("wall_ms", 0) / 1000 < self._launched_at - 1.0:
            beat = {}
        pids: dict[str, int | None] = {
            "runner": self.runner_pid,
            "papermill": runner.get("papermill_pid"),
            "kernel": runner.get("kernel_pid"),
            **(beat.get("pids") or {}),
        }
        alive = self._runner_alive()
        state, code, reason = "starting", None, None
        if runner.get("status") in ("stopped", "failed"):
            state, code, reason = runner["status"], runner.get("exit_code"), runner.get("reason")
        elif not alive:
            code = self._process.returncode if self._process is not None else None
            state, reason = "dead", f"the runner process exited (code {code}) without a report"
        elif runner.get("status") == "stopping" or beat.get("status") in ("stopped", "failed"):
            state = "stopping"
        elif beat.get("status") == "running":
            state = "running"
        return SessionStatus(
            session_id=self.session_id,
            state=state,
            cycle=beat.get("cycle"),
            sim_time=beat.get("sim_time"),
            exit_code=code,
            reason=reason,
            pids=pids,
            heartbeat_age=round(heartbeat_age(beat), 1) if beat else None,
        )

    def logs(self, n: int = 50) -> str:
        """Return the last ``n`` lines of the session log (the runner's log if there is none)."""
        lines = _tail(self.workdir / LOG_NAME, n)
        if not lines:
            lines = _tail(self.workdir / RUNNER_LOG, n)
        return "\n".join(lines)

    def wait(
        self,
        timeout: float | None = None,
        *,
        cycles: int | None = None,
        state: str | None = None,
        poll: float = 0.2,
    ) -> SessionStatus:
        """Wait until the session ends, has done ``cycles`` cycles or is in ``state``.

        With neither ``cycles`` nor ``state``, wait for the end. The session's end
        always stops the wait (check the returned state).

        Raises:
            TimeoutError: ``timeout`` seconds passed first; the message names the
                session, what was awaited and where it stood.
        """
        if state is not None and state not in SESSION_STATES:
            raise ValueError(f"state must be one of {', '.join(SESSION_STATES)}, was {state!r}")
        if cycles is not None and cycles < 0:
            raise ValueError(f"cycles must be >= 0, was {cycles}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if not status.running or not self._runner_alive():
                return status
            if state is not None and status.state == state:
                return status
            if cycles is not None and (status.cycle or 0) >= cycles:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                awaited = f"{cycles} cycles" if cycles is not None else state or "the session's end"
                raise TimeoutError(
                    f"session {self.session_id}: waited {timeout:g} s for {awaited}, it is {status}"
                )
            time.sleep(poll)

    def _wait_exit(self, timeout: float) -> SessionStatus:
        deadline = time.monotonic() + timeout
        while self._runner_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.status()

    def stop(self, timeout: float = 60.0) -> SessionStatus:
        """Stop the session: SIGTERM to the runner, which stops the session cleanly.

        After ``timeout`` seconds the runner and the kernel's process group are killed.
        """
        if not self._runner_alive():
            return self.status()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.runner_pid, signal.SIGTERM)
        final = self._wait_exit(timeout)
        if self._runner_alive():
            kernel = (read_runner_state(self.workdir) or {}).get("kernel_pid")
            for pgid in (kernel, self.runner_pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if pgid and os.getpgid(pgid) == pgid and pgid != os.getpgrp():
                        os.killpg(pgid, signal.SIGKILL)
            final = self._wait_exit(10.0)
        return final

    def __repr__(self) -> str:
        return f"LocalSessionHandle({self.status()})"


class LocalLauncher:
    """Start sessions as detached local processes (the papermill runner).

    Args:
        heartbeat_timeout: wall seconds a running session's heartbeat may be old.
        python: the interpreter that runs the runner (and, through papermill, the kernel).
    """

    def __init__(self, *, heartbeat_timeout: float = 30.0, python: str = sys.executable) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.python = python

    def launch(
        self,
        config_path: Path,
        *,
        workdir: Path,
        session_id: str,
        env: dict[str, str] | None = None,
    ) -> LocalSessionHandle:
        """Start the runner for ``config_path`` in the background; return its handle."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / RUNNER_NAME).unlink(missing_ok=True)
        command = [
            self.python,
            "-m",
            "aifap.deploy.papermill_run",
            str(Path(config_path)),
            "--heartbeat-timeout",
            str(self.heartbeat_timeout),
            "--quiet",
        ]
        launched = time.time()
        with (workdir / RUNNER_LOG).open("ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**_inherited(), **(env or {})},
            )
        return LocalSessionHandle(session_id, workdir, process.pid, process, launched)


def _inherited() -> dict[str, str]:
    """Return this process's environment for a session, without the token-signing key."""
    return {k: v for k, v in os.environ.items() if k not in SIGNING_KEY_VARIABLES}
