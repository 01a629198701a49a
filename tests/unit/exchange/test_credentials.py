"""One credentials model: a session's ``credentials:`` and a gateway account's ``keys:``."""

from __future__ import annotations

import pytest

from aifap.core.errors import ConfigError
from aifap.exchange.credentials import Credentials
from aifap.exchange.remote.account import AccountConfig
from aifap.live.config import SessionConfig


def test_a_value_wins_over_a_variable_and_a_variable_over_a_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("TEST_KEY", "from-env")
    keys = Credentials(
        api_key="direct", api_key_env="TEST_KEY", secret_env="TEST_KEY",
        secret_file=secret_file, password_file=secret_file,
    )  # fmt: skip
    values = {k: v.get_secret_value() for k, v in keys.resolve().items() if v is not None}
    assert values == {"api_key": "direct", "secret": "from-env", "password": "from-file"}


def test_an_unset_variable_names_the_field_unless_lenient(monkeypatch):
    monkeypatch.delenv("TEST_UNSET", raising=False)
    keys = Credentials(api_key_env="TEST_UNSET")
    with pytest.raises(ConfigError, match=r"keys\.api_key_env must name a set variable"):
        keys.resolve(field="keys")
    assert keys.resolve(strict=False)["api_key"] is None


def test_an_unreadable_file_names_the_field(tmp_path):
    keys = Credentials(secret_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"credentials\.secret_file must be a readable file"):
        keys.resolve()


def test_sessions_and_gateway_accounts_share_the_model():
    assert SessionConfig.model_fields["credentials"].annotation is Credentials
    assert AccountConfig.model_fields["keys"].annotation is Credentials
