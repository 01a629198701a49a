"""The platform API starting and stopping traders through the Kubernetes launcher.

Sessions on Kubernetes hold no exchange keys: a trader on a gateway account becomes a
Job whose Secret carries a token on the account's gateway service. A trader cannot be
given an account whose keys the platform holds (422 on create and on change), and one
given it before the platform moved to Kubernetes is refused at start (422) before
anything is made.

The launcher talks to a local server implementing the Kubernetes API calls it makes
(``helpers.kube_api``, every body validated against the schemas). A second API app on
the same database stands for another worker process or the API after a restart: it
finds the trader's Job by its session label, reads its state and stops it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import KEYS, SECRET, Org, build_org
from helpers.kube_api import FakeKubeApi

from aifap.api.app import create_app
from aifap.auth.tokens import ScopeError, TokenVerifier
from aifap.deploy.kubernetes import KubernetesLauncher
from aifap.exchange.emulator.server import ThreadedServer

kubernetes = pytest.importorskip("kubernetes")
NS = "finplatform"


@pytest.fixture
def kube() -> Iterator[tuple[FakeKubeApi, Any]]:
    with FakeKubeApi() as server:
        configuration = kubernetes.client.Configuration()
        configuration.host = server.url
        with kubernetes.client.ApiClient(configuration) as client:
            yield server, client


def _serve(db_url: str, root: Path, api_client: Any) -> tuple[ThreadedServer, str]:
    launcher = KubernetesLauncher(
        namespace=NS, image="registry.example.com/aifap:0.1.0", api_client=api_client
    )
    app = create_app(db_url, db_url, db_url, launcher=launcher, sessions_dir=root,
                     risk_interval=0)  # fmt: skip
    server = ThreadedServer(app)
    server.start()
    return server, f"http://127.0.0.1:{server.port}"


def _org_made_on_a_local_platform(db_url: str, root: Path) -> Org:
    """Build the org (its traders on accounts holding keys) with the local launcher.

    The platform then moves to Kubernetes on the same database; the org's ids and tokens
    stay valid (same signing key), the caller points it at the new app.
    """
    app = create_app(db_url, db_url, db_url, sessions_dir=root, risk_interval=0)
    server = ThreadedServer(app)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=url, timeout=60) as client:
            return build_org(client, db_url, root, url)
    finally:
        server.stop()


def test_start_status_and_stop_go_through_the_cluster_from_any_worker(
    kube: tuple[FakeKubeApi, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, api_client = kube
    monkeypatch.setenv("AIFAP_SECRET_KEY", os.environ.get("AIFAP_SECRET_KEY", SECRET))
    db_url, root = f"sqlite:///{tmp_path / 'platform.db'}", tmp_path / "sessions"
    made_locally = _org_made_on_a_local_platform(db_url, root)
    first, url = _serve(db_url, root, api_client)
    second = None
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            org = replace(made_locally, client=client, url=url)
            # a paper trader: one with an account's keys is refused on Kubernetes (the
            # keys belong to the gateway service; checked at the end)
            made = org.call(
                "supervisor", "POST", "/traders",
                json={"name": "paper_k8s", "strategy": "strategies/momentum.py",
                      "allocation": "1000", "symbols": ["BTCUSDT", "ETHUSDT"],
                      "manager_id": org.managers["a"]},
            )  # fmt: skip
            assert made.status_code == 201, made.text
            trader, sid = made.json()["id"], made.json()["session_id"]
            started = org.call("supervisor", "POST", f"/traders/{trader}/start")
            assert started.status_code == 200, started.text
            [job] = [k for k in api.objects if k[0] == "jobs"]
            labels = api.objects[job]["metadata"]["labels"]
            assert labels["aifap.io/session"] == sid
            assert api.invalid == []

            second, url_2 = _serve(db_url, root, api_client)
            with httpx.Client(base_url=url_2, timeout=60) as other:
                other_org = type(org)(client=other, url=url_2, db_url=db_url, root=root,
                                      tokens=org.tokens)  # fmt: skip
                status = other_org.call("supervisor", "GET", f"/traders/{trader}/status")
                assert status.status_code == 200, status.text
                assert status.json()["state"] == "running"
                stopped = other_org.call("supervisor", "POST", f"/traders/{trader}/stop")
                assert stopped.status_code == 200, stopped.text
            assert api.objects[job]["spec"]["suspend"] is True
            assert stopped.json()["state"] == "stopped"
            never = org.call("supervisor", "GET", f"/traders/{org.traders['b']}/status")
            assert never.json()["state"] == "stopped"  # never started: no Job, no handle
            made_before = dict(api.objects)
            keyed = org.call("supervisor", "POST", f"/traders/{org.traders['a']}/start")
            assert keyed.status_code == 422
            assert "register the account as a gateway account" in keyed.json()["detail"]
            assert "A-SECRET" not in keyed.text
            assert api.objects == made_before  # nothing made
            assert not (root / org.sessions["a"]).exists()  # nor its config written
            # nor can a trader be given such an account now, new or changed
            new_keyed = org.call(
                "supervisor", "POST", "/traders",
                json={"name": "keyed_k8s", "strategy": "strategies/momentum.py",
                      "allocation": "1000", "symbols": ["BTCUSDT"],
                      "manager_id": org.managers["a"], "account_id": org.accounts["a"]},
            )  # fmt: skip
            assert new_keyed.status_code == 422, new_keyed.text
            assert "account_id must name a gateway account" in new_keyed.json()["detail"]
            given = org.call(
                "supervisor", "PATCH", f"/traders/{trader}",
                json={"account_id": org.accounts["a"]},
            )  # fmt: skip
            assert given.status_code == 422, given.text
            assert "A-SECRET" not in new_keyed.text + given.text
            kept = org.call("supervisor", "GET", f"/traders/{trader}").json()
            assert kept["account_id"] is None
            names = [t["name"] for t in org.call("supervisor", "GET", "/traders").json()]
            assert "keyed_k8s" not in names
    finally:
        first.stop()
        if second is not None:
            second.stop()


GATEWAY = "http://gateway-bitget-main.fin-finwrapper.svc.cluster.local:8920"


def test_a_gateway_accounts_trader_runs_with_a_gateway_token_and_no_keys(
    kube: tuple[FakeKubeApi, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, api_client = kube
    key = os.environ.get("AIFAP_SECRET_KEY", SECRET)
    monkeypatch.setenv("AIFAP_SECRET_KEY", key)
    db_url, root = f"sqlite:///{tmp_path / 'platform.db'}", tmp_path / "sessions"
    made_locally = _org_made_on_a_local_platform(db_url, root)
    server, url = _serve(db_url, root, api_client)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            org = replace(made_locally, client=client, url=url)
            account = org.call(
                "supervisor", "POST", "/accounts",
                json={"venue": "bitget", "market": "futures", "demo": True,
                      "gateway_url": GATEWAY, "gateway_account": "bitget-main",
                      "manager_id": org.managers["a"]},
            )  # fmt: skip
            assert account.status_code == 201, account.text
            made = org.call(
                "supervisor", "POST", "/traders",
                json={"name": "gw_k8s", "strategy": "strategies/momentum.py",
                      "allocation": "1000", "symbols": ["BTCUSDT", "ETHUSDT"],
                      "manager_id": org.managers["a"], "account_id": account.json()["id"]},
            )  # fmt: skip
            assert made.status_code == 201, made.text
            trader, sid = made.json()["id"], made.json()["session_id"]
            started = org.call("supervisor", "POST", f"/traders/{trader}/start")
            assert started.status_code == 200, started.text
            assert api.invalid == []
            [job] = [v for k, v in api.objects.items() if k[0] == "jobs"]
            [config_map] = [v for k, v in api.objects.items() if k[0] == "configmaps"]
            [secret] = [v for k, v in api.objects.items() if k[0] == "secrets"]
            assert job["metadata"]["labels"]["aifap.io/session"] == sid
            pod_config = yaml.safe_load(config_map["data"]["session.yaml"])
            assert pod_config["exchange"] == "remote"
            assert pod_config["gateway_url"] == GATEWAY
            assert pod_config["account"] == "bitget-main"
            assert pod_config["gateway_token_env"] == "AIFAP_GATEWAY_TOKEN"
            assert "credentials" not in pod_config
            assert "gateway_token" not in pod_config
            values = secret["stringData"]
            assert set(values) >= {"AIFAP_GATEWAY_TOKEN", "AIFAP_PLATFORM_TOKEN"}
            assert not any(name.startswith("AIFAP_ACCOUNT_") for name in values)
            # the gateway service's own verifier (same signing key) accepts it for its
            # account and this session only
            claims = TokenVerifier("gateway:bitget-main", key=key)(values["AIFAP_GATEWAY_TOKEN"])
            assert claims.session_id == sid
            with pytest.raises(ScopeError):
                TokenVerifier("gateway:another-account", key=key)(values["AIFAP_GATEWAY_TOKEN"])
            everything = json.dumps(list(api.objects.values()))
            for keys in KEYS.values():
                for value in keys:
                    assert value not in everything
            written = "".join(
                p.read_text(errors="replace") for p in (root / sid).rglob("*") if p.is_file()
            )
            assert GATEWAY in written  # the API's copy of the config: no key, no token
            assert values["AIFAP_GATEWAY_TOKEN"] not in written
            stopped = org.call("supervisor", "POST", f"/traders/{trader}/stop")
            assert stopped.status_code == 200, stopped.text
    finally:
        server.stop()
