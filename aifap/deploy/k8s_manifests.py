"""Render the Kubernetes objects of one live session: a Secret, a ConfigMap and a Job.

The Job's pod runs the papermill runner (``python -m aifap.deploy.papermill_run``, the
same watchdog the local launcher starts) on ``templates/live_session.ipynb`` with the
session's config as its ``config_path`` parameter. What goes where:

- **ConfigMap**: the session config rewritten for the pod (its working directory, the
  strategy file beside it, no secret values; the gateway token is read from
  ``AIFAP_GATEWAY_TOKEN``) and the frozen strategy source.
- **Secret**: the gateway token, database URLs given in the config, and the ``env``
  the caller passes; the container reads every key as an environment variable.
- **Job**: labels ``aifap.io/trader``, ``aifap.io/manager``, ``aifap.io/session``
  (exact values in annotations), the ``aifap-session`` service account, Guaranteed QoS
  (requests = limits, the Istio sidecar's too), a liveness probe on the session's
  heartbeat, and a pod failure policy: exit code 1 (a known cause: bad keys, invalid
  config...) fails the Job at once, an evicted pod is retried without counting.

Pure data: nothing here talks to a cluster (:mod:`aifap.deploy.kubernetes` does).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aifap.core.errors import ConfigError
from aifap.live.config import SessionConfig, make_config

POD_CONFIG_DIR = "/etc/aifap/session"
POD_WORKDIR = "/var/lib/aifap/session"
CONFIG_KEY = "session.yaml"
STRATEGY_KEY = "strategy.py"
CONTAINER = "session"
TOKEN_ENV = "AIFAP_GATEWAY_TOKEN"  # noqa: S105 - a variable name, not a value
APP_LABEL = "live-session"
LABEL_TRADER = "aifap.io/trader"
LABEL_MANAGER = "aifap.io/manager"
LABEL_SESSION = "aifap.io/session"
# Guaranteed QoS, sized from benches/README.md ("Kubernetes sizing"): a running paper
# session measured 398 MiB PSS for everything its pod runs (papermill runner 104,
# papermill 76, kernel 51, strategy 69, main 48, finwatcher 50); 768 Mi leaves 1.9x for
# larger strategies' history frames and reports. CPU: mostly idle between cycles.
SESSION_CPU = "500m"
SESSION_MEMORY = "768Mi"
# the Istio sidecar's own requests = limits (else the pod is Burstable, not Guaranteed)
PROXY_CPU = "100m"
PROXY_MEMORY = "128Mi"
HEARTBEAT_STALE_MINUTES = 2
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")
_SECRET_FIELDS = {
    "results_database_url": "AIFAP_RESULTS_DATABASE_URL",
    "market_database_url": "AIFAP_MARKET_DATABASE_URL",
}


@dataclass(frozen=True)
class SessionObjects:
    """The objects of one session launch, in the order they are created."""

    name: str
    namespace: str
    session_id: str
    secret: dict[str, Any] | None
    config_map: dict[str, Any]
    job: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[dict[str, Any]]:
        """Return every object (the Job first: the others are owned by it)."""
        return [self.job, self.config_map, *([self.secret] if self.secret else [])]

    def to_yaml(self, *, redact: bool = True) -> str:
        """Return the objects as one YAML stream; the Secret's values masked unless told."""
        objects = self.all()
        if redact and self.secret is not None:
            masked = dict.fromkeys(self.secret["stringData"], "<redacted>")
            objects = [*objects[:-1], {**self.secret, "stringData": masked}]
        return str(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False))


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Plain YAML for people: no anchors, multi-line strings (the config) as blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def label_value(text: str) -> str:
    """Return ``text`` as a valid label value (63 characters of ``[A-Za-z0-9_.-]``)."""
    if _LABEL_VALUE.match(text):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.")
    return cleaned or "unnamed"


def object_name(session_id: str, nonce: str) -> str:
    """Return a DNS-1123 name for a launch of ``session_id`` (unique per ``nonce``)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", session_id.lower()).strip("-")[:30] or "session"
    digest = hashlib.sha256(session_id.encode()).hexdigest()[:6]
    return f"aifap-{slug}-{digest}-{nonce}"[:63].rstrip("-")


def _strategy_file(spec: str, config_path: Path) -> tuple[Path | None, str]:
    target, sep, function = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if not target.endswith(".py"):
        return None, ""
    path = Path(target)
    if not path.is_absolute() and not path.is_file():
        path = config_path.parent / path
    if not path.is_file():
        raise ConfigError(f"strategy must be a readable file, was {target!r}")
    return path, f"{sep}{function}"


def pod_config(
    config: SessionConfig, config_path: Path, env: dict[str, str]
) -> tuple[str, str | None, dict[str, str]]:
    """Return (the pod's session.yaml, the strategy source or None, the secret values).

    Raises:
        ConfigError: the config holds exchange keys (sessions on Kubernetes trade through
            the gateway service), or names a gateway token that is not set.
    """
    held = sorted(config.credentials.model_dump(exclude_none=True))
    if held:
        raise ConfigError(
            f"credentials must be empty for a session on Kubernetes, was set: {', '.join(held)}"
            " (use exchange: remote with gateway_url and gateway_token: the gateway "
            "service in fin-finwrapper holds the keys)"
        )
    data = config.model_dump(mode="json", exclude_none=True)
    secrets: dict[str, str] = {}
    for key, variable in _SECRET_FIELDS.items():
        value = getattr(config, key)
        data.pop(key, None)
        if value is not None:
            secrets[variable] = value.get_secret_value()
    data.pop("gateway_token", None)
    data.pop("gateway_token_env", None)
    data.pop("credentials", None)
    if config.exchange == "remote":
        token = config.gateway_token_value()
        if config.gateway_token is None and config.gateway_token_env:
            token = env.get(config.gateway_token_env, token)
        if not token:
            raise ConfigError(
                f"gateway_token_env must name a set environment variable, "
                f"{config.gateway_token_env!r} is not set"
            )
        secrets[TOKEN_ENV] = token
        data["gateway_token_env"] = TOKEN_ENV
    path, function = _strategy_file(config.strategy, config_path)
    source = None
    if path is not None:
        source = path.read_text(encoding="utf-8")
        data["strategy"] = f"{POD_CONFIG_DIR}/{STRATEGY_KEY}{function}"
    data["workdir"] = POD_WORKDIR
    make_config(data)  # the rewritten config must still be valid
    return yaml.safe_dump(data, sort_keys=False), source, secrets


def _probe() -> dict[str, Any]:
    # fails only once the session's heartbeat (written about once a second) is stale;
    # none yet is fine (the startup is bounded by the runner's start_timeout)
    stale = f"find {POD_WORKDIR} -maxdepth 1 -name heartbeat.json -mmin +{HEARTBEAT_STALE_MINUTES}"
    return {
        "exec": {"command": ["sh", "-c", f'test -z "$({stale})"']},
        "initialDelaySeconds": 60,
        "periodSeconds": 30,
        "timeoutSeconds": 10,
        "failureThreshold": 3,
    }


def render_session(
    config: SessionConfig,
    config_path: Path,
    *,
    namespace: str,
    image: str,
    nonce: str,
    manager: str | None = None,
    service_account: str = "aifap-session",
    env: dict[str, str] | None = None,
    cpu: str = SESSION_CPU,
    memory: str = SESSION_MEMORY,
    heartbeat_timeout: float = 30.0,
) -> SessionObjects:
    """Return the Secret, ConfigMap and Job that run ``config`` on Kubernetes.

    Raises:
        ConfigError: see :func:`pod_config`.
    """
    given_env = dict(env or {})
    text, source, secrets = pod_config(config, config_path, given_env)
    secrets.update(given_env)
    name = object_name(config.id, nonce)
    manager = manager or given_env.get("AIFAP_SESSION_MANAGER") or "none"
    labels = {
        "app.kubernetes.io/name": APP_LABEL,
        "app.kubernetes.io/component": APP_LABEL,
        "app.kubernetes.io/part-of": "aifap",
        LABEL_TRADER: label_value(config.trader),
        LABEL_MANAGER: label_value(manager),
        LABEL_SESSION: label_value(config.id),
    }
    annotations = {LABEL_TRADER: config.trader, LABEL_MANAGER: manager, LABEL_SESSION: config.id}

    def meta() -> dict[str, Any]:
        return {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": dict(annotations),
        }

    config_data = {CONFIG_KEY: text, **({STRATEGY_KEY: source} if source is not None else {})}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(), "data": config_data}
    secret = None
    if secrets:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta(),
            "type": "Opaque",
            "stringData": secrets,
        }
    variables: list[dict[str, Any]] = [{"name": "AIFAP_DATA_DIR", "value": "/var/lib/aifap"}]
    if "AIFAP_RESULTS_DATABASE_URL" not in secrets:
        variables.append(
            _from_secret(
                "AIFAP_RESULTS_DATABASE_URL", "aifap-database", "results-url", optional=False
            )
        )
    if "AIFAP_DISCORD_WEBHOOK_URL" not in secrets:
        variables.append(
            _from_secret(
                "AIFAP_DISCORD_WEBHOOK_URL", "aifap-alerts", "discord-webhook-url", optional=True
            )
        )
    resources = {"cpu": cpu, "memory": memory}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": ["python", "-m", "aifap.deploy.papermill_run"],
        "args": [f"{POD_CONFIG_DIR}/{CONFIG_KEY}", "--heartbeat-timeout", f"{heartbeat_timeout:g}"],
        "env": variables,
        "envFrom": [{"secretRef": {"name": name}}] if secret else [],
        "resources": {"requests": dict(resources), "limits": dict(resources)},
        "livenessProbe": _probe(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "config", "mountPath": POD_CONFIG_DIR, "readOnly": True},
            {"name": "work", "mountPath": POD_WORKDIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_annotations = {
        **annotations,
        "sidecar.istio.io/nativeSidecar": "true",  # the Job ends when the session does
        "sidecar.istio.io/proxyCPU": PROXY_CPU,
        "sidecar.istio.io/proxyCPULimit": PROXY_CPU,
        "sidecar.istio.io/proxyMemory": PROXY_MEMORY,
        "sidecar.istio.io/proxyMemoryLimit": PROXY_MEMORY,
    }
    deadline = int(config.duration.total_seconds()) + 3600
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(),
        "spec": {
            # created suspended: the ConfigMap and Secret are made (owned by the Job), then
            # the Job is resumed, so its pod never starts without them
            "suspend": True,
            "backoffLimit": 3,
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": 7 * 86400,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER,
                            "operator": "In",
                            "values": [1],
                        },
                    },
                ]
            },
            "template": {
                "metadata": {"labels": dict(labels), "annotations": pod_annotations},
                "spec": {
                    "serviceAccountName": service_account,
                    "automountServiceAccountToken": False,
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 90,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": name}},
                        {"name": "work", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }
    return SessionObjects(name, namespace, config.id, secret, config_map, job, labels)


def _from_secret(variable: str, secret: str, key: str, *, optional: bool) -> dict[str, Any]:
    ref = {"name": secret, "key": key, "optional": optional}
    return {"name": variable, "valueFrom": {"secretKeyRef": ref}}
