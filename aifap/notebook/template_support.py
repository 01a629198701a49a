"""Helpers the papermill templates call, so their cells stay one line each."""

from __future__ import annotations

from typing import Any

from aifap.live.config import SessionConfig, make_config


def with_overrides(
    config: SessionConfig, *, duration: str | None = None, speed: float | None = None
) -> SessionConfig:
    """Return ``config`` with the template's overrides applied and validated again.

    Args:
        config: the session config read from ``config_path``.
        duration: a new ``trading_duration`` (e.g. ``"2h"``); None keeps the config's.
        speed: a new ``clock.speed`` for a replay clock; None keeps the config's.

    Raises:
        ConfigError: an override breaks a rule (the message names the field).
    """
    if duration is None and speed is None:
        return config
    data: dict[str, Any] = config.model_dump(mode="python")
    data["credentials"] = config.credentials
    if duration is not None:
        data["trading_duration"] = str(duration)
    if speed is not None:
        data["clock"] = {**data["clock"], "speed": float(speed)}
    return make_config(data)
