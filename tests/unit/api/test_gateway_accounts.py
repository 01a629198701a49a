"""Gateway accounts: an exchange account registered by its gateway service, without keys.

The body's rules (keys or gateway, never both, never neither; the URL's shape), the
session config a gateway account's trader becomes (``exchange: remote``, no keys), and
the Kubernetes launcher refusing a keys-held account before anything is written.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from aifap.api.launch import (
    GATEWAY_TOKEN_VARIABLE,
    TraderRunner,
    account_environment,
    account_keys,
    session_config,
)
from aifap.api.models import ExchangeAccount, Trader
from aifap.api.schemas import AccountCreate
from aifap.api.vault import encrypt
from aifap.auth.tokens import ScopeError, TokenVerifier
from aifap.core.errors import ConfigError
from aifap.deploy.kubernetes import KubernetesLauncher
from aifap.deploy.local import LocalLauncher

KEY = "gateway-accounts-" + "g" * 40
GATEWAY = "http://gateway-bitget-main.fin-finwrapper.svc.cluster.local:8920"


def _errors(body: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        AccountCreate.model_validate({"venue": "bitget", **body})
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in caught.value.errors())


def test_a_gateway_account_needs_no_key():
    body = AccountCreate.model_validate(
        {"venue": "bitget", "gateway_url": GATEWAY, "gateway_account": "bitget-main"}
    )
    assert (body.gateway_url, body.gateway_account, body.api_key) == (GATEWAY, "bitget-main", None)
    keyed = AccountCreate.model_validate({"venue": "bitget", "api_key": "k", "secret": "s"})
    assert keyed.gateway_url is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"api_key": "k", "secret": "s", "gateway_url": GATEWAY, "gateway_account": "a"},
         ["was both", "api_key", "gateway_url"]),
        ({}, ["api_key and secret, or gateway_url and gateway_account", "was neither"]),
        ({"api_key": "k"}, ["secret must be given", "was missing"]),
        ({"secret": "s", "passphrase": "p"}, ["api_key must be given"]),
        ({"gateway_url": GATEWAY}, ["gateway_account must be given with gateway_url"]),
        ({"gateway_account": "bitget-main"}, ["gateway_url must be given with gateway_account"]),
    ],
)  # fmt: skip
def test_keys_or_gateway_exactly_one_named_in_the_error(body, words):
    text = _errors(body)
    for word in words:
        assert word in text


@pytest.mark.parametrize(
    "url",
    [
        "ftp://gateway:8920",
        "gateway-bitget-main:8920",
        "http://",
        "http://gateway:8920/?account=x",
        "http://gateway:8920/#top",
        "http://gateway:99999",
    ],
)
def test_a_bad_gateway_url_is_refused_naming_the_field(url):
    text = _errors({"gateway_url": url, "gateway_account": "bitget-main"})
    assert text.startswith("gateway_url: ")
    assert "must" in text


def test_a_gateway_url_with_a_password_is_refused_without_echoing_it():
    text = _errors({"gateway_url": "http://user:hunter2@gateway:8920", "gateway_account": "a"})
    assert "gateway_url: " in text
    assert "user or password" in text
    assert "hunter2" not in text


def test_a_gateway_account_name_follows_the_account_yaml_rule():
    text = _errors({"gateway_url": GATEWAY, "gateway_account": "bad name/../x"})
    assert text.startswith("gateway_account: ")


def _trader(session: dict | None = None) -> Trader:
    return Trader(
        id=7, manager_id=1, name="momo", strategy="strategies/momentum.py",
        strategy_version=None, config_json="{}", session_json=json.dumps(session or {}),
        account_id=3, symbols_json='["BTCUSDT", "ETHUSDT"]', allocation=Decimal(1000),
        rebalance_every="5m", alert_channel="console", state="stopped",
        session_id="trader-7-0123abcd", created_ms=0,
    )  # fmt: skip


def _gateway_account(**changes) -> ExchangeAccount:
    fields = {"id": 3, "manager_id": 1, "venue": "bitget", "market": "futures",
              "demo": True, "gateway_url": GATEWAY, "gateway_account": "bitget-main",
              "created_ms": 0}  # fmt: skip
    return ExchangeAccount(**{**fields, **changes})


def _keyed_account() -> ExchangeAccount:
    return ExchangeAccount(
        id=4, manager_id=1, venue="bitget", market="futures", demo=True,
        api_key_enc=encrypt("K-123", key=KEY), secret_enc=encrypt("S-456", key=KEY),
        created_ms=0,
    )  # fmt: skip


def test_a_gateway_accounts_session_trades_remote_without_keys(tmp_path):
    config = session_config(
        _trader(), _gateway_account(), owner="mgr", results_url="sqlite://", workdir=tmp_path
    )
    assert config.exchange == "remote"
    assert config.gateway_url == GATEWAY
    assert config.account == "bitget-main"
    assert config.gateway_token_env == GATEWAY_TOKEN_VARIABLE == "AIFAP_GATEWAY_TOKEN"
    assert config.gateway_token is None
    assert config.credentials.model_dump(exclude_none=True) == {}
    assert (config.mode, config.market.value) == ("demo", "futures")
    live = session_config(
        _trader(), _gateway_account(demo=False, market="spot"), owner="mgr",
        results_url="sqlite://", workdir=tmp_path,
    )  # fmt: skip
    assert (live.mode, live.market.value) == ("live", "spot")
    assert account_keys(_gateway_account()) == {}
    assert account_environment(_gateway_account()) == {}


def test_the_gateway_token_is_scoped_to_the_account_and_the_session(tmp_path):
    runner = TraderRunner(LocalLauncher(), tmp_path, "sqlite://", KEY)
    token = runner.gateway_token(_trader(), _gateway_account(), timedelta(hours=1))
    claims = TokenVerifier("gateway:bitget-main", key=KEY)(token)
    assert claims.session_id == "trader-7-0123abcd"
    assert claims.subject == "session:trader-7-0123abcd"
    with pytest.raises(ScopeError):
        TokenVerifier("gateway:another", key=KEY)(token)
    with pytest.raises(ConfigError, match="must be a gateway account"):
        runner.gateway_token(_trader(), _keyed_account(), timedelta(hours=1))


def test_kubernetes_refuses_a_keyed_account_before_writing_anything(tmp_path):
    launcher = KubernetesLauncher(namespace="finplatform", image="aifap:test")
    runner = TraderRunner(launcher, tmp_path / "sessions", "sqlite://", KEY)
    with pytest.raises(ConfigError) as refused:
        runner.start(_trader(), _keyed_account(), "mgr")
    text = str(refused.value)
    assert text.startswith("account_id must name a gateway account with the KubernetesLauncher")
    assert "register the account as a gateway account" in text
    assert "K-123" not in text
    assert not (tmp_path / "sessions").exists()  # no config written, no cluster reached
    runner.check_account(_gateway_account())  # a gateway account or paper: accepted
    runner.check_account(None)
    TraderRunner(LocalLauncher(), tmp_path, "sqlite://", KEY).check_account(_keyed_account())


def test_the_session_config_of_a_gateway_account_validates_on_kubernetes(tmp_path: Path):
    from aifap.deploy.k8s_manifests import TOKEN_ENV, pod_config
    from aifap.live.config import dump_config

    config = session_config(
        _trader(), _gateway_account(), owner="mgr", results_url="sqlite://", workdir=tmp_path
    )
    path = dump_config(config, tmp_path / "session.yaml")
    text, _, secrets = pod_config(config, path, {GATEWAY_TOKEN_VARIABLE: "the-token"})
    assert secrets[TOKEN_ENV] == "the-token"
    assert GATEWAY in text
    assert "credentials" not in text
