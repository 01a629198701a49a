"""``aifap.promote(...)``: from a research notebook to a running session in one cell.

Steps, each refusing clearly before anything runs:

1. validate the strategy with a short backtest (the built-in synthetic market, or ``data``);
2. freeze its source into ``strategies/frozen/<name>_<hash12>.py`` (:mod:`.freeze`);
3. write the session config (YAML) into the session's working directory;
4. import the frozen module and run one cycle in a fresh process (:mod:`.preflight`);
5. launch the live notebook through the launcher (``local`` now) and return its handle.

Promoting again under the same name resumes that session (its journal, positions
and replay clock) unless it is still running, which is refused.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from aifap.core.errors import ConfigError, StrategyError
from aifap.deploy.base import Launcher, SessionHandle
from aifap.live.config import CONFIG_NAME, SESSION_ID, SessionConfig, dump_config, make_config
from aifap.notebook.freeze import FrozenStrategy, freeze_strategy
from aifap.notebook.preflight import preflight

log = logging.getLogger(__name__)

STRATEGIES_ENV = "AIFAP_STRATEGIES_DIR"


class PromoteError(StrategyError):
    """The strategy failed its validation backtest; nothing was launched."""


def strategies_dir() -> Path:
    """Return where frozen strategies go.

    ``$AIFAP_STRATEGIES_DIR``, else the project's ``strategies/`` (the nearest one above
    the working directory), else ``strategies/`` in the data directory.
    """
    if os.environ.get(STRATEGIES_ENV):
        return Path(os.environ[STRATEGIES_ENV])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "strategies").is_dir() and (folder / "pyproject.toml").is_file():
            return folder / "strategies"
    from aifap.settings import get_settings

    return get_settings().data_dir / "strategies"


def replay_clock(duration: timedelta, *, speed: float = 0.0) -> dict[str, Any]:
    """Return a replay clock over the built-in market's last ``duration`` (at most 29 days)."""
    from aifap.data.synthetic import DEFAULT_DAYS, DEFAULT_END

    span = min(duration, timedelta(days=DEFAULT_DAYS - 1))
    start = (DEFAULT_END - span).replace(minute=0, second=0, microsecond=0)
    return {"kind": "replay", "start": start.isoformat(), "speed": speed}


def _clock(clock: Any, duration: timedelta) -> dict[str, Any]:
    if clock is None or clock == "wall":
        return {"kind": "wall"}
    if clock == "replay":
        return replay_clock(duration)
    if hasattr(clock, "model_dump"):
        clock = clock.model_dump(mode="json")
    if isinstance(clock, Mapping):
        data = dict(clock)
        if data.get("kind") == "replay" and data.get("start") is None:
            data = {
                **replay_clock(duration, speed=float(data.get("speed", 0.0))),
                **{k: v for k, v in data.items() if v is not None},
            }
        return data
    raise ConfigError(f"clock must be 'wall', 'replay' or a mapping, was {clock!r}")


def _validate(
    strategy: Any, name: str, data: Any, symbols: Sequence[str], cfg: SessionConfig, days: float
) -> None:
    from aifap.backtest import backtest
    from aifap.data.synthetic import SyntheticMarket

    market = data if data is not None else SyntheticMarket(symbols, days=days, market=cfg.market)
    every = cfg.rebalance_every or "1h"
    try:
        result = backtest(
            strategy,
            market,
            symbols=list(symbols),
            capital=float(cfg.allocation),
            rebalance_every=every,
            market=cfg.market.value,
            leverage=cfg.leverage,
            config=cfg.config_dict,
            progress=False,
        )
    except (StrategyError, ConfigError) as exc:
        raise PromoteError(f"strategy {name!r} failed its validation backtest: {exc}") from exc
    log.info("strategy %s validated: %s", name, result)


def _running(workdir: Path) -> bool:
    from aifap.live.heartbeat import heartbeat_age, read_heartbeat
    from aifap.procs import pid_alive

    beat = read_heartbeat(workdir) or {}
    return (
        beat.get("status") == "running" and pid_alive(beat.get("pid")) and heartbeat_age(beat) < 60
    )


def promote(
    strategy: Any,
    name: str = "strategy",
    *,
    symbols: Sequence[str] | None = None,
    mode: str = "paper",
    allocation: float = 1000,
    rebalance_every: str | None = "5m",
    config: Mapping[str, Any] | None = None,
    launcher: str | Launcher = "local",
    clock: Any = None,
    duration: str | None = None,
    data: Any = None,
    validation_days: float = 2,
    strategies: str | Path | None = None,
    launcher_options: Mapping[str, Any] | None = None,
    dashboard: bool = False,
    **session_options: Any,
) -> SessionHandle:
    """Validate, freeze and launch ``strategy`` as a session; return the session's handle.

    Args:
        strategy: a function (for example one defined in a notebook cell), a ``.py``
            path (``path.py[:function]``) or ``module:function``.
        name: the strategy's name, also the session id unless ``session_id`` is given.
        symbols: the symbols to trade (default: ``config['symbols']``).
        mode: ``paper``, ``demo`` or ``live``.
        allocation: the trader's capital (``total_allocation``).
        rebalance_every: the rebalancing interval (``rebalance_cron`` is the alternative).
        config: the strategy's ``config_dict``.
        launcher: a registered launcher name (``local``) or a Launcher.
        clock: ``'wall'`` (default), ``'replay'`` (the built-in market's last
            ``duration``, as fast as the processes go) or a clock mapping
            (``kind``, ``start``, ``speed``).
        duration: the trading duration (e.g. ``'1d'``; default: the config's 720 h,
            one day for a replay clock).
        data: the validation backtest's data (default: the synthetic market).
        validation_days: days of the synthetic market the validation backtest runs on.
        strategies: the strategies directory (default: :func:`strategies_dir`).
        launcher_options: keyword options of the launcher (e.g. ``heartbeat_timeout``).
        dashboard: also serve the session's Voila dashboard (``handle.dashboard_url``).
        **session_options: any other :class:`~aifap.live.config.SessionConfig` field
            (``leverage``, ``threshold``, ``finwatcher_interval``, ``workdir``, ``trader``...).

    Raises:
        ConfigError: a setting breaks a rule (the message names the field), or the
            session is already running.
        PromoteError: the validation backtest failed.
        FreezeError: the source cannot be frozen (the message names the culprit).
        PreflightError: the frozen strategy failed to import or run one cycle.
    """
    if not SESSION_ID.match(name):
        raise ConfigError(f"name must be 1-40 characters of [A-Za-z0-9_-], was {name!r}")
    config_dict = dict(config or {})
    chosen = list(symbols if symbols is not None else config_dict.get("symbols") or [])
    if not chosen:
        raise ConfigError("symbols must be given (or config['symbols']), was empty")
    if clock == "replay" and duration is None:
        duration = "1d"
    options = dict(session_options)
    if options.get("rebalance_cron") is not None:
        rebalance_every = None
    data_dict: dict[str, Any] = {
        "session_id": options.pop("session_id", name),
        "trader": options.pop("trader", getpass.getuser() or "researcher"),
        "strategy_name": name,
        "strategy": "pending",
        "config_dict": config_dict,
        "mode": mode,
        "symbols": chosen,
        "allocation": allocation,
        "rebalance_every": rebalance_every,
        **({"trading_duration": duration} if duration is not None else {}),
        **options,
    }
    draft = make_config({**data_dict, "clock": {"kind": "wall"}})
    data_dict["clock"] = _clock(clock, draft.duration)
    draft = make_config(data_dict)
    workdir = draft.working_directory
    if _running(workdir):
        raise ConfigError(
            f"session {draft.id} is already running in {workdir}; stop it or "
            "promote under another name"
        )
    from aifap.deploy.launchers import get_launcher

    chosen_launcher = get_launcher(launcher, **dict(launcher_options or {}))
    _validate(strategy, name, data, chosen, draft, validation_days)
    frozen: FrozenStrategy = freeze_strategy(strategy, name, strategies or strategies_dir())
    final = make_config(
        {
            **data_dict,
            "strategy": frozen.spec,
            "strategy_version": frozen.digest,
            "workdir": str(workdir),
        }
    )
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = dump_config(final, workdir / CONFIG_NAME)
    report = preflight(config_path)
    log.info(
        "strategy %s: one cycle in a fresh process planned %s orders at %s",
        name,
        report.get("orders"),
        report.get("at"),
    )
    handle = chosen_launcher.launch(config_path, workdir=workdir, session_id=final.id)
    if dashboard:
        _start_dashboard(final, workdir)
    return handle


def _start_dashboard(config: SessionConfig, workdir: Path) -> None:
    from aifap.deploy.dashboard import DashboardError, DashboardTarget, start_dashboard

    try:
        running = start_dashboard(DashboardTarget(config.id, config.results_url(), workdir))
    except DashboardError as exc:  # the session runs anyway; `aifap dashboard` can retry
        log.warning("the dashboard of session %s did not start: %s", config.id, exc)
        return
    log.info("dashboard of session %s: %s", config.id, running.url)
