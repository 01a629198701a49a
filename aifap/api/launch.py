"""Traders as sessions: the session config a trader becomes, and its launcher calls.

A started trader is a live session (``aifap.deploy``'s launcher, ``local`` now,
Kubernetes once deployed) with the session id ``trader-<id>-<random>``, working
directory ``<root>/<session id>``, the platform's results database, and a service token
scoped to that session (``config:<sid>``, ``results:<sid>``) in ``AIFAP_PLATFORM_TOKEN``.
An exchange account's keys reach the session only as environment variables of its
process (the config file names the variables), never in a file. A gateway account's
session holds no keys at all: it trades through the account's gateway service
(``exchange: remote``) with a token scoped ``gateway:<account>`` for its session, in
``AIFAP_GATEWAY_TOKEN``. A launcher whose sessions may not hold keys (Kubernetes: the
keys live in the gateway's Secret in fin-finwrapper) starts only gateway accounts'
sessions and paper ones.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aifap.api.models import ExchangeAccount, Trader
from aifap.api.vault import decrypt
from aifap.auth.tokens import issue_token
from aifap.core.errors import ConfigError
from aifap.deploy.base import Launcher, SessionHandle, SessionStatus
from aifap.deploy.k8s_manifests import TOKEN_ENV as GATEWAY_TOKEN_VARIABLE
from aifap.deploy.local import LocalSessionHandle
from aifap.live.config import CONFIG_NAME, SessionConfig, dump_config, make_config

# session settings a trader may set beyond its own fields; the rest the platform owns
SESSION_KEYS = frozenset(
    {
        "clock",
        "trading_duration",
        "leverage",
        "threshold",
        "max_gross_weight",
        "finwatcher_interval",
        "finwatcher_restarts",
        "strategy_time_limit",
        "max_strategy_failures",
        "bar_timeframe",
        "bar_max_age",
        "bar_source",
        "on_foreign_position",
        "exchange_url",
        "lease_ttl",
    }
)
KEY_VARIABLES = {
    "api_key": "AIFAP_ACCOUNT_API_KEY",
    "secret": "AIFAP_ACCOUNT_SECRET",
    "password": "AIFAP_ACCOUNT_PASSPHRASE",
}
TOKEN_VARIABLE = "AIFAP_PLATFORM_TOKEN"  # noqa: S105 (a variable's name)
# the local runner's pid, written at launch: another API worker process can stop a session
# before its runner has written its own runner.json
LAUNCH_RECORD = "api-launch.json"


def session_id_of(trader_id: int) -> str:
    """Return a new session id for a trader: ``trader-<id>-<8 random hex digits>``.

    Never reused, even when a deleted trader's row id is (SQLite reuses the highest
    id): the old trader's results stay in the results database under its own id and
    must not become the new trader's.
    """
    return f"trader-{trader_id}-{secrets.token_hex(4)}"


def strategy_version(spec: str) -> str | None:
    """Return the first 12 hex digits of the strategy file's SHA-256, if ``spec`` names a file."""
    path = Path(spec.split(":", 1)[0]) if spec.split(":", 1)[0].endswith(".py") else None
    if path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def check_session_settings(settings: dict[str, Any]) -> None:
    """Raise ConfigError naming the keys a trader may not set in ``session``."""
    foreign = sorted(set(settings) - SESSION_KEYS)
    if foreign:
        raise ConfigError(
            f"session keys must be among {sorted(SESSION_KEYS)}, was {foreign}"
        )


def session_config(
    trader: Trader,
    account: ExchangeAccount | None,
    *,
    owner: str,
    results_url: str,
    workdir: Path,
) -> SessionConfig:
    """Return the validated session config of ``trader`` (raise ConfigError naming a field)."""
    extra = json.loads(trader.session_json)
    check_session_settings(extra)
    data: dict[str, Any] = {
        **extra,
        "session_id": trader.session_id,
        "trader": f"{owner}/{trader.name}",
        "strategy_name": trader.name,
        "strategy": trader.strategy,
        "strategy_version": trader.strategy_version,
        "config_dict": json.loads(trader.config_json),
        "symbols": json.loads(trader.symbols_json),
        "allocation": trader.allocation,
        "rebalance_every": trader.rebalance_every,
        "alert_channel": trader.alert_channel,
        "results_database_url": results_url,
        "workdir": str(workdir),
    }
    if account is None:
        data.update(exchange="paper", mode="paper")
    elif account.via_gateway:
        data.update(
            exchange="remote",
            market=account.market,
            mode="demo" if account.demo else "live",
            account=account.gateway_account,
            gateway_url=account.gateway_url,
            gateway_token_env=GATEWAY_TOKEN_VARIABLE,
        )
    else:
        data.update(
            exchange=account.venue,
            market=account.market,
            mode="demo" if account.demo else "live",
            account=f"acct-{account.id}",
            credentials={
                f"{name}_env": variable
                for name, variable in KEY_VARIABLES.items()
                if name != "password" or account.passphrase_enc is not None
            },
        )
    return make_config(data)


def check_trader(trader: Trader, account: ExchangeAccount | None) -> None:
    """Raise ConfigError (naming the field) unless ``trader`` makes a valid session config."""
    session_config(
        trader, account, owner="check", results_url="sqlite://", workdir=Path("unused")
    )


def account_keys(account: ExchangeAccount | None) -> dict[str, str]:
    """Return ``account``'s decrypted ``api_key``, ``secret`` and ``password`` (if any).

    None for a gateway account (and a paper trader's none): the platform holds no keys.
    """
    if account is None or account.api_key_enc is None or account.secret_enc is None:
        return {}
    keys = {"api_key": decrypt(account.api_key_enc), "secret": decrypt(account.secret_enc)}
    if account.passphrase_enc is not None:
        keys["password"] = decrypt(account.passphrase_enc)
    return keys


def account_environment(account: ExchangeAccount | None) -> dict[str, str]:
    """Return the environment variables that carry ``account``'s keys to its session."""
    return {KEY_VARIABLES[name]: value for name, value in account_keys(account).items()}


class TraderRunner:
    """Starts, stops and watches traders' sessions through a launcher.

    Args:
        launcher: where sessions run (the registry's ``local`` launcher by default).
        root: the directory holding each trader's working directory.
        results_url: the results database every trader's session writes.
        key: the key that signs the sessions' service tokens.
    """

    def __init__(self, launcher: Launcher, root: Path, results_url: str, key: str) -> None:
        self.launcher = launcher
        self.root = Path(root)
        self.results_url = results_url
        self.key = key
        # the handles this process launched (they reap their runner); others are attached
        self._handles: dict[str, SessionHandle] = {}

    def workdir(self, trader: Trader) -> Path:
        """Return the working directory of ``trader``'s session."""
        return self.root / trader.session_id

    def check_account(self, account: ExchangeAccount | None) -> None:
        """Raise ConfigError if the launcher's sessions may not hold ``account``'s keys.

        Sessions on Kubernetes never hold exchange keys (``sessions_hold_keys`` False on
        the launcher): their account must be a gateway account.
        """
        if account is None or account.via_gateway:
            return
        if not getattr(self.launcher, "sessions_hold_keys", True):
            raise ConfigError(
                f"account_id must name a gateway account with the {type(self.launcher).__name__} "
                f"(its sessions hold no exchange keys), was account {account.id}, which holds "
                "its keys in the platform: register "
                "the account as a gateway account (POST /accounts with gateway_url and "
                "gateway_account; its keys go in its gateway service's Secret in "
                "fin-finwrapper) and give the trader that account"
            )

    def gateway_token(self, trader: Trader, account: ExchangeAccount, ttl: timedelta) -> str:
        """Return a token for ``trader``'s session on ``account``'s gateway, valid ``ttl``."""
        if account.gateway_account is None:
            raise ConfigError(f"account {account.id} must be a gateway account, it holds keys")
        sid = trader.session_id
        return issue_token(
            f"session:{sid}",
            [f"gateway:{account.gateway_account}"],
            ttl=ttl,
            session_id=sid,
            key=self.key,
        )

    def start(self, trader: Trader, account: ExchangeAccount | None, owner: str) -> SessionStatus:
        """Write the trader's session config and launch it; return its first status.

        Raises:
            ConfigError: the config is invalid, or the launcher's sessions may not hold
                the account's keys (before anything is written or launched).
        """
        self.check_account(account)
        workdir = self.workdir(trader)
        config = session_config(
            trader, account, owner=owner, results_url=self.results_url, workdir=workdir
        )
        workdir.mkdir(parents=True, exist_ok=True)
        path = dump_config(config, workdir / CONFIG_NAME)
        sid = trader.session_id
        token = issue_token(
            f"session:{sid}",
            [f"config:{sid}", f"results:{sid}"],
            ttl=config.duration * 2,
            session_id=sid,
            key=self.key,
        )
        env = {**account_environment(account), TOKEN_VARIABLE: token}
        if account is not None and account.via_gateway:
            env[GATEWAY_TOKEN_VARIABLE] = self.gateway_token(trader, account, config.duration * 2)
        handle = self.launcher.launch(path, workdir=workdir, session_id=sid, env=env)
        self._handles[sid] = handle
        if isinstance(handle, LocalSessionHandle):
            record = {"pid": handle.runner_pid, "launched": time.time()}
            (workdir / LAUNCH_RECORD).write_text(json.dumps(record), encoding="utf-8")
        return handle.status()

    def _handle(self, trader: Trader) -> SessionHandle | None:
        if trader.session_id in self._handles:
            return self._handles[trader.session_id]
        workdir = self.workdir(trader)
        attach = getattr(self.launcher, "attach", None)
        if attach is not None:  # a launcher that finds its sessions itself (Kubernetes)
            found: SessionHandle | None = attach(trader.session_id, workdir)
            return found
        try:
            return LocalSessionHandle.attach(trader.session_id, workdir)
        except FileNotFoundError:
            pass
        try:  # launched by another worker process, its runner not yet reporting
            record = json.loads((workdir / LAUNCH_RECORD).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return LocalSessionHandle(
            trader.session_id, workdir, int(record["pid"]), launched_at=float(record["launched"])
        )

    def status(self, trader: Trader) -> SessionStatus:
        """Return the state of the trader's session (``stopped`` if never started)."""
        handle = self._handle(trader)
        if handle is None:
            return SessionStatus(session_id=trader.session_id, state="stopped")
        return handle.status()

    def stop(self, trader: Trader, timeout: float = 60.0) -> SessionStatus:
        """Stop the trader's session (SIGTERM, then kill after ``timeout``); return its state."""
        handle = self._handle(trader)
        if handle is None:
            return SessionStatus(session_id=trader.session_id, state="stopped")
        return handle.stop(timeout)

    def logs(self, trader: Trader, lines: int) -> list[str]:
        """Return the last ``lines`` lines of the trader's session log."""
        handle = self._handle(trader)
        return [] if handle is None else handle.logs(lines).splitlines()
