"""The API's request and response bodies (pydantic); OpenAPI is generated from them.

Amounts are decimals (sent and answered as JSON strings or numbers), at most 10^15 with
8 decimals, so every value fits the database's NUMERIC(38, 18). Names are restricted
to printable identifiers: they end up in paths, session ids and log lines.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aifap.exchange.remote.account import ACCOUNT_NAME

MAX_ID = 2_147_483_647  # ids are 32-bit integers on PostgreSQL
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="The row's id.")]
Money = Annotated[Decimal, Field(gt=0, le=Decimal("1e15"), decimal_places=8)]
Fraction = Annotated[Decimal, Field(gt=0, le=1, decimal_places=8)]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
Password = Annotated[SecretStr, Field(min_length=8, max_length=256)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,30}$")]
StrategySpec = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_./:-]{1,500}$",
        description="module:function, a .py file (path.py[:function]) or a module.",
    ),
]
Interval = Annotated[str, Field(pattern=r"^[0-9]{1,6}[smhdw]$", description="e.g. 5m, 1h, 1d")]
Channel = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
OnBreach = Literal["freeze", "flatten"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Limits(_Body):
    """A manager's risk limits (None: no limit) and what a breach does."""

    max_drawdown: Fraction | None = Field(
        default=None, description="Fraction of the traders' combined peak PV."
    )
    max_gross_exposure: Money | None = Field(
        default=None, description="Sum of |size × mark price| of open positions (quote)."
    )
    max_daily_loss: Money | None = Field(
        default=None, description="Combined PV lost since the first snapshot of the UTC day."
    )
    on_breach: OnBreach = Field(
        default="freeze", description="freeze: stop the traders; flatten: stop and close."
    )


class ManagerCreate(_Body):
    """A new manager: its login, capital budget and risk limits."""

    username: Username
    password: Password
    budget: Money
    limits: Limits = Field(default_factory=Limits)


class ManagerPatch(_Body):
    """Fields of a manager to change (omitted: unchanged)."""

    budget: Money | None = None
    limits: Limits | None = None
    password: Password | None = None


class ManagerOut(BaseModel):
    """A manager as the API shows it (never a password or hash)."""

    id: int
    username: str
    budget: Decimal
    allocated: Decimal = Field(description="Sum of the traders' allocations.")
    limits: Limits
    breached: str | None = Field(description="Why its traders were stopped, if they were.")
    created: datetime


class TraderCreate(_Body):
    """A new trader: a strategy with capital, owned by a manager."""

    name: Name
    strategy: StrategySpec
    allocation: Money
    account_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="None: paper trading."
    )
    symbols: list[Symbol] = Field(min_length=1, max_length=50)
    rebalance_every: Interval = "5m"
    config: dict[str, Any] = Field(default_factory=dict, description="The config_dict.")
    manager_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The supervisor names the manager; a manager: itself.",
    )
    alert_channel: Channel = "console"
    session: dict[str, Any] = Field(
        default_factory=dict,
        description="Further session settings (clock, trading_duration, leverage...).",
    )


class TraderPatch(_Body):
    """Fields of a trader to change (omitted: unchanged)."""

    strategy: StrategySpec | None = None
    allocation: Money | None = None
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    symbols: list[Symbol] | None = Field(default=None, min_length=1, max_length=50)
    rebalance_every: Interval | None = None
    config: dict[str, Any] | None = None
    alert_channel: Channel | None = None
    session: dict[str, Any] | None = None


class TraderOut(BaseModel):
    """A trader and its session id (results are under /results/sessions/{session_id})."""

    id: int
    manager_id: int
    name: str
    strategy: str
    strategy_version: str | None
    allocation: Decimal
    account_id: int | None
    symbols: list[str]
    rebalance_every: str
    config: dict[str, Any]
    alert_channel: str
    session: dict[str, Any]
    state: str
    session_id: str
    created: datetime


class TraderStatus(BaseModel):
    """A trader's session as its launcher sees it."""

    trader_id: int
    session_id: str
    state: str
    cycle: int | None = None
    sim_time: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    heartbeat_age: float | None = None


class TraderLogs(BaseModel):
    """The last lines of a trader's session log."""

    trader_id: int
    lines: list[str]


Key = Annotated[SecretStr, Field(min_length=1, max_length=512)]


def check_gateway_url(value: str) -> str:
    """Return ``value`` if it is a gateway service's http(s) URL, else raise ValueError.

    No user or password (it would be stored and shown), no query or fragment.
    """
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user or password (the token authenticates)")
    try:
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError:
        raise ValueError(f"must have a valid port, was {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"must be the gateway service's http(s) URL (scheme, host, optional port and "
            f"path; no query or fragment), was {value!r}"
        )
    return value


class AccountCreate(_Body):
    """A new exchange account: its keys (stored encrypted, never answered), or its gateway.

    Give either ``api_key`` and ``secret`` (and ``passphrase`` where the venue has one),
    or ``gateway_url`` and ``gateway_account``: the gateway service (``aifap serve
    gateway``) that holds the account's keys, and the account name of its ACCOUNT.yaml.
    Sessions on Kubernetes trade only through gateway accounts.
    """

    venue: Annotated[str, Field(pattern=r"^[a-z0-9]{2,32}$")]
    market: Literal["futures", "spot"] = "futures"
    api_key: Key | None = None
    secret: Key | None = None
    passphrase: Key | None = None
    gateway_url: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        default=None,
        description="The gateway service's URL, e.g. "
        "http://gateway-bitget-main.fin-finwrapper.svc.cluster.local:8920.",
    )
    gateway_account: Annotated[str, Field(pattern=ACCOUNT_NAME)] | None = Field(
        default=None, description="The account the gateway serves (token scope gateway:NAME)."
    )
    demo: bool = True
    manager_id: int | None = Field(default=None, ge=1, le=MAX_ID)

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        return None if value is None else check_gateway_url(value)

    @model_validator(mode="after")
    def _keys_or_gateway(self) -> AccountCreate:
        keys = [n for n in ("api_key", "secret", "passphrase") if getattr(self, n) is not None]
        gateway = [n for n in ("gateway_url", "gateway_account") if getattr(self, n) is not None]
        if keys and gateway:
            raise ValueError(
                f"give either the keys (api_key, secret, passphrase) or the gateway "
                f"(gateway_url, gateway_account), was both: {', '.join(keys + gateway)}"
            )
        if not keys and not gateway:
            raise ValueError(
                "give either api_key and secret, or gateway_url and gateway_account, "
                "was neither"
            )
        if keys and (self.api_key is None or self.secret is None):
            missing = "api_key" if self.api_key is None else "secret"
            raise ValueError(f"{missing} must be given with the other keys, was missing")
        if gateway and len(gateway) == 1:
            missing = "gateway_account" if self.gateway_account is None else "gateway_url"
            raise ValueError(f"{missing} must be given with {gateway[0]}, was missing")
        return self


class AccountOut(BaseModel):
    """An exchange account without any key (a gateway account: its gateway service)."""

    id: int
    manager_id: int
    venue: str
    market: str
    demo: bool
    gateway_url: str | None = Field(description="None: the platform holds the keys.")
    gateway_account: str | None
    created: datetime


class TokenOut(BaseModel):
    """The OAuth2 token answer."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)


class RefreshIn(_Body):
    """A refresh token to exchange (or, at logout, to revoke)."""

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)]


class LogoutIn(_Body):
    """At logout: the refresh token to revoke with the access token (optional)."""

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class Breach(BaseModel):
    """A manager's limit broken and the traders it stopped."""

    manager_id: int
    reason: str
    action: OnBreach
    stopped: list[int]


class HaltOut(BaseModel):
    """What the halt-all call stopped."""

    stopped: list[int]


class Message(BaseModel):
    """A plain answer."""

    detail: str
