"""Service tokens: issue, verify, scopes, expiry, and the ``aifap admin token`` command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from typer.testing import CliRunner

from aifap.auth.tokens import (
    ScopeError,
    TokenError,
    TokenExpiredError,
    TokenVerifier,
    bearer,
    issue_token,
    parse_ttl,
    secret_key,
    verify_token,
)
from aifap.core.errors import ConfigError
from aifap.settings import get_settings

KEY = "k" * 40
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_token_carries_subject_scopes_session_and_expiry():
    token = issue_token(
        "sess-1", ["gateway:acct"], ttl="30d", session_id="sess-1", key=KEY, now=NOW
    )
    claims = verify_token(token, scope="gateway:acct", key=KEY, now=NOW + timedelta(days=29))
    assert claims.subject == "sess-1"
    assert claims.scopes == ("gateway:acct",)
    assert claims.session_id == "sess-1"
    assert claims.expires_at == NOW + timedelta(days=30)
    assert len(claims.token_id) == 32


def test_an_expired_token_is_refused():
    token = issue_token("s", ["gateway:acct"], ttl="1h", key=KEY, now=NOW)
    with pytest.raises(TokenExpiredError, match="expired"):
        verify_token(token, key=KEY, now=NOW + timedelta(hours=1))
    past = issue_token("s", ["gateway:acct"], ttl="1s", key=KEY, now=NOW)
    with pytest.raises(TokenExpiredError):
        verify_token(past, key=KEY)  # the wall clock is long past 2026-01-01


def test_a_token_for_another_account_lacks_the_scope():
    token = issue_token("s", ["gateway:other"], ttl="1h", key=KEY)
    with pytest.raises(ScopeError, match="gateway:acct") as info:
        verify_token(token, scope="gateway:acct", key=KEY)
    assert info.value.status_code == 403


def test_a_wildcard_scope_covers_its_area_only():
    token = issue_token("admin", ["gateway:*"], ttl="1h", key=KEY)
    assert verify_token(token, scope="gateway:acct", key=KEY).allows("gateway:x")
    with pytest.raises(ScopeError):
        verify_token(token, scope="results:read", key=KEY)


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-jwt", jwt.encode({"sub": "x"}, "k" * 40, algorithm="HS256")],
)
def test_missing_or_malformed_tokens_are_refused(token):
    with pytest.raises(TokenError) as info:
        verify_token(token, key=KEY)
    assert info.value.status_code == 401


def test_a_token_signed_with_another_key_is_refused():
    token = issue_token("s", ["gateway:acct"], ttl="1h", key="x" * 40)
    with pytest.raises(TokenError, match="signed"):
        verify_token(token, key=KEY)


def test_an_unsigned_token_is_refused():
    token = jwt.encode(
        {"sub": "s", "scopes": ["*"], "iss": "aifap", "exp": 2**40, "iat": 0, "jti": "x"},
        None,
        algorithm="none",
    )
    with pytest.raises(TokenError):
        verify_token(token, key=KEY)


def test_the_key_comes_from_the_environment_or_a_secret_file(monkeypatch, tmp_path):
    monkeypatch.delenv("AIFAP_SECRET_KEY", raising=False)
    monkeypatch.delenv("AIFAP_SECRET_KEY_FILE", raising=False)
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="AIFAP_SECRET_KEY"):
        secret_key()
    file = tmp_path / "key"
    file.write_text(KEY + "\n")
    monkeypatch.setenv("AIFAP_SECRET_KEY_FILE", str(file))
    get_settings.cache_clear()
    assert secret_key() == KEY
    monkeypatch.setenv("AIFAP_SECRET_KEY", "short")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        secret_key()


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("1h 30m", 5400), ("90s", 90), ("2w", 1209600)]
)
def test_ttls_read_like_durations(text, seconds):
    assert parse_ttl(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0s", "30 days", "d30", "-1h"])
def test_bad_ttls_are_refused(text):
    with pytest.raises(ConfigError, match="ttl"):
        parse_ttl(text)


def test_bearer_reads_the_authorization_header():
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer(None) is None


def test_admin_token_prints_a_scoped_token(monkeypatch):
    from aifap.cli import app

    monkeypatch.setenv("AIFAP_SECRET_KEY", KEY)
    get_settings.cache_clear()
    result = CliRunner().invoke(
        app, ["admin", "token", "--scope", "gateway:acct", "--session", "sess-1", "--ttl", "2h"]
    )
    assert result.exit_code == 0, result.output
    claims = verify_token(result.output.strip(), scope="gateway:acct")
    assert claims.session_id == "sess-1"
    assert claims.subject == "sess-1"
    assert claims.expires_at - claims.issued_at == timedelta(hours=2)


def test_the_verifier_remembers_a_valid_token_until_it_expires(monkeypatch):
    import aifap.auth.tokens as tokens

    verify = TokenVerifier("gateway:acct", key=KEY)
    now = datetime.now(UTC)
    token = issue_token("sess-1", ["gateway:acct"], ttl="1h", key=KEY, now=now)
    calls = []
    real = tokens.verify_token
    monkeypatch.setattr(tokens, "verify_token", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = verify(token)
    assert verify(token) == first
    assert len(calls) == 1  # the signature was checked once
    # past its expiry it is not taken from memory: verified again (and refused by jwt then)
    monkeypatch.setattr(tokens.time, "time", lambda: (now + timedelta(hours=2)).timestamp())
    verify(token)
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (None, TokenError),
        ("garbage", TokenError),
        ("other-account", ScopeError),
        ("other-key", TokenError),
    ],
)
def test_the_verifier_refuses_what_verify_token_refuses_every_time(token, error):
    verify = TokenVerifier("gateway:acct", key=KEY)
    if token == "other-account":
        token = issue_token("s", ["gateway:other"], ttl="1h", key=KEY)
    elif token == "other-key":
        token = issue_token("s", ["gateway:acct"], ttl="1h", key="o" * 40)
    for _ in range(2):  # a refusal is not remembered as anything
        with pytest.raises(error):
            verify(token)
