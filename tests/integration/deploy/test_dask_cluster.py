"""The research DaskCluster: valid against the operator's CRD, safe pods, reachable only as meant.

The ``DaskCluster`` validates against the ``openAPIV3Schema`` of the CRD that the
dask-kubernetes package ships (its Helm chart's ``crds/daskcluster.yaml``); its scheduler
and worker pod specs validate strictly as Pods with kubernetes-validate. Its pods follow
the rules of every other workload (tests/integration/deploy/test_manifests.py), and the
NetworkPolicies let only the cluster's own pods and the platform API reach them.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml
from helpers.kube import k8s_errors, render

OVERLAYS = ("dev", "prod")
CRD = "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
LABEL = "app.kubernetes.io/name"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    pytest.importorskip("dask_kubernetes", reason="dask-kubernetes ships the DaskCluster CRD")
    crd = yaml.safe_load(resources.files("dask_kubernetes").joinpath(CRD).read_text())
    assert crd["spec"]["names"]["kind"] == "DaskCluster"
    (version,) = [v for v in crd["spec"]["versions"] if v["served"]]
    assert version["name"] == "v1"
    return dict(version["schema"]["openAPIV3Schema"])


def _cluster(overlay: str) -> dict[str, Any]:
    (cluster,) = [o for o in render(overlay) if o["kind"] == "DaskCluster"]
    return cluster


def _crd_errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


def _pods(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {role: cluster["spec"][role] for role in ("scheduler", "worker")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_dask_cluster_validates_against_the_operator_crd(overlay, schema):
    cluster = _cluster(overlay)
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    assert cluster["metadata"]["namespace"] == "finplatform"
    assert _crd_errors(schema, cluster) == []
    for role, part in _pods(cluster).items():
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"research-{role}", **part["metadata"]},
            "spec": part["spec"],
        }
        assert k8s_errors(pod) is None


def test_the_validators_reject_a_broken_dask_cluster(schema):
    cluster = _cluster("dev")
    broken = copy.deepcopy(cluster)
    broken["spec"]["worker"]["replicas"] = "two"
    assert any("replicas" in e for e in _crd_errors(schema, broken))
    missing = copy.deepcopy(cluster)
    del missing["spec"]["scheduler"]["service"]
    assert any("service" in e for e in _crd_errors(schema, missing))
    pod = copy.deepcopy(cluster["spec"]["worker"]["spec"])
    pod["containers"][0]["limit"] = {}
    assert k8s_errors({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"}, "spec": pod})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dask_pods_are_safe_and_run_dask_on_fixed_ports(overlay):
    cluster = _cluster(overlay)
    for role, part in _pods(cluster).items():
        spec = part["spec"]
        assert part["metadata"]["labels"][LABEL] == "research-dask", role
        assert part["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false", role
        assert spec["automountServiceAccountToken"] is False, role
        for container in spec["containers"]:
            security = {**spec["securityContext"], **container["securityContext"]}
            assert security["runAsNonRoot"] is True, role
            assert security["runAsUser"] != 0, role
            assert security["allowPrivilegeEscalation"] is False, role
            assert security["readOnlyRootFilesystem"] is True, role
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), role
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), role
            assert ":" in container["image"], role
            assert not container["image"].endswith(":latest"), role
            assert "readinessProbe" in container, role
            assert "livenessProbe" in container, role
            assert container["command"][:2] == ["python", "-m"], role
    scheduler = cluster["spec"]["scheduler"]
    assert scheduler["spec"]["containers"][0]["command"][2] == "distributed.cli.dask_scheduler"
    assert scheduler["service"]["selector"] == {
        "dask.org/cluster-name": cluster["metadata"]["name"],
        "dask.org/component": "scheduler",
    }
    assert [p["port"] for p in scheduler["service"]["ports"]] == [8786]
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    assert worker["command"][2] == "distributed.cli.dask_worker"
    args = worker["args"]
    assert args[args.index("--worker-port") + 1] == "8788"
    assert args[args.index("--nanny-port") + 1] == "8789"
    assert args[args.index("--nthreads") + 1] == "1"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_cluster_and_the_api_reach_the_dask_pods(overlay):
    objects = render(overlay)
    policies = [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["metadata"]["namespace"] == "finplatform"
        and o["spec"]["policyTypes"] == ["Ingress"]
        and (o["spec"]["podSelector"].get("matchLabels") or {}).get(LABEL) == "research-dask"
    ]
    assert len(policies) == 1
    allowed = {
        (peer["podSelector"]["matchLabels"][LABEL], port["port"])
        for rule in policies[0]["spec"]["ingress"]
        for peer in rule["from"]
        for port in rule["ports"]
    }
    assert all(
        "namespaceSelector" not in p for r in policies[0]["spec"]["ingress"] for p in r["from"]
    )
    assert allowed == {
        ("research-dask", 8786),
        ("research-dask", 8788),
        ("research-dask", 8789),
        ("api", 8786),
    }
    egress = {
        o["metadata"]["name"]: o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and "Egress" in o["spec"]["policyTypes"]
        and o["metadata"]["namespace"] == "finplatform"
    }
    dask_out = egress["research-dask-egress"]["egress"]
    assert [
        (p["podSelector"]["matchLabels"][LABEL], [x["port"] for x in r["ports"]])
        for r in dask_out
        for p in r["to"]
    ] == [("research-dask", [8786, 8788, 8789])]
    api_to_dask = [
        [x["port"] for x in r["ports"]]
        for r in egress["api-egress"]["egress"]
        for p in r["to"]
        if (p.get("podSelector") or {}).get("matchLabels", {}).get(LABEL) == "research-dask"
    ]
    assert api_to_dask == [[8786]]
    # the namespace denies everything else by default
    assert any(
        o["kind"] == "NetworkPolicy"
        and o["metadata"]["namespace"] == "finplatform"
        and o["spec"]["podSelector"] == {}
        and o["spec"]["policyTypes"] == ["Ingress"]
        and "ingress" not in o["spec"]
        for o in objects
    )
