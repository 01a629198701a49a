"""``SessionConfig``: everything a live or paper session needs, validated before it starts.

Load it from YAML or JSON with :func:`load_config`; every error names the field and
the rule. Secrets are ``SecretStr`` (or the names of environment variables that hold
them) and never reach logs, alerts or the database (:meth:`SessionConfig.redacted`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from aifap.core.errors import ConfigError
from aifap.core.markets import MarketType
from aifap.core.timeframes import parse_duration, timeframe_seconds
from aifap.exchange.credentials import Credentials
from aifap.exchange.factories import check_mode, gateways
from aifap.live.schedule import parse_cron
from aifap.redaction import redact_url
from aifap.retry import DEFAULT_POLICY, RetryPolicy
from aifap.settings import get_settings

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


def _duration(value: Any, field: str, *, positive: bool = True) -> str:
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None
    if positive and delta <= timedelta(0):
        raise ValueError(f"{field} must be > 0, was {value!r}")
    return value if isinstance(value, str) else f"{delta.total_seconds():g}s"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClockConfig(_Frozen):
    """Which clock drives the session.

    ``wall``: real time. ``replay``: simulated time from ``start`` over stored or
    synthetic bars; ``speed`` simulated seconds per real second, or 0 for "as fast as
    the processes go" (time jumps to the next due event once every process is idle).
    Over the built-in synthetic market ``start`` defaults to its last ``trading_duration``.
    """

    kind: Literal["wall", "replay"] = "wall"
    speed: float = Field(default=0.0, ge=0)
    start: datetime | None = None

    @model_validator(mode="after")
    def _utc_start(self) -> ClockConfig:
        if self.start is not None and self.start.tzinfo is None:
            object.__setattr__(self, "start", self.start.replace(tzinfo=UTC))
        return self


class RetryConfig(_Frozen):
    """The retry budget of exchange calls (the gateway's ``RetryPolicy``).

    Waits are seconds, as numbers or durations (``0.5``, ``"2s"``); the defaults are
    the seed's: 3 attempts, exponential back-off from 0.5 s up to 8 s, at most 60 s in
    all (``max_elapsed: null`` for no time limit).
    """

    max_attempts: int = Field(default=3, ge=1)
    initial_wait: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=8.0, ge=0)
    max_elapsed: float | None = Field(default=60.0, gt=0)

    @field_validator("initial_wait", "max_wait", "max_elapsed", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_duration(value).total_seconds()
            except ValueError as exc:
                raise ValueError(f"{info.field_name}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _order(self) -> RetryConfig:
        if self.max_wait < self.initial_wait:
            raise ValueError(
                f"max_wait must be >= initial_wait ({self.initial_wait}), was {self.max_wait}"
            )
        return self

    def policy(self) -> RetryPolicy:
        """Return the ``RetryPolicy`` this block describes (jitter as the default's)."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_wait=self.initial_wait,
            max_wait=self.max_wait,
            jitter=min(DEFAULT_POLICY.jitter, self.initial_wait),
            max_elapsed=self.max_elapsed,
        )


class SessionConfig(_Frozen):
    """The validated configuration of one trading session (see the module docstring)."""

    session_id: str | None = None
    trader: str = Field(min_length=1)
    strategy_name: str = Field(min_length=1)
    strategy: str = Field(min_length=1, description="module, module:function or file.py[:fn]")
    strategy_version: str | None = None
    config_dict: dict[str, Any] = Field(default_factory=dict)
    exchange: str = Field(default="paper", description="a registered gateway name")
    market: MarketType = MarketType.FUTURES
    mode: Literal["paper", "demo", "live"] = "paper"
    account: str = Field(default="default", min_length=1)
    symbols: tuple[str, ...] = Field(min_length=1)
    allocation: Decimal = Field(gt=0)
    leverage: int = Field(default=1, ge=1, le=125)
    rebalance_every: str | None = "5m"
    rebalance_cron: str | None = None
    threshold: Decimal = Field(default=Decimal("0.01"), ge=0, lt=1)
    max_gross_weight: Decimal = Field(default=Decimal(1), gt=0)
    trading_duration: str = "720h 0m"
    finwatcher_interval: str = "60s"
    finwatcher_restarts: int = Field(default=3, ge=0)
    strategy_time_limit: str = "30s"
    max_strategy_failures: int = Field(default=3, ge=1)
    bar_timeframe: str = "1m"
    bar_max_age: str = "5m"
    bar_source: str = "synthetic"
    on_foreign_position: Literal["refuse", "adopt"] = "refuse"
    alert_channel: str = "console"
    results_database_url: SecretStr | None = None
    market_database_url: SecretStr | None = None
    exchange_url: str | None = None
    credentials: Credentials = Field(default_factory=Credentials)
    gateway_url: str | None = Field(
        default=None, description="the account's gateway service (exchange: remote)"
    )
    gateway_token: SecretStr | None = None
    gateway_token_env: str | None = None
    workdir: Path | None = None
    clock: ClockConfig = Field(default_factory=ClockConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    lease_ttl: str = "60s"

    @field_validator("session_id")
    @classmethod
    def _session_id(cls, value: str | None) -> str | None:
        if value is not None and not SESSION_ID.match(value):
            raise ValueError(f"must be 1-40 characters of [A-Za-z0-9_-], was {value!r}")
        return value

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, value: str) -> str:
        if value not in gateways:
            raise ValueError(
                f"must be a registered gateway ({', '.join(gateways.names())}), was {value!r}"
            )
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for symbol in value:
            if not SYMBOL.match(symbol):
                raise ValueError(f"each symbol must be a compact id like BTCUSDT, was {symbol!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"symbols must be unique, was {list(value)}")
        return value

    @field_validator(
        "trading_duration",
        "finwatcher_interval",
        "strategy_time_limit",
        "bar_max_age",
        "lease_ttl",
        "rebalance_every",
        mode="before",
    )
    @classmethod
    def _durations(cls, value: Any, info: Any) -> Any:
        return None if value is None else _duration(value, info.field_name)

    @field_validator("bar_timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        timeframe_seconds(value)
        return value

    @field_validator("rebalance_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cron(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _replay_start(cls, data: Any) -> Any:
        """Start a replay over the built-in market at its last ``trading_duration``."""
        if not isinstance(data, dict):
            return data
        clock = data.get("clock")
        clock = clock.model_dump() if isinstance(clock, ClockConfig) else clock
        if not isinstance(clock, dict) or clock.get("kind") != "replay" or clock.get("start"):
            return data
        if data.get("bar_source", "synthetic") != "synthetic":
            raise ValueError("clock.start must be set for a replay over stored bars")
        from aifap.data.synthetic import DEFAULT_DAYS, DEFAULT_END

        try:
            duration = parse_duration(data.get("trading_duration", "720h 0m"))
        except ValueError:
            return data  # the field's own validator names the problem
        span = min(duration, timedelta(days=DEFAULT_DAYS - 1))
        start = (DEFAULT_END - span).replace(minute=0, second=0, microsecond=0)
        return {**data, "clock": {**clock, "start": start}}

    @model_validator(mode="after")
    def _rules(self) -> SessionConfig:
        if (self.rebalance_every is None) == (self.rebalance_cron is None):
            raise ValueError("give exactly one of rebalance_every / rebalance_cron")
        if self.market is MarketType.SPOT and self.leverage != 1:
            raise ValueError(f"leverage must be 1 on spot, was {self.leverage}")
        check_mode(self.exchange, self.mode)
        if self.clock.kind == "replay" and self.clock.start is None:
            raise ValueError("clock.start must be set for a replay clock")
        if self.mode == "live" and self.clock.kind != "wall":
            raise ValueError("clock.kind must be 'wall' in live mode")
        if self.exchange == "remote":
            self._remote_rules()
        elif self.gateway_url is not None:
            raise ValueError(
                f"gateway_url must only be set with exchange 'remote', was set with "
                f"{self.exchange!r}"
            )
        elif self.mode != "paper" and (
            not self.credentials.given("api_key")
        ):
            raise ValueError(
                f"credentials.api_key (or api_key_env) is required in {self.mode} mode"
            )
        if self.session_id is None:
            derived = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{self.trader}-{self.strategy_name}")[:40]
            object.__setattr__(self, "session_id", derived.strip("-") or "session")
        return self

    def _remote_rules(self) -> None:
        """A remote session names its gateway service and a token, and holds no keys."""
        if not self.gateway_url or not self.gateway_url.startswith(("http://", "https://")):
            raise ValueError(
                f"gateway_url must be the gateway service's http(s) URL with exchange "
                f"'remote', was {self.gateway_url!r}"
            )
        if self.gateway_token is None and self.gateway_token_env is None:
            raise ValueError(
                "gateway_token (or gateway_token_env) is required with exchange 'remote'"
            )
        held = [k for k, v in self.credentials.model_dump().items() if v is not None]
        if held:
            raise ValueError(
                f"credentials must be empty with exchange 'remote' (the gateway service "
                f"holds the keys), was set: {', '.join(held)}"
            )

    def gateway_token_value(self) -> str | None:
        """Return the gateway service token (given, or read from ``gateway_token_env``)."""
        if self.gateway_token is not None:
            return self.gateway_token.get_secret_value()
        if self.gateway_token_env is not None:
            return os.environ.get(self.gateway_token_env)
        return None

    # --- derived values -------------------------------------------------------------

    @property
    def id(self) -> str:
        """Return the session id (given, or derived from trader and strategy name)."""
        assert self.session_id is not None
        return self.session_id

    @property
    def duration(self) -> timedelta:
        """Return the trading duration."""
        return parse_duration(self.trading_duration)

    @property
    def finwatcher_seconds(self) -> float:
        """Return the finwatcher interval in seconds."""
        return parse_duration(self.finwatcher_interval).total_seconds()

    @property
    def time_limit_seconds(self) -> float:
        """Return the strategy time limit in seconds."""
        return parse_duration(self.strategy_time_limit).total_seconds()

    @property
    def account_label(self) -> str:
        """Return the account name: ``account``, or the session id for a default paper account."""
        if self.mode == "paper" and self.account == "default":
            return self.id
        return self.account

    @property
    def account_key(self) -> str:
        """Return the account the one-account-one-session lease is taken on."""
        return f"{self.exchange}:{self.mode}:{self.market.value}:{self.account_label}"

    @property
    def working_directory(self) -> Path:
        """Return the session's working directory (hand-off file, logs, heartbeat)."""
        if self.workdir is not None:
            return self.workdir
        return get_settings().data_dir / "sessions" / self.id

    def results_url(self) -> str:
        """Return the results database URL (the session's own, or the settings')."""
        from aifap.db import database_url

        if self.results_database_url is not None:
            return self.results_database_url.get_secret_value()
        return database_url("results")

    def market_url(self) -> str:
        """Return the market database URL (the session's own, or the settings')."""
        from aifap.db import database_url

        if self.market_database_url is not None:
            return self.market_database_url.get_secret_value()
        return database_url("market")

    def redacted(self) -> dict[str, Any]:
        """Return the config as JSON-ready data with every secret and URL password hidden."""
        data = self.model_dump(mode="json", exclude={"credentials"})
        for key in ("results_database_url", "market_database_url"):
            secret: SecretStr | None = getattr(self, key)
            data[key] = None if secret is None else redact_url(secret.get_secret_value())
        data["gateway_token"] = None if self.gateway_token is None else "**********"
        data["credentials"] = {
            k: ("**********" if v is not None else None)
            for k, v in self.credentials.model_dump(mode="python").items()
        }
        return data


CONFIG_NAME = "session.yaml"  # in a session's working directory
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def config_file(path: str | Path) -> Path | None:
    """Return the session config that ``path`` names, or None when it names none.

    ``path`` is a session's working directory (its ``session.yaml``) or a YAML or JSON
    config file itself.
    """
    if Path(path).is_dir():
        file = _in_workdir(path)
        return file if file.is_file() else None
    file = Path(path)
    return file if file.is_file() and file.suffix.lower() in CONFIG_SUFFIXES else None


def _in_workdir(path: str | Path) -> Path:
    # a session's working directory stands for its session.yaml
    file = Path(path)
    return file / CONFIG_NAME if file.is_dir() else file


@dataclass(frozen=True, slots=True)
class SessionRef:
    """A session named on a command line: its id, results database and config (if given)."""

    session_id: str
    url: str
    config: SessionConfig | None = None


def resolve_session(
    text: str, db: str | None = None, *, what: str = "SESSION", also: str = ""
) -> SessionRef:
    """Resolve SESSION: a working directory, its ``session.yaml``, or an id (with ``db``).

    A config's own results database is used unless ``db`` is given; an id is looked up
    in ``db`` (default: the configured results database).

    Args:
        text: the command line's SESSION.
        db: the results database URL given with ``--db``.
        what: the argument's name in the error message.
        also: what else the caller accepts, for the error message (``", a saved
            backtest directory"``).

    Raises:
        ConfigError: ``text`` looks like a path but names no session config, or the
            config is invalid.
    """
    file = config_file(text)
    if file is not None:
        config = load_config(file)
        return SessionRef(config.id, db or config.results_url(), config)
    if Path(text).exists() or "/" in text or text.endswith(CONFIG_SUFFIXES):
        raise ConfigError(
            f"{what} must be a session directory, {CONFIG_NAME}{also} or a session id, "
            f"was {text}"
        )
    from aifap.db import database_url

    return SessionRef(text, db or database_url("results"))


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "config"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "session config is invalid: " + "; ".join(lines)


def make_config(data: dict[str, Any] | SessionConfig) -> SessionConfig:
    """Validate ``data`` into a ``SessionConfig``; raise ConfigError naming each field."""
    if isinstance(data, SessionConfig):
        return data
    try:
        return SessionConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None


def load_config(path: str | Path) -> SessionConfig:
    """Read a session config and validate it.

    Args:
        path: a YAML or JSON file, or a session's working directory (its
            ``session.yaml``, as ``aifap.promote`` and ``aifap demo`` write it).
    """
    file = _in_workdir(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"session config must be a readable file, was {str(file)!r}") from exc
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"session config {file.name} must be valid YAML or JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"session config must be a mapping, was {type(data).__name__}")
    return make_config(data)


def dump_config(config: SessionConfig, path: str | Path) -> Path:
    """Write ``config`` as YAML (secrets resolved to env names only if given that way)."""
    file = Path(path)
    data = config.model_dump(mode="json", exclude_none=True)
    creds = {}
    for key, value in config.credentials.model_dump(mode="python", exclude_none=True).items():
        creds[key] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    for key in ("results_database_url", "market_database_url", "gateway_token"):
        secret = getattr(config, key)
        if secret is not None:
            data[key] = secret.get_secret_value()
    data["credentials"] = creds
    file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return file
