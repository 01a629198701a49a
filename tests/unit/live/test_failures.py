"""Each known cause of a stopped session reads as one line: session, account, cause, advice."""

from __future__ import annotations

import logging
from pathlib import Path

import ccxt
import pytest

from aifap.core.errors import (
    ConfigError,
    ExchangeAuthError,
    InsufficientFundsError,
    RetryExhaustedError,
    StrategyTimeoutError,
    TransientGatewayError,
    UnknownSymbolError,
)
from aifap.exchange.ccxt.errors import map_ccxt_error
from aifap.live.config import make_config
from aifap.live.failures import config_failure, failure_line, session_failure
from aifap.live.lease import LeaseConflictError
from aifap.live.logs import FORMAT, ConsoleFormatter, TracebackSkipper
from aifap.redaction import Redactor

HEAD = "session momentum_v2-ab12 (account bitget:main): "


def _line(exc: BaseException | str, market: str = "futures") -> str:
    return failure_line("momentum_v2-ab12", "bitget:main", exc, market=market,
                        redact=lambda text: text)


def _retry_exhausted() -> RetryExhaustedError:
    try:
        try:
            raise TransientGatewayError("ExchangeNotAvailable: bitget 503 Service Unavailable")
        except TransientGatewayError as exc:
            raise RetryExhaustedError(f"fetch_balance failed after 3 attempts: {exc}") from exc
    except RetryExhaustedError as exc:
        return exc


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (
            map_ccxt_error(ccxt.AuthenticationError('bitget {"code":"40009"}')),
            'the exchange rejected the API key (AuthenticationError: bitget {"code":"40009"}). '
            "Check api_key_env/secret_env/password_env (or api_key/secret/password) and that "
            "the key is enabled for futures trading.",
        ),
        (
            map_ccxt_error(ccxt.PermissionDenied('bitget {"code":"40014"}')),
            "the exchange refused the API key a permission (PermissionDenied: bitget "
            '{"code":"40014"}). Check that the key is enabled for futures trading (read and '
            "trade) and that this machine's IP address is on its whitelist.",
        ),
        (
            map_ccxt_error(ccxt.InsufficientFunds('bitget {"code":"43012"}')),
            "the account lacks the balance or margin for an order (InsufficientFunds: bitget "
            '{"code":"43012"}). Check the account\'s available USDT against allocation and '
            "leverage, and what else uses its margin.",
        ),
        (
            UnknownSymbolError("symbols: each must be tradable on bitget futures, DOGEUSDT was"
                               " not"),
            "the exchange does not list a session symbol (UnknownSymbolError: symbols: each must "
            "be tradable on bitget futures, DOGEUSDT was not). Check symbols (compact ids such as "
            "BTCUSDT) against the exchange's futures markets.",
        ),
        (
            _retry_exhausted(),
            "the exchange stayed unreachable past the retry budget (RetryExhaustedError: "
            "fetch_balance failed after 3 attempts: ExchangeNotAvailable: bitget 503 Service "
            "Unavailable). Check the exchange's status and this machine's network "
            "(exchange_url); the retry settings are retry.*. A restart resumes the unfinished "
            "cycle.",
        ),
        (
            ConfigError("session config is invalid: allocation: Input should be greater than 0"),
            "the session config is invalid (ConfigError: session config is invalid: allocation: "
            "Input should be greater than 0). Fix the field named above in the session config.",
        ),
        (
            LeaseConflictError("account bitget:live:futures:main: one session per account"),
            "another session holds the account (LeaseConflictError: account "
            "bitget:live:futures:main: one session per account). Stop that session (aifap live "
            "status, aifap live stop) or trade other symbols.",
        ),
        (
            StrategyTimeoutError("strategy must return within 30 s"),
            "the strategy failed (StrategyTimeoutError: strategy must return within 30 s). Fix "
            "the strategy; its traceback is in session.log.",
        ),
        (
            KeyError("boom"),
            "unexpected error (KeyError: 'boom'). See session.log for the traceback.",
        ),
        (
            "main process died (exit code -9)",
            "main process died (exit code -9). See session.log for the traceback.",
        ),
    ],
    ids=["auth", "permissions", "insufficient-balance", "unknown-symbol", "retry-exhausted",
         "invalid-config", "lease-conflict", "strategy", "unexpected", "dead-process"],
)
def test_a_known_cause_reads_as_one_line_with_what_to_check(problem, expected) -> None:
    line = _line(problem)
    assert line == HEAD + expected
    assert "\n" not in line


def test_permission_and_auth_errors_map_from_ccxt() -> None:
    assert type(map_ccxt_error(ccxt.PermissionDenied("x"))).__name__ == "ExchangePermissionError"
    assert isinstance(map_ccxt_error(ccxt.AccountSuspended("x")), ExchangeAuthError)
    assert type(map_ccxt_error(ccxt.AuthenticationError("x"))) is ExchangeAuthError


def test_the_advice_follows_the_market_type() -> None:
    assert "enabled for spot trading" in _line(ExchangeAuthError("x"), market="spot")


def test_a_long_or_multi_line_message_stays_one_short_line() -> None:
    line = _line(InsufficientFundsError("first line\nsecond line " + "x" * 1000))
    assert "\n" not in line
    assert "first line second line" in line
    assert len(line) < 600


def test_secrets_are_redacted_from_the_line() -> None:
    redact = Redactor(["s3cr3t-value"])
    line = failure_line("s1", "bitget:main", ExchangeAuthError("key s3cr3t-value refused"),
                        redact=redact)
    assert "s3cr3t-value" not in line


def test_session_failure_names_the_session_and_its_account() -> None:
    config = make_config({
        "session_id": "momentum_v2-ab12", "trader": "t", "strategy_name": "s",
        "strategy": "m:f", "symbols": ["BTCUSDT"], "allocation": 100, "exchange": "bitget",
        "mode": "live", "account": "main", "credentials": {"api_key_env": "K"},
    })
    line = session_failure(config, InsufficientFundsError("InsufficientFunds: 43012"))
    assert line.startswith(HEAD + "the account lacks the balance")


def test_keys_read_from_the_environment_are_redacted_too(monkeypatch) -> None:
    monkeypatch.setenv("AIFAP_TEST_FAILURE_SECRET", "env-secret-value-123")
    config = make_config({
        "session_id": "s1", "trader": "t", "strategy_name": "s", "strategy": "m:f",
        "symbols": ["BTCUSDT"], "allocation": 100, "exchange": "bitget", "mode": "live",
        "credentials": {"api_key_env": "K", "secret_env": "AIFAP_TEST_FAILURE_SECRET"},
    })
    line = session_failure(config, ExchangeAuthError("secret env-secret-value-123 refused"))
    assert "env-secret-value-123" not in line
    assert "secret *** refused" in line


def test_an_unreadable_config_is_named_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("session_id: [", encoding="utf-8")
    line = config_failure(path, ConfigError("session config broken.yaml must be valid YAML"))
    assert line.startswith("session ? (config broken.yaml): the session config is invalid")


def test_the_console_formatter_keeps_tracebacks_in_the_file_only() -> None:
    try:
        raise ValueError("inner")
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("why",),
                                   (type(exc), exc, exc.__traceback__))
    for name, value in {"session_id": "s1", "cycle": "-", "role": "parent"}.items():
        setattr(record, name, value)
    text = ConsoleFormatter(FORMAT).format(record)
    assert text.endswith("x: failed: why")
    assert "Traceback" not in text
    assert "Traceback" in logging.Formatter(FORMAT).format(record)  # the file keeps it


def test_the_runner_echo_skips_traceback_lines() -> None:
    lines = [
        "2024-01-01 00:00:00,000 ERROR [s c=- parent pid=1] x: failed: Traceback (most recent "
        "call last):",
        '  File "a.py", line 1, in <module>',
        "ValueError: inner",
        "2024-01-01 00:00:01,000 INFO [s c=- parent pid=1] x: next",
    ]
    assert list(TracebackSkipper()(lines)) == [
        "2024-01-01 00:00:00,000 ERROR [s c=- parent pid=1] x: failed: (traceback in "
        "session.log)",
        "2024-01-01 00:00:01,000 INFO [s c=- parent pid=1] x: next",
    ]
