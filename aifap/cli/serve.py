"""``aifap serve``: one process per service, each with ``/health`` and ``/ready``.

Only parsing lives here; the apps are built by the services' factories::

    aifap serve results --db postgresql://...      # the seed's RqueryAPI
    aifap serve tearsheets --db postgresql://...   # the seed's PyfolioAPI
    aifap serve gateway --account acct-1.yaml      # the seed's BitgetTrader

``--db`` defaults to ``AIFAP_RESULTS_DATABASE_URL``, else ``AIFAP_DATABASE_URL``,
else the local SQLite file (the gateway: the account file's ``database_url``, else
the platform database). OpenAPI documents every route at ``/docs``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aifap.cli import app
from aifap.db import database_url
from aifap.redaction import redact_url

serve_app = typer.Typer(no_args_is_help=True, help="Run AIFAP's HTTP services.")
app.add_typer(serve_app, name="serve")
err = Console(stderr=True)

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Db = Annotated[
    str | None,
    typer.Option("--db", help="Results database URL (default: from AIFAP_* settings).",
                 show_default=False),
]  # fmt: skip


Port = Annotated[int, typer.Option(help="Port to listen on.")]


def _service(command: str, factory: str, name: str, default_port: int, doc: str) -> None:
    # `aifap serve COMMAND [--db] [--host] [--port]`: the app of ``factory`` under uvicorn
    def serve(db: Db = None, host: Host = "127.0.0.1", port: Port = default_port) -> None:
        import importlib

        import uvicorn

        url = db or database_url("results")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        module, _, function = factory.rpartition(".")
        create_app = getattr(importlib.import_module(module), function)
        err.print(f"serving {name} of {redact_url(url)} on http://{host}:{port}")
        uvicorn.run(create_app(url), host=host, port=port, log_level="info")

    serve.__doc__ = doc
    serve_app.command(command)(serve)


_service(
    "results", "aifap.watch.service.create_app", "results", 8910,
    "Serve sessions, snapshots, positions, orders, fills and alerts (paged JSON).",
)  # fmt: skip
_service(
    "tearsheets", "aifap.analysis.service.create_app", "tear sheets", 8911,
    "Serve each session's metrics (/perf) and tear sheet (/tearsheet.html).",
)  # fmt: skip


@serve_app.command("gateway")
def gateway_command(
    account: Annotated[
        Path,
        typer.Option(
            "--account",
            help="The account's YAML (venue, market, demo, keys).",
            exists=True,
            dir_okay=False,
        ),
    ],
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Client-id memory database URL (default: the account "
            "file's database_url, else the platform database).",
            show_default=False,
        ),
    ] = None,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8920,
) -> None:
    """Serve one exchange account's gateway (the only process holding its keys).

    Sessions reach it with ``exchange: remote``, ``gateway_url`` and a token from
    ``aifap admin token --scope gateway:ACCOUNT``.
    """  # fmt: skip
    import uvicorn

    from aifap.exchange.remote.account import load_account
    from aifap.exchange.remote.service import create_app
    from aifap.exchange.remote.wire import SERVICE_IDLE_SECONDS

    config = load_account(account)
    url = db or (
        config.database_url.get_secret_value() if config.database_url else database_url("platform")
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app(config, url)
    mode = "demo" if config.demo else "live"
    err.print(
        f"serving gateway {config.account} ({config.venue} {config.market.value} {mode}) "
        f"on http://{host}:{port}; client ids in {redact_url(url)}"
    )
    # no access log (a line per order request); httptools and uvloop when installed;
    # sessions' connections kept open between their cycles
    uvicorn.run(
        app, host=host, port=port, log_level="info", access_log=False,
        timeout_keep_alive=SERVICE_IDLE_SECONDS,
    )  # fmt: skip


def default_workers() -> int:
    """Return the API's default worker processes: one per CPU it may use, at most 8.

    The CPUs it may use: those it may run on, fewer under a cgroup (v2) CPU quota, as
    a Kubernetes CPU limit sets (``cpu.max`` ``100000 100000`` = 1 CPU).
    """
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return max(1, min(round(cpus), 8))


@serve_app.command("api")
def api_command(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Platform database URL (default: from AIFAP_* settings).",
                     show_default=False),
    ] = None,
    host: Host = "127.0.0.1",
    port: Port = 8900,
    risk_interval: Annotated[
        float, typer.Option(help="Seconds between risk-limit checks (0: only on request).")
    ] = 30.0,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, show_default=False,
                     help="Worker processes (default: one per CPU, at most 8)."),
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="Log a line per request (the audit log records changes).")
    ] = False,
) -> None:
    """Serve the platform API: auth, managers, traders, accounts, risk, results, OHLCV.

    Needs ``AIFAP_SECRET_KEY`` (or ``AIFAP_SECRET_KEY_FILE``); bootstrap the first
    login with ``aifap admin create-supervisor``. The worker processes share the port;
    one of them runs the background risk checks.
    """  # fmt: skip
    import json
    import tempfile

    import uvicorn

    from aifap.api.app import SERVE_OPTIONS
    from aifap.api.metrics import MULTIPROCESS_DIR
    from aifap.auth.tokens import secret_key
    from aifap.db import migrate

    url = db or database_url("platform")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    secret_key()  # no key: fail here, once, not in every worker
    for each in dict.fromkeys((url, database_url("results"))):
        migrate(each)
    os.environ[SERVE_OPTIONS] = json.dumps({"platform_url": url, "risk_interval": risk_interval})
    count = workers or default_workers()
    if count > 1 and not os.environ.get(MULTIPROCESS_DIR):  # /metrics sums every worker
        os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="aifap-api-metrics-")
    err.print(
        f"serving the platform API of {redact_url(url)} on http://{host}:{port} "
        f"({count} worker{'s' if count > 1 else ''})"
    )
    uvicorn.run(
        "aifap.api.app:app_from_env", factory=True, host=host, port=port, workers=count,
        log_level="info", access_log=access_log,
    )  # fmt: skip
