"""The API's request and response bodies (pydantic); OpenAPI is generated from them.

Amounts are decimals (sent and answered as JSON strings or numbers), at most 10^15 with
8 decimals, so every value fits the database's NUMERIC(38, 18). Names are restricted
to printable identifiers: they end up in paths, session ids and log lines.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr

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


class AccountCreate(_Body):
    """A new exchange account; its keys are stored encrypted and never answered."""

    venue: Annotated[str, Field(pattern=r"^[a-z0-9]{2,32}$")]
    market: Literal["futures", "spot"] = "futures"
    api_key: Annotated[SecretStr, Field(min_length=1, max_length=512)]
    secret: Annotated[SecretStr, Field(min_length=1, max_length=512)]
    passphrase: Annotated[SecretStr, Field(min_length=1, max_length=512)] | None = None
    demo: bool = True
    manager_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class AccountOut(BaseModel):
    """An exchange account without any key."""

    id: int
    manager_id: int
    venue: str
    market: str
    demo: bool
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
