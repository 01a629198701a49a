"""Process helpers of the papermill runner: find the kernel, tell if it lives, kill a tree.

The kernel is papermill's child (jupyter_client starts it in a new session, so its
process group holds the kernel and every process the session forks). A kernel
killed by the OOM killer stays a zombie until papermill reaps it, so "alive" here
means "running and not a zombie" (``aifap.procs``), which ``os.kill(pid, 0)`` cannot tell.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from pathlib import Path

import psutil

from aifap.live.logs import TracebackSkipper

log = logging.getLogger(__name__)


def find_kernel(papermill_pid: int) -> psutil.Process | None:
    """Return papermill's kernel process (its ``ipykernel_launcher`` child), if started."""
    try:
        children = psutil.Process(papermill_pid).children(recursive=False)
    except psutil.Error:
        return None
    for child in children:
        try:
            if any("ipykernel" in part for part in child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def process_of(pid: int | None) -> psutil.Process | None:
    """Return a handle on ``pid`` (pinned to its start time), or None if there is none."""
    if not pid:
        return None
    try:
        return psutil.Process(int(pid))
    except psutil.Error:
        return None


def kill_tree(
    kernel_pgid: int | None,
    pids: list[int],
    papermill: subprocess.Popen[bytes] | None,
    *,
    grace: float = 10.0,
) -> None:
    """SIGKILL the kernel's process group and ``pids``, then end papermill.

    Papermill gets SIGTERM first and SIGKILL after ``grace`` seconds: it may hang
    forever waiting on a dead kernel (papermill #125).
    """
    if kernel_pgid is not None and kernel_pgid > 1 and kernel_pgid != os.getpgrp():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(kernel_pgid, signal.SIGKILL)
    for pid in pids:
        if pid and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    if papermill is not None and papermill.poll() is None:
        papermill.terminate()
        try:
            papermill.wait(grace)
        except subprocess.TimeoutExpired:
            log.warning(
                "papermill (pid %s) ignored SIGTERM for %.0f s; killing it", papermill.pid, grace
            )
            papermill.kill()
            papermill.wait(grace)


def group_of(proc: psutil.Process | None) -> int | None:
    """Return ``proc``'s process group if it leads one (the kernel does), else None."""
    if proc is None:
        return None
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return None
    return pgid if pgid == proc.pid else None


class LogTail:
    """Print the lines a log file gains to a stream (the runner's stdout)."""

    def __init__(self, path: Path, stream: object | None) -> None:
        self.path = path
        self.stream = stream
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""
        self._skip = TracebackSkipper()

    def pump(self) -> None:
        """Copy the new complete lines to the stream."""
        if self.stream is None or not self.path.exists():
            return
        size = self.path.stat().st_size
        if size < self._offset:  # the file was replaced: start over
            self._offset = 0
        if size == self._offset:
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read(size - self._offset)
        self._offset = size
        data = self._partial + chunk
        lines, _, self._partial = data.rpartition(b"\n")
        # tracebacks stay in the file: the console shows each failure as its one line
        kept = list(self._skip(lines.decode("utf-8", "replace").split("\n"))) if lines else []
        if kept:
            self.stream.write("\n".join(kept) + "\n")  # type: ignore[attr-defined]
            self.stream.flush()  # type: ignore[attr-defined]
