"""Both overlays build with kubectl kustomize, and every object they hold is valid and safe.

Kubernetes objects validate strictly against the Kubernetes 1.32 schemas
(kubernetes-validate); Istio objects against Istio's published CRD schemas
(@kubernetes-models/istio, installed at test time). No container runs as root; every
container has limits and a liveness probe, every long-running one a readiness probe
too; batch pods are also bounded by activeDeadlineSeconds; CronJobs never overlap and
skip a missed start.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from helpers.kube import (
    DEPLOY,
    NAMESPACES,
    WORKLOAD_KINDS,
    IstioSchemas,
    is_dask,
    is_istio,
    k8s_errors,
    pod_spec,
    render,
)

OVERLAYS = ("dev", "prod")


@pytest.fixture(scope="module")
def istio() -> IstioSchemas:
    return IstioSchemas.install()


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates(overlay: str, istio: IstioSchemas) -> None:
    objects = render(overlay)
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "CronJob",
        "NetworkPolicy",
        "AuthorizationPolicy",
        "Gateway",
        "VirtualService",
        "PeerAuthentication",
        "Role",
        "RoleBinding",
    } <= kinds
    core = [o for o in objects if not is_istio(o) and not is_dask(o)]  # see test_dask_cluster
    errors = [e for e in map(k8s_errors, core) if e]
    assert errors == []
    mesh = [o for o in objects if is_istio(o)]
    assert len(mesh) >= 15
    assert [e for e in istio.errors(mesh) if e] == []


def test_the_validators_reject_broken_objects(istio: IstioSchemas) -> None:
    """A test of the tests: a wrong field is caught by each validator."""
    objects = render("dev")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    assert "replicas" in (k8s_errors(broken) or "")
    unknown = yaml.safe_load(yaml.safe_dump(deployment))
    unknown["spec"]["template"]["spec"]["containers"][0]["limit"] = {}
    assert k8s_errors(unknown) is not None  # strict: unknown fields are errors
    policy = next(o for o in objects if o["kind"] == "PeerAuthentication")
    bad = {**policy, "spec": {"mtls": {"mode": "STRICTEST"}}}
    rules = next(o for o in objects if o["kind"] == "AuthorizationPolicy" and o["spec"])
    bad_rules = {**rules, "spec": {**rules["spec"], "action": "PERMIT"}}
    found = istio.errors([bad, bad_rules])
    assert "mode" in (found[0] or "")
    assert "action" in (found[1] or "")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_container_runs_as_root_and_each_has_limits_and_probes(overlay: str) -> None:
    workloads = [o for o in render(overlay) if o["kind"] in WORKLOAD_KINDS]
    assert len(workloads) >= 8
    for obj in workloads:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        spec = pod_spec(obj)["spec"]
        pod_security = spec.get("securityContext", {})
        for container in _containers(obj):
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, name
            assert security.get("runAsUser", 0) != 0, name
            assert security.get("allowPrivilegeEscalation") is False, name
            assert security.get("readOnlyRootFilesystem") is True, name
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), name
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), name
            assert ":" in container["image"], name
            assert not container["image"].endswith(":latest"), name
            assert "livenessProbe" in container, name
            if obj["kind"] in ("Deployment", "StatefulSet"):
                assert "readinessProbe" in container, name
            else:  # a batch run: bounded in time as well (readiness means nothing to a Job)
                job = (
                    obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
                )
                assert job["activeDeadlineSeconds"] > 0, name
        assert spec.get("automountServiceAccountToken", True) is False or (
            spec["serviceAccountName"] == "aifap-api"  # the launcher talks to the API server
        ), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cronjobs_never_overlap(overlay: str) -> None:
    cronjobs = {o["metadata"]["name"]: o["spec"] for o in render(overlay) if o["kind"] == "CronJob"}
    assert set(cronjobs) == {"ohlcv-collector", "scheduled-report"}
    for name, spec in cronjobs.items():
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert spec["startingDeadlineSeconds"] > 0, name
    collector = cronjobs["ohlcv-collector"]["jobTemplate"]["spec"]["template"]["spec"]
    assert collector["containers"][0]["args"][:2] == ["data", "collect"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_workload_runs_its_own_aifap_command(overlay: str) -> None:
    commands = {}
    for obj in render(overlay):
        if obj["kind"] in WORKLOAD_KINDS:
            container = pod_spec(obj)["spec"]["containers"][0]
            words = [*container.get("command", []), *container.get("args", [])]
            commands[obj["metadata"]["name"]] = " ".join(words)
    assert commands["api"].startswith("serve api ")
    assert commands["ohlcv"].startswith("data serve ")
    assert commands["results"].startswith("serve results ")
    assert commands["tearsheets"].startswith("serve tearsheets ")
    assert commands["gateway-bitget-main"].startswith("serve gateway --account=")
    assert "aifap report schedule" in commands["scheduled-report"]
    assert commands["ohlcv-collector"].startswith("data collect ")


def test_dev_runs_postgres_in_cluster_and_prod_does_not() -> None:
    dev, prod = render("dev"), render("prod")
    databases = {o["metadata"]["namespace"] for o in dev if o["kind"] == "StatefulSet"}
    assert databases == {"finplatform", "fin-crypto", "fin-finwatcher"}
    assert not [o for o in prod if o["kind"] == "StatefulSet"]
    assert "postgres.fin-finwatcher" not in yaml.safe_dump_all(
        [o for o in prod if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "grafana-db"]
    )
    account = next(o for o in prod if o["metadata"]["name"] == "account-bitget-main")
    assert yaml.safe_load(account["data"]["account.yaml"])["demo"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mesh_is_mtls_strict_and_sessions_use_the_api_image(overlay: str) -> None:
    objects = render(overlay)
    strict = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] == "PeerAuthentication"
        and o["spec"]["mtls"]["mode"] == "STRICT"
        and "selector" not in o["spec"]
    }
    assert strict == set(NAMESPACES)
    labelled = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Namespace" and o["metadata"]["labels"].get("istio-injection") == "enabled"
    }
    assert labelled == set(NAMESPACES)
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "api")
    config = next(o for o in objects if o["metadata"]["name"] == "aifap-config")
    assert (
        config["data"]["AIFAP_SESSION_IMAGE"]
        == api["spec"]["template"]["spec"]["containers"][0]["image"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_launcher_rights_are_namespaced_and_cannot_read_secrets(overlay: str) -> None:
    objects = render(overlay)
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = next(o for o in objects if o["kind"] == "Role")
    assert role["metadata"]["namespace"] == "finplatform"
    rights = {
        (g, r): set(rule["verbs"])
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert rights[("batch", "jobs")] >= {"create", "get", "delete", "patch"}
    assert rights[("", "configmaps")] >= {"create"}
    assert rights[("", "secrets")] == {"create", "delete"}  # never get/list/watch
    assert rights[("", "pods")] >= {"get", "list"}
    assert rights[("", "pods/log")] == {"get"}
    binding = next(o for o in objects if o["kind"] == "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "aifap-api", "namespace": "finplatform"}
    ]


def test_secret_templates_validate_and_hold_no_value() -> None:
    files = sorted((DEPLOY / "secrets").glob("*.yaml"))
    assert {f.stem for f in files} == set(NAMESPACES)
    for file in files:
        for secret in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            assert k8s_errors(secret) is None
            assert set(secret["stringData"].values()) == {""}, secret["metadata"]["name"]
            assert "data" not in secret
    for overlay in OVERLAYS:
        assert not [o for o in render(overlay) if o["kind"] == "Secret"]
