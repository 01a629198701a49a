"""Launchers (local process; Kubernetes with the deploy issue) and their session handles."""

from aifap.deploy.base import Launcher, SessionHandle, SessionStatus
from aifap.deploy.launchers import get_launcher, launchers
from aifap.deploy.local import LocalLauncher, LocalSessionHandle

__all__ = [
    "Launcher",
    "LocalLauncher",
    "LocalSessionHandle",
    "SessionHandle",
    "SessionStatus",
    "get_launcher",
    "launchers",
]
