"""Voila for the AIFAP dashboards, which also serves the session's parity report over HTTP.

``aifap dashboard`` runs ``python -m aifap.deploy.voila_app NOTEBOOK ...`` (Voila's own
options). A browser refuses a ``file://`` link from an ``http://`` page, so the parity
report (``aifap parity``, written to ``<workdir>/parity/``) is served by the dashboard's
own server at ``aifap/parity/<session>.html`` beside the dashboard page
(:data:`aifap.deploy.dashboard.PARITY_ROUTE`), and the dashboard header links there.
Only the report of the session this dashboard shows is served (the session and its
working directory come from the ``AIFAP_DASHBOARD_*`` variables the launcher sets);
anything else is a 404.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.utils import url_path_join
from voila.app import Voila

from aifap.deploy.dashboard import ENV_SESSION, ENV_WORKDIR, PARITY_ROUTE
from aifap.replay.files import find_report


class ParityReportHandler(tornado.web.RequestHandler):
    """``GET aifap/parity/<session>.html``: the shown session's parity report, or 404."""

    def get(self, session_id: str) -> None:
        """Send the HTML report of ``session_id`` if it is the session this dashboard shows."""
        shown = os.environ.get(ENV_SESSION)
        report = None
        if shown and session_id == shown:
            report = find_report(os.environ.get(ENV_WORKDIR), shown)
        if report is None or report["path"] is None:
            raise tornado.web.HTTPError(404, "no parity report of session %s here", session_id)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.write(Path(report["path"]).read_bytes())


class DashboardVoila(Voila):  # type: ignore[misc]  # Voila has no type hints
    """Voila plus :class:`ParityReportHandler` (matched before Voila's catch-all page)."""

    def init_handlers(self) -> list[Any]:
        """Return Voila's handlers with the parity report's route first."""
        route = PARITY_ROUTE.format(session=r"([^/]+)").replace(".html", r"\.html")
        handlers: list[Any] = list(super().init_handlers())
        handlers.insert(0, (url_path_join(self.server_url, route), ParityReportHandler))
        return handlers


main = DashboardVoila.launch_instance

if __name__ == "__main__":
    main()
