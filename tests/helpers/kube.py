"""Kubernetes test helpers: render the overlays, validate objects, read policies as a graph.

- :func:`render` runs ``kubectl kustomize deploy/overlays/NAME`` (kubectl must be installed).
- :func:`k8s_errors` validates an object with ``kubernetes-validate`` (strict: unknown
  fields are errors) against :data:`KUBE_VERSION`.
- :class:`IstioSchemas` validates Istio objects with the validators compiled from
  Istio's CRD schemas in the npm package ``@kubernetes-models/istio`` (pinned), installed
  at test time into a cache directory outside the repository and run with node.
- :func:`network_edges` / :func:`authorization_edges` turn NetworkPolicies and Istio
  AuthorizationPolicies into the set of (source, destination, port) they allow, where a
  source or destination is ``namespace/app`` of a workload (its pod label
  ``app.kubernetes.io/name``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from helpers.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE_VERSION = "1.32"
ISTIO_PACKAGE = "@kubernetes-models/istio"
ISTIO_VERSION = "3.0.1"
CACHE = Path(os.environ.get("AIFAP_TEST_CACHE", Path.home() / ".cache" / "aifap-tests"))
NAMESPACES = ("finplatform", "fin-crypto", "fin-finwatcher", "fin-finwrapper")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob", "Job")
# the Istio ingress gateway: not ours, but the source of the seed's "Istio Gateway → API"
INGRESS = {
    "kind": "Deployment",
    "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
    "spec": {
        "template": {
            "metadata": {
                "labels": {
                    "app.kubernetes.io/name": "istio-ingressgateway",
                    "istio": "ingressgateway",
                }
            },
            "spec": {"serviceAccountName": "istio-ingressgateway-service-account"},
        }
    },
}


@functools.cache
def _render(overlay: str) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        unavailable("kubectl is not installed (kubectl kustomize builds the overlays)")
    done = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubectl kustomize {overlay} failed:\n{done.stderr}"
    return done.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    """Return the objects ``kubectl kustomize deploy/overlays/OVERLAY`` builds."""
    return [doc for doc in yaml.safe_load_all(_render(overlay)) if doc]


def k8s_errors(obj: dict[str, Any]) -> str | None:
    """Return kubernetes-validate's error for ``obj`` (strict), or None when it is valid."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return f"{obj['kind']}/{obj['metadata'].get('name')}: {path}: {exc.message}"
    return None


def is_dask(obj: dict[str, Any]) -> bool:
    """Tell whether ``obj`` is a dask-kubernetes operator resource (its CRD validates it)."""
    return str(obj.get("apiVersion", "")).split("/")[0] == "kubernetes.dask.org"


def is_istio(obj: dict[str, Any]) -> bool:
    """Tell whether ``obj`` is an Istio custom resource."""
    return str(obj.get("apiVersion", "")).split("/")[0].endswith("istio.io")


_NODE_SCRIPT = """
import { readFileSync } from "node:fs";
const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) {
  const [group, version] = obj.apiVersion.split("/");
  let model;
  try {
    model = await import(`@kubernetes-models/istio/${group}/${version}/${obj.kind}`);
  } catch (e) {
    results.push(`${obj.kind}/${obj.metadata.name}: no Istio schema for ${obj.apiVersion}`);
    continue;
  }
  try {
    new model[obj.kind](obj).validate();
    results.push(null);
  } catch (e) {
    results.push(`${obj.kind}/${obj.metadata.name}: ${e.message}`);
  }
}
process.stdout.write(JSON.stringify(results));
"""


@dataclass
class IstioSchemas:
    """Istio's published CRD schemas (``@kubernetes-models/istio``), run with node."""

    folder: Path

    @classmethod
    def install(cls) -> IstioSchemas:
        """Install the pinned package into the test cache (once) and return the validator."""
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            unavailable("node and npm are needed to validate Istio objects against their schemas")
        folder = CACHE / f"istio-models-{ISTIO_VERSION}"
        marker = folder / "node_modules" / "@kubernetes-models" / "istio" / "package.json"
        if not marker.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--prefix",
                    str(folder),
                    f"{ISTIO_PACKAGE}@{ISTIO_VERSION}",
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0 or not marker.is_file():
                unavailable(
                    f"npm install {ISTIO_PACKAGE}@{ISTIO_VERSION} failed: {done.stderr[-500:]}"
                )
        installed = json.loads(marker.read_text(encoding="utf-8"))["version"]
        assert installed == ISTIO_VERSION, f"the cache holds {installed}, not {ISTIO_VERSION}"
        (folder / "validate.mjs").write_text(_NODE_SCRIPT, encoding="utf-8")
        return cls(folder)

    def errors(self, objects: list[dict[str, Any]]) -> list[str | None]:
        """Return, per object, its schema error or None."""
        done = subprocess.run(
            ["node", str(self.folder / "validate.mjs")],
            input=json.dumps(objects),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.folder,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout))


# --- policies as a graph -------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A kind of pod: where it runs, its labels and its service account."""

    namespace: str
    app: str
    labels: tuple[tuple[str, str], ...]
    service_account: str

    @property
    def node(self) -> str:
        """Return ``namespace/app``."""
        return f"{self.namespace}/{self.app}"

    @property
    def principal(self) -> str:
        """Return its Istio identity."""
        return f"cluster.local/ns/{self.namespace}/sa/{self.service_account}"


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """Return the pod template of a Deployment, StatefulSet, Job or CronJob."""
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"])


def workloads(objects: Iterable[dict[str, Any]]) -> list[Workload]:
    """Return the workloads among ``objects`` (and the Istio ingress gateway)."""
    found = []
    for obj in [*objects, INGRESS]:
        if obj["kind"] == "DaskCluster":
            templates = [_dask_pod(obj, role) for role in ("scheduler", "worker")]
        elif obj["kind"] in WORKLOAD_KINDS:
            templates = [pod_spec(obj)]
        else:
            continue
        for template in templates:
            labels = template["metadata"]["labels"]
            found.append(
                Workload(
                    obj["metadata"]["namespace"],
                    labels["app.kubernetes.io/name"],
                    tuple(sorted(labels.items())),
                    template["spec"].get("serviceAccountName", "default"),
                )
            )
    return found


def _dask_pod(cluster: dict[str, Any], role: str) -> dict[str, Any]:
    """Return the pod the dask-kubernetes operator makes for ``role``, with its labels."""
    part = cluster["spec"][role]
    labels = {
        **part["metadata"]["labels"],
        "dask.org/cluster-name": cluster["metadata"]["name"],
        "dask.org/component": role,
    }
    return {"metadata": {"labels": labels}, "spec": part["spec"]}


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    assert not (selector or {}).get("matchExpressions"), "only matchLabels is read here"
    wanted = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


Edge = tuple[str, str, int]


def network_edges(objects: list[dict[str, Any]], pods: list[Workload]) -> set[Edge]:
    """Return every (source, destination, port) the NetworkPolicies allow in."""
    edges: set[Edge] = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        namespace, spec = policy["metadata"]["namespace"], policy["spec"]
        if "Ingress" not in spec["policyTypes"]:
            continue  # an egress policy: see ``egress_edges``
        assert spec["policyTypes"] == ["Ingress"], policy["metadata"]["name"]
        targets = [
            w
            for w in pods
            if w.namespace == namespace and _matches(spec["podSelector"], dict(w.labels))
        ]
        for rule in spec.get("ingress", []):
            assert rule.get("from"), (
                f"{policy['metadata']['name']}: a rule without 'from' allows all"
            )
            ports = [int(p["port"]) for p in rule["ports"]]
            for peer in rule["from"]:
                assert "ipBlock" not in peer, f"{policy['metadata']['name']}: ipBlock"
                ns_selector = peer.get("namespaceSelector")
                assert ns_selector != {}, f"{policy['metadata']['name']}: every namespace"
                for source in pods:
                    ns_labels = {"kubernetes.io/metadata.name": source.namespace}
                    in_ns = (
                        source.namespace == namespace
                        if ns_selector is None
                        else _matches(ns_selector, ns_labels)
                    )
                    if in_ns and _matches(peer.get("podSelector"), dict(source.labels)):
                        edges |= {(source.node, t.node, p) for t in targets for p in ports}
    return edges


PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}


def egress_edges(objects: list[dict[str, Any]], pods: list[Workload]) -> set[Edge]:
    """Return every (source, destination, port) the NetworkPolicies let out.

    A destination is a workload's node, ``namespace/app`` for a pod outside the rendered
    objects (``kube-system/kube-dns``), ``internet`` for an ipBlock of everything but the
    private ranges, or ``anywhere`` for 0.0.0.0/0 itself. Only pods that an egress policy
    selects are restricted; the test checks that every pod is.
    """
    edges: set[Edge] = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        namespace, spec = policy["metadata"]["namespace"], policy["spec"]
        name = policy["metadata"]["name"]
        if "Egress" not in spec["policyTypes"]:
            continue
        assert spec["policyTypes"] == ["Egress"], name
        sources = [
            w
            for w in pods
            if w.namespace == namespace and _matches(spec["podSelector"], dict(w.labels))
        ]
        for rule in spec.get("egress", []):
            assert rule.get("to"), f"{name}: a rule without 'to' allows all"
            ports = [int(p["port"]) for p in rule["ports"]]
            for peer in rule["to"]:
                dests: list[str] = []
                if "ipBlock" in peer:
                    block = peer["ipBlock"]
                    assert block["cidr"] == "0.0.0.0/0", f"{name}: {block}"
                    dests = ["internet" if set(block.get("except", [])) == PRIVATE else "anywhere"]
                    assert set(block.get("except", [])) in (set(), PRIVATE), name
                else:
                    ns_selector = peer.get("namespaceSelector")
                    assert ns_selector != {}, f"{name}: every namespace"
                    dest_ns = (
                        namespace
                        if ns_selector is None
                        else ns_selector["matchLabels"]["kubernetes.io/metadata.name"]
                    )
                    found = [
                        w.node
                        for w in pods
                        if w.namespace == dest_ns
                        and _matches(peer.get("podSelector"), dict(w.labels))
                    ]
                    if not found:  # a system pod the overlay does not render
                        labels = peer["podSelector"]["matchLabels"]
                        found = [f"{dest_ns}/{next(iter(labels.values()))}"]
                    dests = found
                edges |= {(s.node, d, p) for s in sources for d in dests for p in ports}
    return edges


def egress_restricted(objects: list[dict[str, Any]], pods: list[Workload]) -> set[str]:
    """Return the nodes some egress policy selects (the others may connect anywhere)."""
    return {
        w.node
        for policy in objects
        if policy["kind"] == "NetworkPolicy" and "Egress" in policy["spec"]["policyTypes"]
        for w in pods
        if w.namespace == policy["metadata"]["namespace"]
        and _matches(policy["spec"]["podSelector"], dict(w.labels))
    }


def authorization_edges(objects: list[dict[str, Any]], pods: list[Workload]) -> set[Edge]:
    """Return every (source, destination, port) the Istio AuthorizationPolicies allow."""
    edges: set[Edge] = set()
    by_principal = {w.principal: [v for v in pods if v.principal == w.principal] for w in pods}
    for policy in (o for o in objects if o["kind"] == "AuthorizationPolicy"):
        namespace, spec = policy["metadata"]["namespace"], policy.get("spec") or {}
        assert spec.get("action", "ALLOW") == "ALLOW", policy["metadata"]["name"]
        targets = [
            w
            for w in pods
            if w.namespace == namespace and _matches(spec.get("selector"), dict(w.labels))
        ]
        for rule in spec.get("rules", []):
            assert rule.get("from"), f"{policy['metadata']['name']}: a rule without 'from'"
            ports = [int(p) for to in rule["to"] for p in to["operation"]["ports"]]
            for source in rule["from"]:
                assert set(source["source"]) == {"principals"}, "only principals are read here"
                for principal in source["source"]["principals"]:
                    assert principal in by_principal, f"no workload runs as {principal}"
                    for w in by_principal[principal]:
                        edges |= {(w.node, t.node, p) for t in targets for p in ports}
    return edges
