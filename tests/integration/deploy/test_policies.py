"""NetworkPolicies and Istio AuthorizationPolicies allow the seed's arrows and nothing else.

Both kinds of policy are read as a graph over the workloads of the rendered overlay, plus
the pods the Kubernetes launcher creates (its rendered session Job) and the Istio
ingress gateway. An edge is (namespace/app → namespace/app, port). The expected edges
are the seed's arrows (/work/shared/seed/aifap-system-overview.md), each named below.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kube import (
    NAMESPACES,
    authorization_edges,
    network_edges,
    render,
    workloads,
)

from aifap.deploy.k8s_manifests import render_session
from aifap.live.config import make_config

API, SESSION = "finplatform/api", "finplatform/live-session"
GATEWAY = "fin-finwrapper/gateway-bitget-main"

# the seed's arrows; "AIFAP Pod" is the platform API and the sessions it launches
SEED = {
    ("istio-system/istio-ingressgateway", API, 8000),  # Istio Gateway → AIFAP (API, auth)
    (API, "fin-crypto/ohlcv", 8900),  # 4. Query OHLCV
    (SESSION, "fin-crypto/ohlcv", 8900),  # 4. Query OHLCV (strategy history)
    (API, GATEWAY, 8920),  # AIFAP Pod ↔ BitgetTrader
    (SESSION, GATEWAY, 8920),  # Send Orders / positions, balance
    (API, "fin-finwatcher/results", 8910),  # AIFAP Pod → RqueryAPI
    (API, "fin-finwatcher/tearsheets", 8911),  # AIFAP Pod → PyfolioAPI
}
# dev's in-cluster databases (prod's are outside the cluster)
DATABASES = {
    (API, "finplatform/postgres", 5432),  # AIFAP ↔ PostgreSQL (finplatform)
    ("fin-crypto/collector", "fin-crypto/postgres", 5432),  # 2. Store
    ("fin-crypto/ohlcv", "fin-crypto/postgres", 5432),  # 3. Read
    ("fin-finwatcher/results", "fin-finwatcher/postgres", 5432),  # RqueryAPI ↔ PostgreSQL
    ("fin-finwatcher/tearsheets", "fin-finwatcher/postgres", 5432),  # PyfolioAPI ↔ PostgreSQL
    ("fin-finwatcher/grafana", "fin-finwatcher/postgres", 5432),  # PostgreSQL → Grafana
    ("fin-finwatcher/reports", "fin-finwatcher/postgres", 5432),  # scheduled report reads
    (SESSION, "fin-finwatcher/postgres", 5432),  # finwatcher: save to PostgreSQL
}
EXPECTED = {"dev": SEED | DATABASES, "prod": SEED}


def session_job(tmp_path: Path) -> dict:
    config = make_config(
        {
            "trader": "t1",
            "strategy_name": "s",
            "strategy": "strategies.momentum:strategy",
            "symbols": ["BTCUSDT"],
            "allocation": 100,
            "exchange": "remote",
            "mode": "demo",
            "gateway_url": "http://gateway-bitget-main.fin-finwrapper.svc:8920",
            "gateway_token": "x" * 40,
        }
    )
    objects = render_session(
        config, tmp_path / "s.yaml", namespace="finplatform", image="aifap:0.1.0", nonce="1"
    )
    return objects.job


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_policies_allow_the_seed_arrows_and_nothing_else(overlay: str, tmp_path: Path) -> None:
    objects = render(overlay)
    pods = workloads([*objects, session_job(tmp_path)])
    network = network_edges(objects, pods)
    mesh = authorization_edges(objects, pods)
    assert network == EXPECTED[overlay]
    assert mesh == EXPECTED[overlay]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_namespace_denies_by_default(overlay: str) -> None:
    objects = render(overlay)
    deny_network = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["spec"]["podSelector"] == {}
        and not o["spec"].get("ingress")
    }
    deny_mesh = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "AuthorizationPolicy" and not o.get("spec")
    }
    assert deny_network == deny_mesh == set(NAMESPACES)


def test_the_graph_sees_a_policy_that_allows_too_much(tmp_path: Path) -> None:
    """A test of the test: widening one rule shows up as edges beyond the seed's."""
    objects = render("prod")
    pods = workloads([*objects, session_job(tmp_path)])
    widened = []
    for obj in objects:
        if obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"] == "results-from-finplatform":
            peer = obj["spec"]["ingress"][0]["from"][0]
            obj = {
                **obj,
                "spec": {
                    **obj["spec"],
                    "ingress": [
                        {
                            **obj["spec"]["ingress"][0],
                            "from": [{"namespaceSelector": peer["namespaceSelector"]}],
                        }
                    ],
                },
            }
        widened.append(obj)
    extra = network_edges(widened, pods) - SEED
    assert extra == {(SESSION, "fin-finwatcher/results", 8910)}
