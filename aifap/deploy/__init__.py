"""Launch machinery: launchers (local process; Kubernetes with the deploy issue), handles.

:mod:`aifap.deploy.papermill_run` runs ``templates/live_session.ipynb`` under papermill
and watches its kernel and heartbeat from outside the kernel (:mod:`aifap.deploy.procs`).
"""

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
