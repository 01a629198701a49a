"""Is this process alive: the one check, and the owner tokens that leases record.

A process counts as alive while it runs and is not a zombie (an exited child nobody
has reaped yet has finished its work), and while it is the same process: a
``psutil.Process`` remembers its creation time, so a reused pid is not mistaken for
it. An owner token ``host:pid:random`` names one run of one process; only the host
that wrote it can tell whether that run is gone.

Every package may import this module (it imports nothing of ours).
"""

from __future__ import annotations

import os
import socket
import uuid

import psutil

# live_leases.owner is 64 characters: the host part is cut, never the pid or token
_HOST_CHARS = 40


def process_alive(proc: psutil.Process | None) -> bool:
    """Tell whether ``proc`` still runs (a zombie or a reused pid counts as dead)."""
    if proc is None:
        return False
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.AccessDenied:
        return True  # it exists, it is someone else's
    except psutil.Error:
        return False


def pid_alive(pid: int | None) -> bool:
    """Tell whether a process with ``pid`` runs on this host (a zombie counts as dead)."""
    if not pid or pid < 0:
        return False
    try:
        proc = psutil.Process(pid)
    except psutil.AccessDenied:
        return True
    except psutil.Error:
        return False
    return process_alive(proc)


def _host() -> str:
    return socket.gethostname()[:_HOST_CHARS]


def owner_token() -> str:
    """Return a new owner token ``host:pid:random`` for this process (at most 64 chars)."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool | None:
    """Tell whether the process that wrote ``owner`` runs; None when this host cannot tell.

    Only a token written on this host names a pid here; for another host (or a token
    that is not ``host:pid:…``) the answer is None: wait for its lease to expire.
    """
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host not in (_host(), socket.gethostname()) or not pid.isdigit():
        return None
    return pid_alive(int(pid))
