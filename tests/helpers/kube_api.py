"""A local HTTP server answering the few Kubernetes API calls the launcher makes.

Create Job / ConfigMap / Secret, get and list Jobs, patch a Job (suspend / resume),
delete a Job (and, as the garbage collector would, the objects it owns and its pods),
list pods by label, read a pod's log. Every body the client sends is validated against
the Kubernetes schemas (kubernetes-validate, strict) before it is stored; an invalid one
is answered 422 and recorded in ``invalid``. A resumed Job gets a Running pod; the test
ends it with :meth:`FakeKubeApi.finish` (or a suspend ends it with exit code 0).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from helpers.kube import k8s_errors

_PATHS = [
    ("POST", r"/apis/batch/v1/namespaces/([^/]+)/jobs", "create_job"),
    ("GET", r"/apis/batch/v1/namespaces/([^/]+)/jobs", "list_jobs"),
    ("GET", r"/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)", "get_job"),
    ("PATCH", r"/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)", "patch_job"),
    ("DELETE", r"/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)", "delete_job"),
    ("POST", r"/api/v1/namespaces/([^/]+)/(configmaps|secrets)", "create_owned"),
    ("GET", r"/api/v1/namespaces/([^/]+)/pods", "list_pods"),
    ("GET", r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", "read_log"),
]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _selected(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = obj["metadata"].get("labels") or {}
    return all(
        labels.get(k) == v for k, _, v in (part.partition("=") for part in selector.split(","))
    )


class FakeKubeApi:
    """The server's state and the calls it received (``requests``: method, path, body)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.invalid: list[str] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeKubeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what the test does to the "cluster" ----------------------------------------

    def finish(self, job: str, namespace: str, exit_code: int, log: list[str]) -> None:
        """End the Job's pod with ``exit_code`` (its log ``log``) and mark the Job."""
        with self.lock:
            pod = next(p for p in self.pods.values() if p["metadata"]["labels"]["job-name"] == job)
            self.logs[pod["metadata"]["name"]] += log
            self._terminate(pod, exit_code, "\n".join(log))
            stored = self.objects[("jobs", namespace, job)]
            kind = "Complete" if exit_code == 0 else "Failed"
            stored["status"] = {
                "active": 0,
                "conditions": [
                    {
                        "type": kind,
                        "status": "True",
                        "message": f"exit {exit_code}",
                        "lastTransitionTime": _now(),
                    }
                ],
            }

    def _terminate(self, pod: dict[str, Any], code: int, message: str) -> None:
        pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
        pod["status"]["containerStatuses"][0]["state"] = {
            "terminated": {"exitCode": code, "message": message, "reason": "Completed"}
        }

    # --- the API ------------------------------------------------------------------------

    def create_job(self, namespace: str, body: dict[str, Any]) -> tuple[int, Any]:
        key = ("jobs", namespace, body["metadata"]["name"])
        if key in self.objects:
            return 409, {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "code": 409,
                "reason": "AlreadyExists",
            }
        body["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        body["status"] = {}
        self.objects[key] = body
        return 201, body

    def list_jobs(self, namespace: str, query: dict[str, str]) -> tuple[int, Any]:
        items = [
            o
            for (k, ns, _), o in self.objects.items()
            if k == "jobs" and ns == namespace and _selected(o, query.get("labelSelector"))
        ]
        return 200, {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": items}

    def get_job(self, namespace: str, name: str) -> tuple[int, Any]:
        job = self.objects.get(("jobs", namespace, name))
        return (200, job) if job else (404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def patch_job(self, namespace: str, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        job = self.objects.get(("jobs", namespace, name))
        if job is None:
            return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
        merged = _merge(job, body)
        error = k8s_errors({k: v for k, v in merged.items() if k != "status"})
        if error:
            self.invalid.append(error)
            return 422, {"kind": "Status", "code": 422, "message": error}
        self.objects[("jobs", namespace, name)] = merged
        pods = [p for p in self.pods.values() if p["metadata"]["labels"]["job-name"] == name]
        if not merged["spec"]["suspend"] and not pods:
            self._start_pod(merged)
        if merged["spec"]["suspend"]:
            for pod in pods:  # SIGTERM: the runner stops the session cleanly
                if pod["status"]["phase"] == "Running":
                    self._terminate(pod, 0, "session stopped: stop requested")
            merged["status"] = {
                "active": 0,
                "conditions": [
                    {"type": "Suspended", "status": "True", "lastTransitionTime": _now()}
                ],
            }
        return 200, merged

    def _start_pod(self, job: dict[str, Any]) -> None:
        name = f"{job['metadata']['name']}-{uuid.uuid4().hex[:5]}"
        template = job["spec"]["template"]
        self.pods[name] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": job["metadata"]["namespace"],
                "creationTimestamp": _now(),
                "labels": {**template["metadata"]["labels"], "job-name": job["metadata"]["name"]},
            },
            "spec": template["spec"],
            "status": {
                "phase": "Running",
                "qosClass": _qos(template["spec"]["containers"]),
                "containerStatuses": [
                    {
                        "name": "session",
                        "image": template["spec"]["containers"][0]["image"],
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": _now()}},
                    },
                ],
            },
        }
        self.logs[name] = ["session starting"]
        job["status"] = {"active": 1}

    def delete_job(self, namespace: str, name: str) -> tuple[int, Any]:
        job = self.objects.pop(("jobs", namespace, name), None)
        if job is None:
            return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
        uid = job["metadata"]["uid"]
        for key, obj in list(self.objects.items()):  # the garbage collector's work
            if any(ref["uid"] == uid for ref in obj["metadata"].get("ownerReferences", [])):
                del self.objects[key]
        for pod in [p for p, o in self.pods.items() if o["metadata"]["labels"]["job-name"] == name]:
            del self.pods[pod]
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def create_owned(self, namespace: str, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        owners = body["metadata"].get("ownerReferences", [])
        jobs = {o["metadata"]["uid"] for (k, _, _), o in self.objects.items() if k == "jobs"}
        if not owners or owners[0]["uid"] not in jobs:
            self.invalid.append(f"{kind}/{body['metadata']['name']} is not owned by a job")
        key = (kind, namespace, body["metadata"]["name"])
        if key in self.objects:
            return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
        body["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        self.objects[key] = body
        return 201, body

    def list_pods(self, namespace: str, query: dict[str, str]) -> tuple[int, Any]:
        items = [
            p
            for p in self.pods.values()
            if p["metadata"]["namespace"] == namespace and _selected(p, query.get("labelSelector"))
        ]
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}

    def read_log(self, namespace: str, pod: str, query: dict[str, str]) -> tuple[int, Any]:
        if pod not in self.pods or query.get("container") != "session":
            return 400, {"kind": "Status", "code": 400, "reason": "BadRequest"}
        lines = self.logs[pod][-int(query.get("tailLines", 10**6)) :]
        return 200, "\n".join(lines) + "\n"

    # --- HTTP -------------------------------------------------------------------------

    def dispatch(self, method: str, raw_path: str, body: Any) -> tuple[int, Any]:
        url = urlparse(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            self.requests.append((method, url.path, body))
            for verb, pattern, name in _PATHS:
                match = re.fullmatch(pattern, url.path)
                if verb != method or match is None:
                    continue
                args: list[Any] = list(match.groups())
                if method in ("POST", "PATCH"):
                    if method == "POST":
                        error = k8s_errors(body)
                        if error:
                            self.invalid.append(error)
                            return 422, {"kind": "Status", "code": 422, "message": error}
                    args.append(body)
                elif name in ("list_jobs", "list_pods", "read_log"):
                    args.append(query)
                return getattr(self, name)(*args)  # type: ignore[no-any-return]
        return 404, {"kind": "Status", "code": 404, "reason": f"no route {method} {url.path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                code, answer = api.dispatch(self.command, self.path, body)
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(code)
                kind = "text/plain" if isinstance(answer, str) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _qos(containers: list[dict[str, Any]]) -> str:
    guaranteed = all(
        c.get("resources", {}).get("requests") == c.get("resources", {}).get("limits")
        and set(c["resources"]["limits"]) >= {"cpu", "memory"}
        for c in containers
    )
    return "Guaranteed" if guaranteed else "Burstable"
