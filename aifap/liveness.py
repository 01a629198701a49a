"""A batch command's liveness file: touched at each step of progress, read by a probe.

The exec probe of a CronJob's pod (``deploy/``) fails once the file named by
``AIFAP_LIVENESS_FILE`` is missing or older than its threshold, so a run that stopped
making progress (a hung request, a stuck database) is killed and retried rather than
left to sit until the Job's ``activeDeadlineSeconds``. Without the variable, a no-op.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "AIFAP_LIVENESS_FILE"


def beat() -> None:
    """Touch the liveness file, if one is configured; a failure to write is only logged."""
    path = os.environ.get(ENV)
    if not path:
        return
    try:
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()
    except OSError as exc:
        log.warning("could not touch the liveness file %s: %s", path, exc)
