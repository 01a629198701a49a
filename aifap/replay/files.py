"""Where a session's parity report lives: ``<workdir>/parity/<session>_parity.{json,html}``.

Kept free of heavy imports: the session dashboard asks it at every refresh.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aifap.replay.run import ParityReport

REPORT_NAME = "{session}_parity"


def default_out(report: ParityReport) -> Path:
    """Return where a parity report goes by default: ``<workdir>/parity`` (else ``./parity``)."""
    return report_dir(report.workdir) if report.workdir is not None else Path("parity")


def report_dir(workdir: str | Path) -> Path:
    """Return a session's own parity folder (where its dashboard looks for the report)."""
    return Path(workdir) / "parity"


def find_report(workdir: str | Path | None, session_id: str) -> dict[str, Any] | None:
    """Return the session's parity report in ``<workdir>/parity/``, if written.

    A dict with the HTML report's ``path`` (None if only the JSON was written), the
    ``pv_gap`` and the ``largest`` component's label and value: what the session
    dashboard links and shows.
    """
    if not workdir:
        return None
    json_name, html_name = report_names(session_id)
    folder = report_dir(workdir)
    try:
        document = json.loads((folder / json_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    page = folder / html_name
    largest = document.get("largest") or ""
    return {
        "path": str(page.resolve()) if page.is_file() else None,
        "pv_gap": document.get("pv_gap"),
        "largest": document.get("labels", {}).get(largest, "none"),
        "largest_value": document.get("components", {}).get(largest),
    }


def report_names(session_id: str) -> tuple[str, str]:
    """Return the JSON and HTML file names of a session's parity report."""
    stem = REPORT_NAME.format(session=session_id)
    return f"{stem}.json", f"{stem}.html"
