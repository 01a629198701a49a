"""Why a session stopped, in one line a trader can act on.

Every exit path of a session (a start that fails, a child process that gives up, a
child that dies, the papermill runner) turns its failure into the same one-line
message here::

    session momentum_v2-ab12 (account bitget:main): the exchange rejected the API key
    (AuthenticationError: bitget {"code":"40009",...}). Check api_key_env/secret_env/
    password_env (or api_key/secret/password) and that the key is enabled for futures
    trading.

The line names the session, the account and the cause, and says what to check; the
traceback goes to the session log and the admin alert channel only. Known causes are
a table from exception type to cause and advice (the first matching row wins, so a
subclass comes before its base); anything else is an unexpected error that points at
the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from aifap.core.errors import (
    AifapError,
    ConfigError,
    DataError,
    ExchangeAuthError,
    ExchangePermissionError,
    GatewayError,
    InsufficientFundsError,
    OrderRejectedError,
    RetryExhaustedError,
    StrategyError,
    UnknownSymbolError,
)
from aifap.live.lease import LeaseConflictError

if TYPE_CHECKING:
    from aifap.live.config import SessionConfig

MAX_DETAIL = 300  # characters of the exception's own message kept in the line


@dataclass(frozen=True, slots=True)
class Cause:
    """A known cause: what happened and what to check (``{market}`` is filled in)."""

    what: str
    check: str


# first match wins: subclasses before their bases
CAUSES: tuple[tuple[type[BaseException], Cause], ...] = (
    (
        LeaseConflictError,
        Cause(
            "another session holds the account",
            "Stop that session (aifap live status, aifap live stop) or trade other symbols.",
        ),
    ),
    (
        UnknownSymbolError,
        Cause(
            "the exchange does not list a session symbol",
            "Check symbols (compact ids such as BTCUSDT) against the exchange's {market} "
            "markets.",
        ),
    ),
    (
        ConfigError,
        Cause(
            "the session config is invalid",
            "Fix the field named above in the session config.",
        ),
    ),
    (
        ExchangePermissionError,
        Cause(
            "the exchange refused the API key a permission",
            "Check that the key is enabled for {market} trading (read and trade) and that "
            "this machine's IP address is on its whitelist.",
        ),
    ),
    (
        ExchangeAuthError,
        Cause(
            "the exchange rejected the API key",
            "Check api_key_env/secret_env/password_env (or api_key/secret/password) and that "
            "the key is enabled for {market} trading.",
        ),
    ),
    (
        InsufficientFundsError,
        Cause(
            "the account lacks the balance or margin for an order",
            "Check the account's available USDT against allocation and leverage, and what "
            "else uses its margin.",
        ),
    ),
    (
        RetryExhaustedError,
        Cause(
            "the exchange stayed unreachable past the retry budget",
            "Check the exchange's status and this machine's network (exchange_url); the "
            "retry settings are retry.*. A restart resumes the unfinished cycle.",
        ),
    ),
    (
        OrderRejectedError,
        Cause(
            "the exchange rejected an order",
            "Check the symbol's order rules (minimum size, precision, leverage) on the "
            "exchange.",
        ),
    ),
    (
        GatewayError,
        Cause(
            "the exchange returned an error",
            "Check the exchange's status and the account; the traceback is in session.log.",
        ),
    ),
    (
        StrategyError,
        Cause(
            "the strategy failed",
            "Fix the strategy; its traceback is in session.log.",
        ),
    ),
    (
        DataError,
        Cause(
            "the market data is unusable",
            "Check bar_source and the market database; details are in session.log.",
        ),
    ),
)
CAUSES += (
    (AifapError, Cause("the session stopped", "See session.log for the details.")),
)
UNEXPECTED = Cause("unexpected error", "See session.log for the traceback.")
_TYPE_PREFIX = re.compile(r"^[A-Z][A-Za-z0-9_]*: ")


def cause_of(exc: BaseException) -> Cause | None:
    """Return the known cause of ``exc``, or None for an unexpected error."""
    for kind, cause in CAUSES:
        if isinstance(exc, kind):
            return cause
    return None


def account_label(config: SessionConfig) -> str:
    """Return the account as a trader names it: ``bitget:main`` (``bitget demo:main``)."""
    venue = config.exchange if config.mode != "demo" else f"{config.exchange} demo"
    return f"{venue}:{config.account_label}"


def describe(exc: BaseException, redact: Callable[[str], str] | None = None) -> str:
    """Return ``exc`` as ``Type: message`` on one line, redacted and shortened."""
    text = " ".join(str(exc).split())
    if not _TYPE_PREFIX.match(text):  # mapped gateway errors already name ccxt's type
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 3] + "..."
    return _redactor(redact)(text)


def failure_line(
    session_id: str,
    account: str,
    problem: BaseException | str,
    *,
    market: str = "futures",
    redact: Callable[[str], str] | None = None,
) -> str:
    """Return the one-line message that ends a session stopped by ``problem``.

    Args:
        session_id: the session id.
        account: the account label (see :func:`account_label`).
        problem: the exception, or a reason the supervisor wrote (a dead process).
        market: ``futures`` or ``spot``, for the advice.
        redact: hides secrets (default: the process-wide redactor).
    """
    head = f"session {session_id} (account {account})"
    if isinstance(problem, str):
        text = _redactor(redact)(" ".join(problem.split()).rstrip("."))
        return f"{head}: {text}. {UNEXPECTED.check}"
    cause = cause_of(problem) or UNEXPECTED
    check = cause.check.format(market=market)
    return f"{head}: {cause.what} ({describe(problem, redact)}). {check}"


def session_failure(config: SessionConfig, problem: BaseException | str) -> str:
    """Return :func:`failure_line` for a session's config (its keys redacted, env ones too)."""
    from aifap.redaction import REDACTOR, Redactor

    own = Redactor(config.credentials.resolve(strict=False).values())
    return failure_line(
        config.id,
        account_label(config),
        problem,
        market=config.market.value,
        redact=lambda text: own(REDACTOR(text)),
    )


def _redactor(redact: Callable[[str], str] | None) -> Callable[[str], str]:
    if redact is not None:
        return redact
    from aifap.redaction import REDACTOR

    redactor: Callable[[str], str] = REDACTOR
    return redactor


def config_failure(path: str | Path, exc: BaseException) -> str:
    """Return the one-line message of a session config that cannot start a session."""
    file = Path(path)
    session_id = _raw_session_id(file) or "?"
    cause = cause_of(exc) or UNEXPECTED
    return (
        f"session {session_id} (config {file.name}): {cause.what} ({describe(exc)}). "
        f"{cause.check.format(market='futures')}"
    )


def read_failure(workdir: Path) -> str | None:
    """Return the one-line reason a session wrote when it failed (its final heartbeat)."""
    from aifap.live.heartbeat import read_heartbeat

    beat = read_heartbeat(workdir) or {}
    if beat.get("status") != "failed" or not beat.get("reason"):
        return None
    return str(beat["reason"])


def _raw_session_id(file: Path) -> str | None:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    value = data.get("session_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
