"""The org model's rules: who may see and change which manager, trader and account.

Rights (a resource the caller may not see answers 404, so existence never leaks):

- ``supervisor``: everything;
- ``manager``: itself, its own traders and accounts; creates traders and accounts
  for itself only;
- ``viewer``: reads (the resources of the manager it is tied to, else all), never writes;
- ``service`` (a session's token): its own trader only (``config:<sid>``).

Every change is audited in the same transaction. A manager's budget caps the sum of
its traders' allocations (409 naming the numbers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifap.api.audit import now_ms, record
from aifap.api.auth import Principal, hash_password
from aifap.api.errors import Conflict, Forbidden, NotFound
from aifap.api.launch import (
    check_session_settings,
    check_trader,
    session_id_of,
    strategy_version,
)
from aifap.api.models import ExchangeAccount, Manager, Trader, User
from aifap.api.schemas import (
    AccountCreate,
    Limits,
    ManagerCreate,
    ManagerPatch,
    TraderCreate,
    TraderPatch,
)
from aifap.api.strategy_paths import check_strategy
from aifap.api.vault import encrypt
from aifap.core.errors import ConfigError
from aifap.core.timeconv import from_ms

LIMIT_FIELDS = ("max_drawdown", "max_gross_exposure", "max_daily_loss")


# --- rights ---------------------------------------------------------------------------


def require_writer(who: Principal) -> None:
    """Raise Forbidden unless ``who`` may change things (supervisor or manager)."""
    if who.role not in ("supervisor", "manager"):
        raise Forbidden(f"role {who.role} may only read, this request changes data")


def require_supervisor(who: Principal) -> None:
    """Raise Forbidden unless ``who`` is the supervisor."""
    if who.role != "supervisor":
        raise Forbidden(f"role must be supervisor for this request, was {who.role}")


def visible_managers(who: Principal) -> set[int] | None:
    """Return the manager ids ``who`` may see (None: all)."""
    if who.role == "supervisor" or (who.role == "viewer" and who.manager_id is None):
        return None
    if who.role in ("manager", "viewer") and who.manager_id is not None:
        return {who.manager_id}
    return set()


def can_see_manager(who: Principal, manager_id: int) -> bool:
    """Tell whether ``who`` may see manager ``manager_id``'s resources."""
    seen = visible_managers(who)
    return seen is None or manager_id in seen


def visible_sessions(db: Session, who: Principal) -> set[str] | None:
    """Return the session ids ``who`` may read results of (None: all)."""
    if who.role == "service":
        return {who.session_id} if who.session_id and _allows(who, "results") else set()
    seen = visible_managers(who)
    if seen is None:
        return None
    query = select(Trader.session_id).where(Trader.manager_id.in_(seen))
    return set(db.scalars(query))


def _allows(who: Principal, area: str) -> bool:
    wanted = f"{area}:{who.session_id}"
    return any(s in ("*", wanted, f"{area}:*") for s in who.scopes)


def _owner_for(who: Principal, manager_id: int | None, db: Session) -> Manager:
    # the manager a new trader or account belongs to: a manager's own, or the named one
    require_writer(who)
    if who.role == "manager":
        if manager_id is not None and manager_id != who.manager_id:
            raise Forbidden("manager_id must be your own (or omitted) for a manager")
        manager_id = who.manager_id
    if manager_id is None:
        raise ConfigError("manager_id must be given by the supervisor, was missing")
    manager = db.get(Manager, manager_id)
    if manager is None:
        raise NotFound(f"manager {manager_id} not found")
    return manager


# --- managers ---------------------------------------------------------------------------


def _limits(manager: Manager) -> Limits:
    return Limits(
        max_drawdown=manager.max_drawdown,
        max_gross_exposure=manager.max_gross_exposure,
        max_daily_loss=manager.max_daily_loss,
        on_breach=manager.on_breach,  # type: ignore[arg-type]
    )


def allocated(db: Session, manager_id: int, *, excluding: int | None = None) -> Decimal:
    """Return the sum of a manager's traders' allocations (optionally without one trader)."""
    query = select(Trader.allocation).where(Trader.manager_id == manager_id)
    if excluding is not None:
        query = query.where(Trader.id != excluding)
    return sum(db.scalars(query), Decimal(0))


def manager_view(db: Session, manager: Manager) -> dict[str, Any]:
    """Return a manager as the API answers it."""
    user = db.get(User, manager.user_id)
    return {
        "id": manager.id,
        "username": user.username if user else "?",
        "budget": manager.budget,
        "allocated": allocated(db, manager.id),
        "limits": _limits(manager),
        "breached": manager.breached,
        "created": from_ms(manager.created_ms),
    }


def create_manager(db: Session, who: Principal, body: ManagerCreate) -> Manager:
    """Create a manager and its login (supervisor only)."""
    require_supervisor(who)
    if db.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise Conflict(f"username {body.username!r} is taken")
    now = now_ms()
    user = User(
        username=body.username,
        password_hash=hash_password(body.password.get_secret_value()),
        role="manager",
        active=True,
        failed_logins=0,
        created_ms=now,
    )
    db.add(user)
    db.flush()
    manager = Manager(user_id=user.id, budget=body.budget, created_ms=now)
    _set_limits(manager, body.limits)
    db.add(manager)
    db.flush()
    record(
        db, who.subject, "manager.create", f"manager:{manager.id}",
        username=body.username, budget=body.budget, limits=body.limits.model_dump(mode="json"),
    )  # fmt: skip
    return manager


def _set_limits(manager: Manager, limits: Limits) -> None:
    for name in LIMIT_FIELDS:
        setattr(manager, name, getattr(limits, name))
    manager.on_breach = limits.on_breach


def _visible_rows(db: Session, who: Principal, model: Any, owner: Any) -> list[Any]:
    # the rows of ``model`` whose manager column ``owner`` the caller may see, by id
    query = select(model).order_by(model.id)
    seen = visible_managers(who)
    if seen is not None:
        query = query.where(owner.in_(seen))
    return list(db.scalars(query))


def list_managers(db: Session, who: Principal) -> list[Manager]:
    """Return the managers ``who`` may see, by id."""
    return _visible_rows(db, who, Manager, Manager.id)


def get_manager(db: Session, who: Principal, manager_id: int) -> Manager:
    """Return a manager ``who`` may see; raise NotFound otherwise."""
    manager = db.get(Manager, manager_id)
    if manager is None or not can_see_manager(who, manager_id):
        raise NotFound(f"manager {manager_id} not found")
    return manager


def update_manager(db: Session, who: Principal, manager_id: int, body: ManagerPatch) -> Manager:
    """Change a manager's budget, limits or password (supervisor only).

    A budget below what is already allocated is refused (409).
    """
    manager = get_manager(db, who, manager_id)
    require_supervisor(who)
    changes: dict[str, Any] = {}
    if body.budget is not None:
        used = allocated(db, manager.id)
        if body.budget < used:
            raise Conflict(
                f"budget must be >= the allocated {used} of manager {manager.id}, "
                f"was {body.budget}"
            )
        manager.budget = body.budget
        changes["budget"] = body.budget
    if body.limits is not None:
        _set_limits(manager, body.limits)
        manager.breached = None  # new limits: the manager may trade again
        changes["limits"] = body.limits.model_dump(mode="json")
    if body.password is not None:
        user = db.get(User, manager.user_id)
        if user is not None:
            user.password_hash = hash_password(body.password.get_secret_value())
            changes["password"] = "changed"  # noqa: S105 (the fact, never the value)
    record(db, who.subject, "manager.update", f"manager:{manager.id}", **changes)
    return manager


def delete_manager(db: Session, who: Principal, manager_id: int) -> None:
    """Delete a manager without traders or accounts, and its login (supervisor only)."""
    manager = get_manager(db, who, manager_id)
    require_supervisor(who)
    traders = db.scalar(select(func.count()).where(Trader.manager_id == manager.id)) or 0
    accounts = (
        db.scalar(select(func.count()).where(ExchangeAccount.manager_id == manager.id)) or 0
    )
    if traders or accounts:
        raise Conflict(
            f"manager {manager.id} must have no traders and no accounts to be deleted, "
            f"has {traders} traders and {accounts} accounts"
        )
    user = db.get(User, manager.user_id)
    db.delete(manager)
    db.flush()
    if user is not None:
        db.delete(user)
    record(db, who.subject, "manager.delete", f"manager:{manager_id}")


# --- accounts ---------------------------------------------------------------------------


def create_account(db: Session, who: Principal, body: AccountCreate) -> ExchangeAccount:
    """Store an exchange account: its keys encrypted, or its gateway service's URL and name."""
    from aifap.exchange.ccxt.venues import venue_names

    owner = _owner_for(who, body.manager_id, db)
    if body.venue not in venue_names():
        raise ConfigError(f"venue must be one of {venue_names()}, was {body.venue!r}")

    def sealed(value: SecretStr | None) -> str | None:
        return None if value is None else encrypt(value.get_secret_value())

    account = ExchangeAccount(
        manager_id=owner.id,
        venue=body.venue,
        market=body.market,
        demo=body.demo,
        api_key_enc=sealed(body.api_key),
        secret_enc=sealed(body.secret),
        passphrase_enc=sealed(body.passphrase),
        gateway_url=body.gateway_url,
        gateway_account=body.gateway_account,
        created_ms=now_ms(),
    )
    db.add(account)
    db.flush()
    record(
        db, who.subject, "account.create", f"account:{account.id}",
        manager_id=owner.id, venue=body.venue, market=body.market, demo=body.demo,
        gateway_url=body.gateway_url, gateway_account=body.gateway_account,
    )  # fmt: skip
    return account


def account_view(account: ExchangeAccount) -> dict[str, Any]:
    """Return an account as the API answers it: no key, not even a part of one."""
    return {
        "id": account.id,
        "manager_id": account.manager_id,
        "venue": account.venue,
        "market": account.market,
        "demo": account.demo,
        "gateway_url": account.gateway_url,
        "gateway_account": account.gateway_account,
        "created": from_ms(account.created_ms),
    }


def list_accounts(db: Session, who: Principal) -> list[ExchangeAccount]:
    """Return the accounts ``who`` may see."""
    return _visible_rows(db, who, ExchangeAccount, ExchangeAccount.manager_id)


def get_account(db: Session, who: Principal, account_id: int) -> ExchangeAccount:
    """Return an account ``who`` may see; raise NotFound otherwise."""
    account = db.get(ExchangeAccount, account_id)
    if account is None or not can_see_manager(who, account.manager_id):
        raise NotFound(f"account {account_id} not found")
    return account


# --- traders ----------------------------------------------------------------------------


def trader_view(trader: Trader) -> dict[str, Any]:
    """Return a trader as the API answers it."""
    return {
        "id": trader.id,
        "manager_id": trader.manager_id,
        "name": trader.name,
        "strategy": trader.strategy,
        "strategy_version": trader.strategy_version,
        "allocation": trader.allocation,
        "account_id": trader.account_id,
        "symbols": json.loads(trader.symbols_json),
        "rebalance_every": trader.rebalance_every,
        "config": json.loads(trader.config_json),
        "alert_channel": trader.alert_channel,
        "session": json.loads(trader.session_json),
        "state": trader.state,
        "session_id": trader.session_id,
        "created": from_ms(trader.created_ms),
    }


# raises (ConfigError) for an exchange account the platform's launcher cannot run
AccountCheck = Callable[[ExchangeAccount], None]

def _check_budget(db: Session, manager: Manager, amount: Decimal, excluding: int | None) -> None:
    used = allocated(db, manager.id, excluding=excluding)
    if used + amount > manager.budget:
        raise Conflict(
            f"allocation must fit manager {manager.id}'s budget: {used} allocated + "
            f"{amount} requested = {used + amount} > budget {manager.budget}"
        )


def _check_account(
    db: Session,
    who: Principal,
    account_id: int | None,
    manager: Manager,
    usable: AccountCheck | None,
) -> None:
    """Refuse an account that is not the manager's, or that the launcher cannot run."""
    if account_id is None:
        return
    account = db.get(ExchangeAccount, account_id)
    if account is None or account.manager_id != manager.id or not can_see_manager(
        who, account.manager_id
    ):
        raise NotFound(f"account {account_id} not found among manager {manager.id}'s accounts")
    if usable is not None:
        usable(account)


def create_trader(
    db: Session,
    who: Principal,
    body: TraderCreate,
    roots: Sequence[Path],
    usable: AccountCheck | None = None,
) -> Trader:
    """Create a trader for a manager within its budget (its strategy inside ``roots``).

    ``usable(account)`` raises (ConfigError) for an account the launcher cannot run, so
    such a trader is refused when created, not only when started.
    """
    manager = _owner_for(who, body.manager_id, db)
    check_strategy(body.strategy, roots)
    _check_account(db, who, body.account_id, manager, usable)
    check_session_settings(body.session)
    _check_budget(db, manager, body.allocation, None)
    if db.scalar(
        select(Trader.id).where(Trader.manager_id == manager.id, Trader.name == body.name)
    ):
        raise Conflict(f"manager {manager.id} already has a trader named {body.name!r}")
    trader = Trader(
        manager_id=manager.id,
        name=body.name,
        strategy=body.strategy,
        strategy_version=strategy_version(body.strategy),
        config_json=json.dumps(body.config),
        session_json=json.dumps(body.session),
        account_id=body.account_id,
        symbols_json=json.dumps(body.symbols),
        allocation=body.allocation,
        rebalance_every=body.rebalance_every,
        alert_channel=body.alert_channel,
        state="stopped",
        session_id=f"pending-{now_ms()}-{body.name}"[:40],
        created_ms=now_ms(),
    )
    db.add(trader)
    db.flush()
    trader.session_id = session_id_of(trader.id)
    check_trader(trader, db.get(ExchangeAccount, body.account_id) if body.account_id else None)
    record(
        db, who.subject, "trader.create", f"trader:{trader.id}",
        manager_id=manager.id, name=body.name, strategy=body.strategy,
        allocation=body.allocation, account_id=body.account_id,
    )  # fmt: skip
    return trader


def list_traders(db: Session, who: Principal) -> list[Trader]:
    """Return the traders ``who`` may see, by id."""
    if who.role == "service":
        query = select(Trader).where(Trader.session_id == (who.session_id or ""))
        return list(db.scalars(query))
    return _visible_rows(db, who, Trader, Trader.manager_id)


def get_trader(db: Session, who: Principal, trader_id: int) -> Trader:
    """Return a trader ``who`` may see (a session: its own); raise NotFound otherwise."""
    trader = db.get(Trader, trader_id)
    if trader is None:
        raise NotFound(f"trader {trader_id} not found")
    if who.role == "service":
        if trader.session_id != who.session_id or not _allows(who, "config"):
            raise NotFound(f"trader {trader_id} not found")
    elif not can_see_manager(who, trader.manager_id):
        raise NotFound(f"trader {trader_id} not found")
    return trader


def writable_trader(db: Session, who: Principal, trader_id: int) -> Trader:
    """Return a trader ``who`` may change (404 if unseen, 403 for readers)."""
    trader = get_trader(db, who, trader_id)
    require_writer(who)
    return trader


def update_trader(
    db: Session,
    who: Principal,
    trader_id: int,
    body: TraderPatch,
    roots: Sequence[Path],
    usable: AccountCheck | None = None,
) -> Trader:
    """Change a stopped trader's settings (allocation within the budget, strategy in ``roots``).

    ``usable``: as for :func:`create_trader`, for a new ``account_id``.
    """
    trader = writable_trader(db, who, trader_id)
    if trader.state == "running":
        raise Conflict(f"trader {trader_id} must be stopped to be changed, it is running")
    manager = db.get(Manager, trader.manager_id)
    assert manager is not None
    changes = body.model_dump(exclude_unset=True, mode="json")
    if body.allocation is not None:
        _check_budget(db, manager, body.allocation, trader.id)
        trader.allocation = body.allocation
    if "account_id" in changes:
        _check_account(db, who, body.account_id, manager, usable)
        trader.account_id = body.account_id
    if body.session is not None:
        check_session_settings(body.session)
        trader.session_json = json.dumps(body.session)
    if body.strategy is not None:
        check_strategy(body.strategy, roots)
        trader.strategy = body.strategy
        trader.strategy_version = strategy_version(body.strategy)
    if body.symbols is not None:
        trader.symbols_json = json.dumps(body.symbols)
    if body.config is not None:
        trader.config_json = json.dumps(body.config)
    if body.rebalance_every is not None:
        trader.rebalance_every = body.rebalance_every
    if body.alert_channel is not None:
        trader.alert_channel = body.alert_channel
    account = db.get(ExchangeAccount, trader.account_id) if trader.account_id else None
    check_trader(trader, account)
    record(db, who.subject, "trader.update", f"trader:{trader.id}", **changes)
    return trader


def delete_trader(db: Session, who: Principal, trader_id: int) -> None:
    """Delete a stopped trader (its results stay in the results database)."""
    trader = writable_trader(db, who, trader_id)
    if trader.state == "running":
        raise Conflict(f"trader {trader_id} must be stopped to be deleted, it is running")
    db.delete(trader)
    record(db, who.subject, "trader.delete", f"trader:{trader_id}", name=trader.name)
