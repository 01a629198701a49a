"""Prometheus metrics of the platform API: requests by route and status, and latency.

Each app has its own registry (several apps in one process, as in tests, do not
collide); ``GET /metrics`` answers it in the text exposition format. Under several
worker processes (``aifap serve api --workers``) ``PROMETHEUS_MULTIPROC_DIR`` is set:
each process writes its values there and ``/metrics`` answers the sum of all of them,
whichever worker serves the scrape.
"""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable


def _route(scope: Scope) -> str:
    # the route's template (/traders/{trader_id}), never the raw path: bounded labels
    if scope.get("route") is None:
        return "unmatched"
    names = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    parts = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{names[p]}}}" if p in names else p for p in parts)


class _Measure:
    """Pure ASGI middleware (no per-request task, unlike ``@app.middleware``)."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route, method = _route(scope), str(scope.get("method", ""))
            self.latency.labels(method, route).observe(time.perf_counter() - started)
            self.requests.labels(method, route, str(status)).inc()


def install_metrics(app: FastAPI) -> CollectorRegistry:
    """Count and time every request of ``app``; serve ``/metrics``; return the registry."""
    registry = CollectorRegistry()
    requests = Counter(
        "aifap_api_requests_total",
        "Requests answered, by method, route and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "aifap_api_request_seconds",
        "Request latency in seconds, by method and route.",
        ["method", "route"],
        registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    )

    app.add_middleware(_Measure, requests=requests, latency=latency)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (text exposition format), of every worker process."""
        answered = registry
        if os.environ.get(MULTIPROCESS_DIR):
            from prometheus_client import multiprocess

            answered = CollectorRegistry()
            multiprocess.MultiProcessCollector(answered)  # type: ignore[no-untyped-call]
        return Response(generate_latest(answered), media_type=CONTENT_TYPE_LATEST)

    return registry
