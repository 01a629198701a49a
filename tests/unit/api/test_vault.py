"""Account keys at rest: Fernet ciphertext under a key derived from the platform's secret."""

from __future__ import annotations

import pytest

from aifap.api.vault import decrypt, encrypt
from aifap.core.errors import ConfigError

KEY = "vault-tests-" + "v" * 40


def test_round_trip_and_fresh_ciphertext_each_time():
    first, second = encrypt("my-api-key", key=KEY), encrypt("my-api-key", key=KEY)
    assert first != second  # a random IV each time: equal keys do not look equal
    assert "my-api-key" not in first
    assert decrypt(first, key=KEY) == decrypt(second, key=KEY) == "my-api-key"


def test_another_key_or_an_altered_text_is_refused_without_the_value():
    token = encrypt("my-api-key", key=KEY)
    with pytest.raises(ConfigError, match="AIFAP_SECRET_KEY") as wrong:
        decrypt(token, key="another-" + "w" * 40)
    assert "my-api-key" not in str(wrong.value)
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(ConfigError):
        decrypt(altered, key=KEY)


def test_the_key_comes_from_the_settings(monkeypatch):
    monkeypatch.setenv("AIFAP_SECRET_KEY", KEY)
    from aifap.settings import get_settings

    get_settings.cache_clear()
    assert decrypt(encrypt("value")) == "value"
    assert decrypt(encrypt("value"), key=KEY) == "value"
