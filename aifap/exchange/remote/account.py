"""``AccountConfig``: the one exchange account a gateway service serves (its ACCOUNT.yaml).

::

    account: acct-1            # the token scope is gateway:acct-1
    venue: bitget
    market: futures
    demo: true
    leverage: 2
    keys:                      # each: the value, an env variable, or a mounted file
      api_key_env: BITGET_API_KEY
      secret_file: /run/secrets/bitget/secret
      password_env: BITGET_PASSPHRASE
    exchange_url: null         # the emulator's URL in tests
    rate_limit: true           # the venue's per-account limiter, shared by its sessions
    database_url: null         # client-id memory; default: the platform database
    retry: {max_attempts: 3, initial_wait: 0.5, max_wait: 8, max_elapsed: 60}

Only this process reads the keys; sessions hold a token scoped ``gateway:ACCOUNT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from aifap.core.errors import ConfigError
from aifap.core.markets import MarketType
from aifap.exchange.ccxt.gateway_config import CcxtConfig
from aifap.exchange.ccxt.venues import venue_names
from aifap.exchange.credentials import Credentials
from aifap.retry import DEFAULT_POLICY, RetryPolicy

ACCOUNT_NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryBudget(_Frozen):
    """The service's retry budget of exchange calls (seconds)."""

    max_attempts: int = Field(default=DEFAULT_POLICY.max_attempts, ge=1)
    initial_wait: float = Field(default=DEFAULT_POLICY.initial_wait, ge=0)
    max_wait: float = Field(default=DEFAULT_POLICY.max_wait, ge=0)
    max_elapsed: float | None = Field(default=DEFAULT_POLICY.max_elapsed, gt=0)

    def policy(self) -> RetryPolicy:
        """Return the ``RetryPolicy`` of this budget."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_wait=self.initial_wait,
            max_wait=max(self.max_wait, self.initial_wait),
            jitter=min(DEFAULT_POLICY.jitter, self.initial_wait),
            max_elapsed=self.max_elapsed,
        )


class AccountConfig(_Frozen):
    """One account on one venue and market type (see the module docstring)."""

    account: str = Field(pattern=ACCOUNT_NAME)
    venue: str = "bitget"
    market: MarketType = MarketType.FUTURES
    demo: bool = False
    leverage: int = Field(default=1, ge=1, le=125)
    leverage_by_symbol: dict[str, int] = Field(default_factory=dict)
    margin_mode: Literal["cross", "isolated"] = "cross"
    keys: Credentials = Field(default_factory=Credentials)
    exchange_url: str | None = None
    database_url: SecretStr | None = None
    timeout_ms: int = Field(default=10_000, gt=0)
    rate_limit: bool = True
    retry: RetryBudget = Field(default_factory=RetryBudget)

    @model_validator(mode="after")
    def _rules(self) -> AccountConfig:
        if self.venue not in venue_names():
            raise ValueError(f"venue must be one of {', '.join(venue_names())}, was {self.venue!r}")
        if self.market is MarketType.SPOT and self.leverage != 1:
            raise ValueError(f"leverage must be 1 on spot, was {self.leverage}")
        return self

    @property
    def scope(self) -> str:
        """Return the token scope that grants this account: ``gateway:ACCOUNT``."""
        return f"gateway:{self.account}"

    def ccxt_config(self) -> CcxtConfig:
        """Return the ccxt gateway settings of this account, keys resolved."""
        keys = self.keys.resolve(field="keys")
        return CcxtConfig(
            venue=self.venue,
            market_type=self.market,
            api_key=keys["api_key"],
            secret=keys["secret"],
            password=keys["password"],
            demo=self.demo,
            api_url=self.exchange_url,
            leverage=self.leverage,
            leverage_by_symbol=self.leverage_by_symbol,
            margin_mode=self.margin_mode,
            timeout_ms=self.timeout_ms,
            rate_limit=self.rate_limit,
            confirm_orders=False,
            retry=self.retry.policy(),
        )


def load_account(source: str | Path | dict[str, Any]) -> AccountConfig:
    """Return the account of a YAML file (or a mapping); errors name the field.

    Raises:
        ConfigError: unreadable file, not a mapping, or a field breaks a rule.
    """
    if isinstance(source, dict):
        data: Any = source
    else:
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"account file must be readable YAML, was {source}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"account config must be a mapping, was {type(data).__name__}")
    try:
        return AccountConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'account'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"account config is invalid: {problems}") from None
