"""The Kubernetes launcher against a local server implementing the API calls it makes.

Every body the launcher sends is validated by the server against the Kubernetes
schemas (strict); the test then checks what a cluster would run: the Job's command,
its Guaranteed resources, its labels, the config in a ConfigMap without secrets, the
token in a Secret owned by the Job; then status, logs, stop and failure as the handle
reads them; and that ``--dry-run`` prints manifests that validate, with no secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.kube import k8s_errors
from helpers.kube_api import FakeKubeApi
from typer.testing import CliRunner

from aifap.core.errors import ConfigError
from aifap.deploy import get_launcher
from aifap.deploy.kubernetes import KubernetesLauncher

kubernetes = pytest.importorskip("kubernetes")

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "tok-" + "s3cr3t" * 8
NS = "finplatform"


@pytest.fixture
def api() -> Any:
    with FakeKubeApi() as server:
        yield server


@pytest.fixture
def client(api: FakeKubeApi) -> Any:
    configuration = kubernetes.client.Configuration()
    configuration.host = api.url
    with kubernetes.client.ApiClient(configuration) as made:
        yield made


def write_config(tmp_path: Path, **extra: Any) -> Path:
    data = {
        "session_id": "momentum-7",
        "trader": "trader_01",
        "strategy_name": "momentum",
        "strategy": str(ROOT / "strategies" / "momentum.py"),
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "allocation": 1000,
        "exchange": "remote",
        "mode": "demo",
        "account": "bitget-main",
        "gateway_url": "http://gateway-bitget-main.fin-finwrapper.svc.cluster.local:8920",
        "gateway_token_env": "DESK_TOKEN",
        "bar_source": "http://ohlcv.fin-crypto.svc.cluster.local:8900",
        "workdir": str(tmp_path / "work"),
        **extra,
    }
    path = tmp_path / "session.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def launcher(client: Any) -> KubernetesLauncher:
    chosen = get_launcher(
        "kubernetes",
        namespace=NS,
        image="registry.example.com/aifap:0.1.0",
        manager="desk-a",
        api_client=client,
    )
    assert isinstance(chosen, KubernetesLauncher)
    return chosen


def test_launch_creates_a_valid_job_configmap_and_secret(
    api: FakeKubeApi, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_TOKEN", TOKEN)
    config = write_config(tmp_path)
    handle = launcher(client).launch(config, workdir=tmp_path / "work", session_id="momentum-7")
    assert api.invalid == []
    calls = [(method, path.rsplit("/", 1)[-1]) for method, path, _ in api.requests]
    # the Job first (suspended), then what it owns, then resumed
    assert calls == [
        ("GET", "jobs"),
        ("POST", "jobs"),
        ("POST", "configmaps"),
        ("POST", "secrets"),
        ("PATCH", handle.job),
    ]
    job = api.objects[("jobs", NS, handle.job)]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["aifap.io/trader"] == "trader_01"
    assert labels["aifap.io/manager"] == "desk-a"
    assert labels["aifap.io/session"] == "momentum-7"
    assert labels["app.kubernetes.io/name"] == "live-session"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "aifap-session"
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "aifap.deploy.papermill_run"]
    assert container["args"][0] == "/etc/aifap/session/session.yaml"
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert api.pods[next(iter(api.pods))]["status"]["qosClass"] == "Guaranteed"
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert (
        annotations["sidecar.istio.io/proxyMemory"]
        == annotations["sidecar.istio.io/proxyMemoryLimit"]
    )
    # the config map: the pod's config, the frozen strategy beside it, no secret
    config_map = api.objects[("configmaps", NS, handle.job)]
    pod_config = yaml.safe_load(config_map["data"]["session.yaml"])
    assert pod_config["workdir"] == "/var/lib/aifap/session"
    assert pod_config["strategy"] == "/etc/aifap/session/strategy.py"
    assert pod_config["gateway_token_env"] == "AIFAP_GATEWAY_TOKEN"
    assert "def strategy(" in config_map["data"]["strategy.py"]
    assert TOKEN not in yaml.safe_dump(config_map) + yaml.safe_dump(job)
    secret = api.objects[("secrets", NS, handle.job)]
    assert secret["stringData"] == {"AIFAP_GATEWAY_TOKEN": TOKEN}
    assert container["envFrom"] == [{"secretRef": {"name": handle.job}}]
    job_uid = job["metadata"]["uid"]
    for owned in (config_map, secret):
        assert owned["metadata"]["ownerReferences"][0]["uid"] == job_uid


def test_handle_reads_status_and_logs_and_stops(
    api: FakeKubeApi, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_TOKEN", TOKEN)
    chosen = launcher(client)
    handle = chosen.launch(write_config(tmp_path), workdir=tmp_path, session_id="momentum-7")
    assert handle.status().state == "running"
    api.logs[next(iter(api.pods))] += [f"cycle {i} done" for i in range(1, 6)]
    assert handle.logs(2) == "cycle 4 done\ncycle 5 done"
    with pytest.raises(ConfigError, match="already running in the cluster"):
        chosen.launch(write_config(tmp_path), workdir=tmp_path, session_id="momentum-7")
    final = handle.stop(timeout=5)
    assert final.state == "stopped"
    assert final.exit_code == 0
    assert api.objects[("jobs", NS, handle.job)]["spec"]["suspend"] is True
    handle.delete()
    assert not [k for k in api.objects if handle.job in k]  # the ConfigMap and Secret went too
    assert handle.status().state == "dead"
    assert api.invalid == []


def test_a_failed_session_reports_its_last_line(
    api: FakeKubeApi, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_TOKEN", TOKEN)
    handle = launcher(client).launch(write_config(tmp_path), workdir=tmp_path, session_id="m")
    cause = "session momentum-7 (account bitget-main): the exchange rejected the API key"
    api.finish(handle.job, NS, 1, ["Traceback (most recent call last):", cause])
    status = handle.wait(timeout=5, poll=0.05)
    assert status.state == "failed"
    assert status.exit_code == 1
    assert status.reason == cause


def test_refusals_name_the_field(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESK_TOKEN", raising=False)
    chosen = launcher(client)
    with pytest.raises(ConfigError, match="gateway_token_env must name a set environment variable"):
        chosen.render(write_config(tmp_path))
    keys = {
        "exchange": "paper",
        "mode": "paper",
        "credentials": {"api_key": "k" * 20},
        "gateway_url": None,
        "gateway_token_env": None,
    }
    paper = write_config(tmp_path, **keys)
    with pytest.raises(ConfigError, match="credentials must be empty for a session on Kubernetes"):
        chosen.render(paper)
    with pytest.raises(ConfigError, match="image must be given"):
        KubernetesLauncher(namespace=NS, image="", api_client=client).render(paper)


def test_dry_run_prints_manifests_that_validate_without_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aifap.cli import app

    monkeypatch.setenv("DESK_TOKEN", TOKEN)
    monkeypatch.setenv("AIFAP_SESSION_IMAGE", "registry.example.com/aifap:0.1.0")
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        app,
        ["live", "run", str(config), "--launcher", "kubernetes", "--dry-run", "--namespace", NS],
    )
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    objects = list(yaml.safe_load_all(result.stdout))
    assert [o["kind"] for o in objects] == ["Job", "ConfigMap", "Secret"]
    assert [e for e in map(k8s_errors, objects) if e] == []
    assert objects[2]["stringData"] == {"AIFAP_GATEWAY_TOKEN": "<redacted>"}


def test_promote_launches_through_the_kubernetes_launcher(
    api: FakeKubeApi, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aifap

    monkeypatch.setenv("AIFAP_STRATEGIES_DIR", str(tmp_path / "strategies"))
    handle = aifap.promote(
        str(ROOT / "strategies" / "momentum.py"),
        name="k8s-paper",
        symbols=["BTCUSDT", "ETHUSDT"],
        launcher="kubernetes",
        launcher_options={"namespace": NS, "image": "aifap:0.1.0", "api_client": client},
        workdir=str(tmp_path / "k8s-paper"),
        trader="trader_02",
    )
    assert handle.status().state == "running"
    assert api.invalid == []
    config_map = api.objects[("configmaps", NS, handle.job)]
    assert "def strategy(" in config_map["data"]["strategy.py"]  # the frozen copy
    assert ("secrets", NS, handle.job) not in api.objects  # paper: nothing secret to pass


@pytest.mark.postgres
def test_wait_for_cycles_counts_the_journal_in_the_shared_results_database(
    api: FakeKubeApi, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str
) -> None:
    import threading

    from aifap.db import make_engine
    from aifap.live.journal import Journal
    from aifap.testing.results import write_session

    monkeypatch.setenv("DESK_TOKEN", TOKEN)
    write_session(pg_url, "momentum-7", days=0.5)  # the session's row, as its pod writes it
    config = write_config(tmp_path, results_database_url=pg_url)
    handle = launcher(client).launch(config, workdir=tmp_path, session_id="momentum-7")
    journal = Journal(make_engine(pg_url), "momentum-7")
    with pytest.raises(TimeoutError, match="2 cycles"):
        handle.wait(timeout=0.3, cycles=2, poll=0.05)

    def trade() -> None:
        for cycle in (1, 2):
            journal.start_cycle(cycle, cycle * 60_000, cycle * 60_000)
            journal.set_cycle(cycle, state="skipped" if cycle == 1 else "done")

    writer = threading.Timer(0.2, trade)
    writer.start()
    status = handle.wait(timeout=10, cycles=2, poll=0.05)
    writer.join()
    assert status.state == "running"  # the pod still runs: two cycles were awaited
    assert [c.state for c in journal.cycles()] == ["skipped", "done"]


def test_wait_for_cycles_refuses_a_results_database_inside_the_pod(
    api: FakeKubeApi, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_TOKEN", TOKEN)
    config = write_config(tmp_path, results_database_url=f"sqlite:///{tmp_path / 'r.db'}")
    handle = launcher(client).launch(config, workdir=tmp_path, session_id="momentum-7")
    with pytest.raises(ValueError, match="results_database_url"):
        handle.wait(timeout=1, cycles=1)
