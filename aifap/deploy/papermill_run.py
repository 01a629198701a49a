"""Run the live-session template under papermill and watch it from outside the kernel.

Papermill alone is not a safe supervisor for a long session: it can hang forever when
the kernel is OOM-killed (papermill #125), and it exits 0 while IOPub trims heavy
output. So :func:`run_live_notebook` runs papermill in a child process and, from this
process, watches:

- the **kernel pid** (papermill's ``ipykernel`` child; the session's parent runs in
  it): a dead or zombie kernel ends the run at once;
- the session's **heartbeat** (``<workdir>/heartbeat.json``, written about once a
  second by the session's parent): one older than ``heartbeat_timeout`` seconds while
  the session runs, or none within ``start_timeout``, ends the run;
- **papermill's exit code**, and the session's final heartbeat (it must say
  ``stopped`` with exit code 0 for the run to count as a success).

A failed run SIGKILLs the kernel's process group (the kernel and the session's three
processes), ends papermill and exits 1. SIGTERM or SIGINT to the runner stops the
session cleanly (SIGTERM to the session's parent), lets the summary cell run and
exits with the session's code. The session log is echoed to the runner's stdout.

The runner's own state goes to ``<workdir>/runner.json`` for launchers and handles.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from aifap.deploy.procs import LogTail, find_kernel, group_of, kill_tree, process_of
from aifap.live.config import load_config
from aifap.live.failures import config_failure, session_failure
from aifap.live.handoff import read_state, write_atomic
from aifap.live.heartbeat import heartbeat_age, read_heartbeat
from aifap.live.logs import LOG_NAME
from aifap.procs import process_alive

log = logging.getLogger(__name__)

# the package's templates (aifap/templates links to the project's templates/, wheels copy it)
TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "live_session.ipynb"
RUNNER_NAME = "runner.json"
OUTPUT_NAME = "session.ipynb"
PAPERMILL_LOG = "papermill.log"
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class RunOutcome:
    """How a papermill run of a live session ended."""

    exit_code: int
    reason: str
    output: Path
    kernel_pid: int | None = None
    papermill_exit: int | None = None
    heartbeat: dict[str, Any] = field(default_factory=dict)
    session_id: str = "?"


@dataclass
class _State:
    """What the runner publishes in ``runner.json``."""

    pid: int
    config: str
    output: str
    status: str = "starting"  # starting, running, stopping, stopped, failed
    papermill_pid: int | None = None
    kernel_pid: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    started_wall_ms: int = field(default_factory=lambda: int(time.time() * 1000))


class _Stop:
    def __init__(self) -> None:
        self.requested: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.requested = signum


def run_live_notebook(
    config_path: str | Path,
    output_path: str | Path | None = None,
    *,
    template: str | Path = TEMPLATE,
    heartbeat_timeout: float = 30.0,
    start_timeout: float = 300.0,
    finish_timeout: float = 120.0,
    stop_grace: float = 60.0,
    duration: str | None = None,
    speed: float | None = None,
    kernel_name: str = "python3",
    echo: TextIO | None = sys.stdout,
    poll: float = 0.2,
) -> RunOutcome:
    """Run ``template`` for the session in ``config_path`` and watch it until it ends.

    Args:
        config_path: the session config (YAML or JSON); validated before papermill starts.
        output_path: the executed notebook (default ``<workdir>/session.ipynb``).
        template: the papermill template to run.
        heartbeat_timeout: wall seconds a running session's heartbeat may be old.
        start_timeout: wall seconds from papermill's start to the session's first heartbeat.
        finish_timeout: wall seconds papermill gets to finish after the session ended.
        stop_grace: wall seconds a stop request gets before everything is killed.
        duration: override the config's ``trading_duration``.
        speed: override a replay clock's speed.
        kernel_name: the Jupyter kernel (always passed: notebook metadata may name another).
        echo: where the session log is copied as it grows (None: nowhere).
        poll: wall seconds between checks.

    Returns:
        The outcome; ``exit_code`` is 0 only if papermill and the session both ended cleanly.

    Raises:
        ConfigError: the config is invalid (nothing was started).
    """
    config = load_config(config_path)
    workdir = config.working_directory
    workdir.mkdir(parents=True, exist_ok=True)
    output = Path(output_path) if output_path is not None else workdir / OUTPUT_NAME
    state = _State(pid=os.getpid(), config=str(Path(config_path).resolve()), output=str(output))
    _publish(workdir, state)
    command = [
        sys.executable,
        "-m",
        "papermill",
        str(template),
        str(output),
        "-k",
        kernel_name,
        "-p",
        "config_path",
        str(Path(config_path).resolve()),
        "--no-progress-bar",
    ]
    if duration is not None:
        command += ["-p", "duration", str(duration)]
    if speed is not None:
        command += ["-p", "speed", str(float(speed))]
    tail = LogTail(workdir / LOG_NAME, echo)
    stop = _Stop()
    previous = _install(stop)
    started = time.time()
    with (workdir / PAPERMILL_LOG).open("ab") as pm_log:
        papermill = subprocess.Popen(
            command, stdout=pm_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    state.papermill_pid = papermill.pid
    log.debug(  # runner.json has the pids too
        "papermill (pid %s) runs %s for session %s -> %s",
        papermill.pid,
        template,
        config.id,
        output,
    )
    try:
        outcome = _watch(
            papermill,
            workdir,
            output,
            state,
            tail,
            stop,
            started=started,
            heartbeat_timeout=heartbeat_timeout,
            start_timeout=start_timeout,
            finish_timeout=finish_timeout,
            stop_grace=stop_grace,
            poll=poll,
        )
    finally:
        _restore(previous)
        tail.pump()
    outcome.session_id = config.id
    if outcome.exit_code != EXIT_OK and not outcome.reason.startswith(f"session {config.id} "):
        outcome.reason = session_failure(config, outcome.reason)  # names session and account
    state.status = "stopped" if outcome.exit_code == EXIT_OK else "failed"
    state.exit_code, state.reason = outcome.exit_code, outcome.reason
    _publish(workdir, state)
    # the caller reports the outcome (live_run_via_papermill: one line on stderr)
    log.debug("session %s: %s (exit %d)", config.id, outcome.reason, outcome.exit_code)
    return outcome


def _watch(
    papermill: subprocess.Popen[bytes],
    workdir: Path,
    output: Path,
    state: _State,
    tail: LogTail,
    stop: _Stop,
    *,
    started: float,
    heartbeat_timeout: float,
    start_timeout: float,
    finish_timeout: float,
    stop_grace: float,
    poll: float,
) -> RunOutcome:
    kernel = None
    beat: dict[str, Any] = {}
    ended_at: float | None = None  # wall time the session's heartbeat said it ended
    stop_deadline: float | None = None

    def fail(reason: str) -> RunOutcome:
        pids = [int(p) for p in (beat.get("pids") or {}).values() if p]
        kill_tree(group_of(kernel), pids + ([kernel.pid] if kernel else []), papermill)
        return RunOutcome(EXIT_FAILED, reason, output, state.kernel_pid, papermill.returncode, beat)

    while True:
        tail.pump()
        code = papermill.poll()
        if code is not None:
            return _finished(code, workdir, output, state, started)
        if kernel is None:
            kernel = find_kernel(papermill.pid)
            if kernel is not None:
                state.kernel_pid = kernel.pid
                _publish(workdir, state)
                log.debug("kernel pid %s", kernel.pid)
        fresh = _fresh_heartbeat(workdir, started)
        if fresh is not None:
            beat = fresh
        if (
            kernel is not None
            and not process_alive(kernel)
            and beat.get("status") in (None, "running")
        ):
            # after the session ended, papermill shuts the kernel down itself
            return fail(f"kernel process {kernel.pid} died")
        if state.status == "starting" and beat.get("status") == "running":
            state.status = "running"
            _publish(workdir, state)
        now = time.time()
        if beat.get("status") == "running":
            age = heartbeat_age(beat)
            if age > heartbeat_timeout:
                return fail(
                    f"session heartbeat is {age:.0f} s old (heartbeat_timeout "
                    f"{heartbeat_timeout:g} s): the session hangs or its parent died"
                )
        elif beat:
            ended_at = ended_at or now
            if now - ended_at > finish_timeout:
                return fail(
                    f"papermill did not finish within {finish_timeout:g} s after the "
                    f"session ended ({beat.get('status')})"
                )
        elif now - started > start_timeout:
            return fail(f"the session wrote no heartbeat within start_timeout {start_timeout:g} s")
        if stop.requested is not None and stop_deadline is None:
            stop_deadline = now + stop_grace
            state.status = "stopping"
            _publish(workdir, state)
            session = process_of(beat.get("pid")) if beat.get("status") == "running" else None
            if session is not None and process_alive(session):
                log.info("stop requested: SIGTERM to the session's parent (pid %s)", session.pid)
                session.send_signal(signal.SIGTERM)
            elif not beat:
                kill_tree(group_of(kernel), [], papermill)
                return RunOutcome(
                    EXIT_OK,
                    "stopped before the session started",
                    output,
                    state.kernel_pid,
                    papermill.returncode,
                    beat,
                )
        if stop_deadline is not None and now > stop_deadline:
            return fail(f"the session did not stop within {stop_grace:g} s of the stop request")
        time.sleep(poll)


def _finished(code: int, workdir: Path, output: Path, state: _State, started: float) -> RunOutcome:
    beat = _fresh_heartbeat(workdir, started) or {}
    status, session_code = beat.get("status"), beat.get("exit_code")
    if code != 0 and status == "failed" and beat.get("reason"):
        # the session's own one-line cause; the notebook and papermill.log hold the rest
        return RunOutcome(EXIT_FAILED, str(beat["reason"]), output, state.kernel_pid, code, beat)
    if code != 0:
        reason = f"papermill exited with code {code}"
        if status in ("failed", "stopped") and beat.get("reason"):
            reason += f"; the session {status}: {beat['reason']}"
        reason += f" (see {output} and {workdir / PAPERMILL_LOG})"
        return RunOutcome(EXIT_FAILED, reason, output, state.kernel_pid, code, beat)
    if status != "stopped" or session_code not in (0, None):
        return RunOutcome(
            EXIT_FAILED,
            f"papermill exited 0 but the session's last heartbeat "
            f"says {status or 'nothing'} (exit code {session_code})",
            output,
            state.kernel_pid,
            code,
            beat,
        )
    return RunOutcome(
        EXIT_OK, f"session stopped: {beat.get('reason')}", output, state.kernel_pid, code, beat
    )


def _fresh_heartbeat(workdir: Path, started: float) -> dict[str, Any] | None:
    beat = read_heartbeat(workdir)
    # a heartbeat left by an earlier run of the same session does not count
    if beat is None or beat.get("wall_ms", 0) / 1000 < started - 1.0:
        return None
    return beat


def _publish(workdir: Path, state: _State) -> None:
    write_atomic(workdir / RUNNER_NAME, json.dumps(asdict(state), sort_keys=True))


def read_runner_state(workdir: Path) -> dict[str, Any] | None:
    """Return the runner's ``runner.json`` of a session workdir, or None."""
    return read_state(workdir / RUNNER_NAME)


def _install(stop: _Stop) -> dict[int, Any] | None:
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore(previous: dict[int, Any] | None) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


def live_run_via_papermill(
    config_path: str | Path,
    *,
    output: str | Path | None = None,
    heartbeat_timeout: float = 30.0,
    duration: str | None = None,
    speed: float | None = None,
    echo: TextIO | None = sys.stdout,
) -> int:
    """Run a session through the live template (``aifap live run CONFIG``); return the exit code.

    Prints the session log to ``echo`` as it grows and the outcome to stderr.

    Raises:
        ConfigError: the config is invalid (nothing was started).
    """
    outcome = run_live_notebook(
        config_path,
        output,
        heartbeat_timeout=heartbeat_timeout,
        duration=duration,
        speed=speed,
        echo=echo,
    )
    stream = sys.stderr
    if outcome.exit_code == EXIT_OK:
        stream.write(f"session {outcome.session_id}: {outcome.reason}\n")
        stream.write(f"output notebook: {outcome.output}\n")
    else:  # one line: session, account, cause and what to check
        stream.write(f"{outcome.reason}\n")
    stream.flush()
    return outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m aifap.deploy.papermill_run CONFIG`` (the local launcher)."""
    import argparse

    from aifap.core.errors import AifapError

    parser = argparse.ArgumentParser(
        prog="python -m aifap.deploy.papermill_run",
        description="Run a live session notebook under papermill "
        "and watch its kernel and heartbeat.",
    )
    parser.add_argument("config", help="session config file (YAML or JSON)")
    parser.add_argument("--output", help="executed notebook (default <workdir>/session.ipynb)")
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=30.0,
        help="seconds a running session's heartbeat may be old",
    )
    parser.add_argument("--duration", help="override the trading duration, e.g. 2h")
    parser.add_argument("--speed", type=float, help="override a replay clock's speed")
    parser.add_argument(
        "--quiet", action="store_true", help="do not echo the session log to stdout"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s runner: %(message)s",
    )
    try:
        return live_run_via_papermill(
            args.config,
            output=args.output,
            heartbeat_timeout=args.heartbeat_timeout,
            duration=args.duration,
            speed=args.speed,
            echo=None if args.quiet else sys.stdout,
        )
    except AifapError as exc:  # nothing started: one line naming the session and cause
        sys.stderr.write(config_failure(args.config, exc) + "\n")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
