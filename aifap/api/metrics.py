"""Prometheus metrics of the platform API: requests by route and status, and latency.

Each app has its own registry (several apps in one process, as in tests, do not
collide); ``GET /metrics`` answers it in the text exposition format.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


def _route(request: Request) -> str:
    # the route's template (/traders/{trader_id}), never the raw path: bounded labels
    if request.scope.get("route") is None:
        return "unmatched"
    names = {str(v): k for k, v in request.path_params.items()}
    parts = request.url.path.split("/")
    return "/".join(f"{{{names[p]}}}" if p in names else p for p in parts)


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

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route(request)
        latency.labels(request.method, route).observe(time.perf_counter() - started)
        requests.labels(request.method, route, str(response.status_code)).inc()
        return response

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
