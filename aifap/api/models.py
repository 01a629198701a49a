"""The platform database's org model: users, managers, traders, exchange accounts, audit.

Created by the ``platform`` Alembic branch (``platform_0001_org``). Money columns are
:class:`~aifap.db.Amount` (exact decimals on both backends); times are UTC epoch
milliseconds. Exchange keys are stored only as ciphertext (:mod:`aifap.api.vault`); a
gateway account stores none: its keys live in its gateway service (``aifap serve gateway``).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aifap.db import Amount, Base

ROLES = ("supervisor", "manager", "viewer")
TRADER_STATES = ("stopped", "running", "halted")
BREACH_ACTIONS = ("freeze", "flatten")
# an account holds its keys here (encrypted) or names its gateway service, never both
KEYS_OR_GATEWAY = (
    "(api_key_enc IS NOT NULL AND secret_enc IS NOT NULL"
    " AND gateway_url IS NULL AND gateway_account IS NULL)"
    " OR (api_key_enc IS NULL AND secret_enc IS NULL AND passphrase_enc IS NULL"
    " AND gateway_url IS NOT NULL AND gateway_account IS NOT NULL)"
)


class User(Base):
    """Someone who logs in: a supervisor, a manager or a viewer.

    ``manager_id`` ties a viewer to one manager's resources (None: reads everything).
    ``failed_logins`` and ``locked_until_ms`` implement the lockout.
    """

    __tablename__ = "platform_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    manager_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Manager(Base):
    """A manager's capital budget and risk limits (its login is ``user_id``).

    Limits: ``max_drawdown`` a fraction of the traders' combined peak PV,
    ``max_gross_exposure`` and ``max_daily_loss`` quote-currency amounts.
    ``on_breach``: ``freeze`` (stop the traders, keep positions) or ``flatten``
    (stop them and close their positions).
    """

    __tablename__ = "platform_managers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("platform_users.id"), unique=True)
    budget: Mapped[Decimal] = mapped_column(Amount)
    max_drawdown: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    max_gross_exposure: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    max_daily_loss: Mapped[Decimal | None] = mapped_column(Amount, nullable=True)
    on_breach: Mapped[str] = mapped_column(String(8), default="freeze")
    breached: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ExchangeAccount(Base):
    """An exchange account of a manager: its keys as ciphertext, or its gateway service.

    A *gateway account* (``gateway_url`` and ``gateway_account`` set, no keys) is traded
    through the gateway service at ``gateway_url`` that serves the account named
    ``gateway_account`` (its token scope is ``gateway:<gateway_account>``); its keys live
    in that service's Secret, never in the platform. Sessions on Kubernetes trade only so.
    """

    __tablename__ = "platform_accounts"
    __table_args__ = (
        Index("ix_platform_accounts_manager", "manager_id"),
        CheckConstraint(KEYS_OR_GATEWAY, name="ck_platform_accounts_keys_or_gateway"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("platform_managers.id"))
    venue: Mapped[str] = mapped_column(String(32))
    market: Mapped[str] = mapped_column(String(16))
    demo: Mapped[bool] = mapped_column(Boolean)
    api_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    passphrase_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    gateway_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    gateway_account: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)

    @property
    def via_gateway(self) -> bool:
        """Tell whether the account is traded through its gateway service (holds no keys)."""
        return self.gateway_url is not None


class Trader(Base):
    """A strategy with capital, owned by a manager, run as a session when started."""

    __tablename__ = "platform_traders"
    __table_args__ = (Index("ix_platform_traders_manager", "manager_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("platform_managers.id"))
    name: Mapped[str] = mapped_column(String(40))
    strategy: Mapped[str] = mapped_column(String(500))
    strategy_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    config_json: Mapped[str] = mapped_column(Text)
    session_json: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform_accounts.id"), nullable=True
    )
    symbols_json: Mapped[str] = mapped_column(Text)
    allocation: Mapped[Decimal] = mapped_column(Amount)
    rebalance_every: Mapped[str] = mapped_column(String(16))
    alert_channel: Mapped[str] = mapped_column(String(64), default="console")
    state: Mapped[str] = mapped_column(String(16), default="stopped")
    session_id: Mapped[str] = mapped_column(String(40), unique=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """One change: who did what to which resource, when (details without secrets)."""

    __tablename__ = "platform_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str] = mapped_column(Text)


class AuthToken(Base):
    """A refresh token issued, or an access token revoked (by its ``jti``)."""

    __tablename__ = "platform_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # refresh | access
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
