"""The Kubernetes launcher: a session as a Job in the cluster, with the local launcher's interface.

``aifap.promote(..., launcher="kubernetes")`` and ``aifap live run CONFIG --launcher
kubernetes`` call :meth:`KubernetesLauncher.launch`: it creates the session's Job
(suspended), then its ConfigMap and Secret owned by the Job (so deleting the Job
deletes them), then resumes the Job (:mod:`aifap.deploy.k8s_manifests` renders them).
The :class:`KubernetesSessionHandle` reads the Job and its pod for ``status()``, the
pod's log for ``logs()``, and ``stop()`` suspends the Job: Kubernetes sends SIGTERM to
the papermill runner, which stops the session cleanly (kill after the grace period).

Settings, each overridable by a keyword: ``AIFAP_SESSION_NAMESPACE`` (else the pod's
own namespace in a cluster, else ``finplatform``), ``AIFAP_SESSION_IMAGE`` (required),
``AIFAP_SESSION_SERVICE_ACCOUNT`` (``aifap-session``). The cluster is reached through
the official ``kubernetes`` client: in-cluster config inside a pod, else ``~/.kube/config``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aifap.core.errors import AifapError, ConfigError
from aifap.deploy.base import SESSION_STATES, SessionStatus
from aifap.deploy.k8s_manifests import (
    CONTAINER,
    LABEL_SESSION,
    SESSION_CPU,
    SESSION_MEMORY,
    SessionObjects,
    label_value,
    render_session,
)
from aifap.live.config import CONFIG_NAME, load_config
from aifap.redaction import redact_url

NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "finplatform"


class KubernetesLaunchError(AifapError):
    """The cluster refused or failed a launch step (the message names the object)."""


def _api_error(what: str, exc: Exception) -> KubernetesLaunchError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return KubernetesLaunchError(f"{what}: the Kubernetes API answered {status} {reason}")


def default_namespace() -> str:
    """Return ``AIFAP_SESSION_NAMESPACE``, else this pod's namespace, else ``finplatform``."""
    if os.environ.get("AIFAP_SESSION_NAMESPACE"):
        return os.environ["AIFAP_SESSION_NAMESPACE"]
    try:
        return NAMESPACE_FILE.read_text(encoding="utf-8").strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


def load_api_client() -> Any:
    """Return a ``kubernetes.client.ApiClient`` for this cluster (in-cluster or kubeconfig)."""
    from kubernetes import client, config

    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


class KubernetesSessionHandle:
    """A session running as a Kubernetes Job.

    Args:
        session_id: the session.
        workdir: its local working directory (where its config was written).
        job: the Job's name.
        namespace: the Job's namespace.
        api_client: a ``kubernetes.client.ApiClient``.
        results_url: the session's results database, where ``wait(cycles=...)`` counts
            its finished cycles (a SQLite file would be inside the pod: not readable).
    """

    def __init__(
        self,
        session_id: str,
        workdir: Path,
        job: str,
        namespace: str,
        api_client: Any,
        results_url: str | None = None,
    ) -> None:
        from kubernetes import client

        self.session_id = session_id
        self.results_url = results_url
        self.workdir = Path(workdir)
        self.job = job
        self.namespace = namespace
        # typed Any: the client's models are passed as plain dicts (the API takes either)
        self._batch: Any = client.BatchV1Api(api_client)
        self._core: Any = client.CoreV1Api(api_client)
        self._stopping = False

    @property
    def dashboard_url(self) -> str | None:
        """Return None: a session's dashboard on Kubernetes is Grafana's (fin-finwatcher)."""
        return None

    def _pod(self) -> Any | None:
        pods = self._core.list_namespaced_pod(
            self.namespace, label_selector=f"job-name={self.job}"
        ).items
        if not pods:
            return None
        return max(pods, key=lambda p: p.metadata.creation_timestamp or 0)

    def status(self) -> SessionStatus:
        """Return the session's state from its Job and newest pod.

        ``starting`` (no pod running yet), ``running``, ``stopping`` (suspended, pod
        still terminating), ``stopped`` (exit 0), ``failed`` (the Job failed: the reason
        is the pod's termination message, the end of its log), ``dead`` (the Job is gone).
        """
        from kubernetes.client.exceptions import ApiException

        try:
            job = self._batch.read_namespaced_job(self.job, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return SessionStatus(self.session_id, "dead", reason=f"job {self.job} is gone")
            raise _api_error(f"read job {self.namespace}/{self.job}", exc) from exc
        pod = self._pod()
        terminated = _terminated(pod)
        code = None if terminated is None else terminated.exit_code
        message = None if terminated is None else (terminated.message or terminated.reason)
        conditions = {c.type: c for c in (job.status.conditions or []) if c.status == "True"}
        if "Failed" in conditions:
            reason = _last_line(message) or conditions["Failed"].message
            return SessionStatus(
                self.session_id, "failed", exit_code=code if code else 1, reason=reason
            )
        if "Complete" in conditions:
            return SessionStatus(self.session_id, "stopped", exit_code=0, reason="completed")
        if job.spec.suspend and not job.status.active and not _running(pod):
            if code not in (None, 0):
                return SessionStatus(
                    self.session_id, "failed", exit_code=code, reason=_last_line(message)
                )
            return SessionStatus(
                self.session_id, "stopped", exit_code=code, reason="stopped (job suspended)"
            )
        if job.spec.suspend or self._stopping:
            return SessionStatus(self.session_id, "stopping")
        state = "running" if _running(pod) else "starting"
        return SessionStatus(self.session_id, state)

    def logs(self, n: int = 50) -> str:
        """Return the last ``n`` lines of the session pod's log (the session log)."""
        from kubernetes.client.exceptions import ApiException

        pod = self._pod()
        if pod is None or n <= 0:
            return ""
        try:
            text = self._core.read_namespaced_pod_log(
                pod.metadata.name, self.namespace, container=CONTAINER, tail_lines=n
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # the container has not started yet
                return ""
            raise _api_error(f"read the log of pod {pod.metadata.name}", exc) from exc
        return str(text).rstrip("\n")

    def wait(
        self,
        timeout: float | None = None,
        *,
        cycles: int | None = None,
        state: str | None = None,
        poll: float = 2.0,
    ) -> SessionStatus:
        """Wait until the session ends, has finished ``cycles`` cycles or is in ``state``.

        The heartbeat stays in the pod, so cycles are counted in the session's results
        database (its journal: cycles ``done`` or ``skipped``).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
            ValueError: ``cycles`` is negative or the results database is a SQLite file
                (inside the pod), or ``state`` is not a session state.
        """
        finished = self._cycle_counter() if cycles is not None else None
        if cycles is not None and cycles < 0:
            raise ValueError(f"cycles must be >= 0, was {cycles}")
        if state is not None and state not in SESSION_STATES:
            raise ValueError(f"state must be one of {', '.join(SESSION_STATES)}, was {state!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if not status.running or status.state == state:
                return status
            if finished is not None and cycles is not None and finished() >= cycles:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                awaited = f"{cycles} cycles" if cycles is not None else state or "the session's end"
                raise TimeoutError(
                    f"session {self.session_id}: waited {timeout:g} s for {awaited}, it is {status}"
                )
            time.sleep(poll)

    def _cycle_counter(self) -> Callable[[], int]:
        """Return a function counting the session's finished cycles in its journal."""
        url = self.results_url
        if not url or url.startswith("sqlite"):
            raise ValueError(
                "cycles can be awaited only when results_database_url is a shared database "
                f"(postgresql://...), was {redact_url(url) if url else 'unset'}: a SQLite "
                "file stays inside the pod (use state=... or no argument)"
            )
        from aifap.db import make_engine
        from aifap.live.journal import Journal

        journal = Journal(make_engine(url), self.session_id)

        def finished() -> int:
            return sum(c.state in ("done", "skipped") for c in journal.cycles())

        return finished

    def stop(self, timeout: float = 60.0) -> SessionStatus:
        """Stop the session: suspend its Job (SIGTERM to the runner, a clean stop).

        After ``timeout`` seconds without the pod ending, the Job is deleted with its
        pod (and, by ownership, its ConfigMap and Secret).
        """
        from kubernetes.client.exceptions import ApiException

        self._stopping = True
        try:
            self._batch.patch_namespaced_job(self.job, self.namespace, {"spec": {"suspend": True}})
        except ApiException as exc:
            if exc.status == 404:
                return self.status()
            raise _api_error(f"suspend job {self.namespace}/{self.job}", exc) from exc
        try:
            return self.wait(timeout, state="stopped", poll=min(2.0, max(timeout / 20, 0.05)))
        except TimeoutError:
            self.delete()
            return SessionStatus(
                self.session_id,
                "stopped",
                reason=f"killed: the session did not stop within {timeout:g} s",
            )

    def delete(self) -> None:
        """Delete the Job, its pods, ConfigMap and Secret (foreground propagation)."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._batch.delete_namespaced_job(
                self.job, self.namespace, propagation_policy="Foreground", grace_period_seconds=0
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(f"delete job {self.namespace}/{self.job}", exc) from exc

    def __repr__(self) -> str:
        return f"KubernetesSessionHandle({self.namespace}/{self.job})"


def _terminated(pod: Any | None) -> Any | None:
    if pod is None or pod.status is None:
        return None
    for status in pod.status.container_statuses or []:
        if status.name == CONTAINER and status.state is not None:
            return status.state.terminated
    return None


def _running(pod: Any | None) -> bool:
    return pod is not None and pod.status is not None and pod.status.phase == "Running"


def _last_line(text: str | None) -> str | None:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


class KubernetesLauncher:
    """Start sessions as Kubernetes Jobs (see the module docstring).

    Args:
        namespace: where the Jobs run (default :func:`default_namespace`).
        image: the AIFAP image (default ``AIFAP_SESSION_IMAGE``).
        service_account: the sessions' service account.
        manager: the manager label of the sessions this launcher starts.
        cpu: the session container's CPU (requests = limits).
        memory: its memory (requests = limits).
        heartbeat_timeout: seconds a running session's heartbeat may be old.
        api_client: a ``kubernetes.client.ApiClient`` (default :func:`load_api_client`,
            made on the first launch).
    """

    # its sessions never hold exchange keys: they trade through the account's gateway
    # service (exchange: remote), whose Secret in fin-finwrapper holds them
    sessions_hold_keys = False

    def __init__(
        self,
        *,
        namespace: str | None = None,
        image: str | None = None,
        service_account: str | None = None,
        manager: str | None = None,
        cpu: str = SESSION_CPU,
        memory: str = SESSION_MEMORY,
        heartbeat_timeout: float = 30.0,
        api_client: Any = None,
    ) -> None:
        self.namespace = namespace or default_namespace()
        self.image = image or os.environ.get("AIFAP_SESSION_IMAGE")
        self.service_account = (
            service_account or os.environ.get("AIFAP_SESSION_SERVICE_ACCOUNT") or "aifap-session"
        )
        self.manager = manager
        self.cpu, self.memory = cpu, memory
        self.heartbeat_timeout = heartbeat_timeout
        self._api_client = api_client

    @property
    def api_client(self) -> Any:
        """Return the API client (loaded from the environment on first use)."""
        if self._api_client is None:
            self._api_client = load_api_client()
        return self._api_client

    def render(
        self, config_path: Path, *, env: dict[str, str] | None = None, nonce: str | None = None
    ) -> SessionObjects:
        """Return the objects a launch of ``config_path`` creates (``--dry-run`` prints them).

        Raises:
            ConfigError: the config is invalid, holds exchange keys, names an unset token
                variable, or no image is configured.
        """
        if not self.image:
            raise ConfigError(
                "image must be given (or AIFAP_SESSION_IMAGE set) for the kubernetes launcher"
            )
        config = load_config(config_path)
        return render_session(
            config,
            Path(config_path),
            namespace=self.namespace,
            image=self.image,
            nonce=nonce or format(time.time_ns() // 1_000_000, "x")[-8:],
            manager=self.manager,
            service_account=self.service_account,
            env=env,
            cpu=self.cpu,
            memory=self.memory,
            heartbeat_timeout=self.heartbeat_timeout,
        )

    def _jobs(self, session_id: str) -> list[Any]:
        """Return the session's Jobs (found by its session label)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        selector = f"{LABEL_SESSION}={label_value(session_id)}"
        batch: Any = client.BatchV1Api(self.api_client)
        try:
            return list(batch.list_namespaced_job(self.namespace, label_selector=selector).items)
        except ApiException as exc:
            raise _api_error(f"list the jobs of session {session_id}", exc) from exc

    def running_jobs(self, session_id: str) -> list[str]:
        """Return the names of the session's Jobs that still have an active pod."""
        jobs = self._jobs(session_id)
        return [str(j.metadata.name) for j in jobs if j.status.active and not j.spec.suspend]

    def attach(self, session_id: str, workdir: Path) -> KubernetesSessionHandle | None:
        """Return a handle on the session's newest Job, or None when it has none.

        How another process (a second API worker, the API after a restart) finds a
        session this launcher started: by the Job's session label.
        """
        jobs = self._jobs(session_id)
        if not jobs:
            return None
        newest = max(jobs, key=lambda j: j.metadata.creation_timestamp or 0)
        config = Path(workdir) / CONFIG_NAME
        results = load_config(config).results_url() if config.is_file() else None
        return KubernetesSessionHandle(
            session_id,
            Path(workdir),
            str(newest.metadata.name),
            self.namespace,
            self.api_client,
            results_url=results,
        )

    def launch(
        self,
        config_path: Path,
        *,
        workdir: Path,
        session_id: str,
        env: dict[str, str] | None = None,
    ) -> KubernetesSessionHandle:
        """Create the session's Job, ConfigMap and Secret; return its handle.

        Raises:
            ConfigError: see :meth:`render`; or the session already runs in the cluster.
            KubernetesLaunchError: the API refused a step (the objects made are deleted).
        """
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        objects = self.render(Path(config_path), env=env)
        running = self.running_jobs(objects.session_id)
        if running:
            raise ConfigError(
                f"session {objects.session_id} is already running in the cluster "
                f"(job {self.namespace}/{running[0]}); stop it or promote under another name"
            )
        batch: Any = client.BatchV1Api(self.api_client)
        core: Any = client.CoreV1Api(self.api_client)
        handle = KubernetesSessionHandle(
            session_id,
            Path(workdir),
            objects.name,
            self.namespace,
            self.api_client,
            results_url=load_config(Path(config_path)).results_url(),
        )
        try:
            job = batch.create_namespaced_job(self.namespace, objects.job)
        except ApiException as exc:
            raise _api_error(f"create job {self.namespace}/{objects.name}", exc) from exc
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": objects.name,
            "uid": job.metadata.uid,
            "blockOwnerDeletion": True,
        }
        try:
            core.create_namespaced_config_map(self.namespace, _owned(objects.config_map, owner))
            if objects.secret is not None:
                core.create_namespaced_secret(self.namespace, _owned(objects.secret, owner))
            batch.patch_namespaced_job(objects.name, self.namespace, {"spec": {"suspend": False}})
        except ApiException as exc:
            handle.delete()
            raise _api_error(f"launch session {objects.session_id} ({objects.name})", exc) from exc
        return handle


def _owned(obj: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [owner]}}
