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
    egress_edges,
    egress_restricted,
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
# the research DaskCluster (outside the mesh: no sidecar, so NetworkPolicies only)
DASK = "finplatform/research-dask"
RESEARCH = {(API, DASK, 8786), *((DASK, DASK, port) for port in (8786, 8788, 8789))}
INGRESS_GATEWAY = "istio-system/istio-ingressgateway"  # its egress is Istio's, not ours
# out of the cluster: exchanges (gateways, collector), Discord (alerts of sessions,
# reports, Grafana), and the Kubernetes API server for the API's launcher (any address)
EXTERNAL = {
    (API, "anywhere", 443),
    (API, "anywhere", 6443),
    (SESSION, "internet", 443),
    (GATEWAY, "internet", 443),
    ("fin-crypto/collector", "internet", 443),
    ("fin-finwatcher/reports", "internet", 443),
    ("fin-finwatcher/grafana", "internet", 443),
}
# prod's managed databases: port 5432 from each client, to the provider's address
PROD_DATABASES = {(src, "anywhere", 5432) for src, _, _ in DATABASES}
SYSTEM = {"kube-system/kube-dns": {53}, "istio-system/istiod": {15012}}


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
    assert network == EXPECTED[overlay] | RESEARCH
    assert mesh == EXPECTED[overlay]
    # the sources' egress policies let out exactly the same in-cluster arrows
    ours = {w.node for w in pods if w.node != INGRESS_GATEWAY}
    assert egress_restricted(objects, pods) == ours
    out = egress_edges(objects, pods)
    inside = {e for e in out if e[1] in ours}
    assert inside == {e for e in EXPECTED[overlay] if e[0] != INGRESS_GATEWAY} | RESEARCH


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_egress_out_of_the_cluster_is_dns_istiod_and_the_named_services(
    overlay: str, tmp_path: Path
) -> None:
    objects = render(overlay)
    pods = workloads([*objects, session_job(tmp_path)])
    ours = {w.node for w in pods if w.node != INGRESS_GATEWAY}
    out = egress_edges(objects, pods)
    system = {e for e in out if e[1] in SYSTEM}
    assert system == {
        (node, dest, port) for node in ours for dest, ports in SYSTEM.items() for port in ports
    }
    external = {e for e in out if e[1] in ("internet", "anywhere")}
    assert external == EXTERNAL | (PROD_DATABASES if overlay == "prod" else set())
    assert out == {e for e in out if e[1] in ours} | system | external


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_namespace_denies_by_default(overlay: str) -> None:
    objects = render(overlay)
    deny_network = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["spec"]["podSelector"] == {}
        and o["spec"]["policyTypes"] == ["Ingress"]
        and not o["spec"].get("ingress")
    }
    deny_egress = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["spec"]["podSelector"] == {}
        and o["spec"]["policyTypes"] == ["Egress"]
        and not o["spec"].get("egress")
    }
    deny_mesh = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "AuthorizationPolicy" and not o.get("spec")
    }
    assert deny_network == deny_egress == deny_mesh == set(NAMESPACES)


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
    extra = network_edges(widened, pods) - SEED - RESEARCH
    assert extra == {
        (SESSION, "fin-finwatcher/results", 8910),
        (DASK, "fin-finwatcher/results", 8910),
    }


def test_the_egress_graph_sees_a_rule_that_lets_out_too_much(tmp_path: Path) -> None:
    """A test of the test: a gateway let out to private addresses shows up as 'anywhere'."""
    objects = render("prod")
    pods = workloads([*objects, session_job(tmp_path)])
    for obj in objects:
        if obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"] == "gateways-egress":
            obj["spec"]["egress"][0]["to"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    external = {e for e in egress_edges(objects, pods) if e[1] in ("internet", "anywhere")}
    assert external - EXTERNAL - PROD_DATABASES == {(GATEWAY, "anywhere", 443)}
