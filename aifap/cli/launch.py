"""``aifap live run CONFIG --launcher NAME``: start a session through a launcher and return.

Only parsing and printing: the launchers are :mod:`aifap.deploy.launchers`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from aifap.live.config import SessionConfig


def launch_session(
    config_path: Path,
    config: SessionConfig,
    name: str,
    options: dict[str, Any],
    dry_run: bool,
    wait: bool,
) -> int:
    """Launch ``config`` through launcher ``name`` (or print its manifests); return an exit code.

    Raises:
        ConfigError: the launcher is unknown, or refuses the config (the message says why).
    """
    from aifap.core.errors import ConfigError
    from aifap.deploy.launchers import get_launcher

    chosen: Any = get_launcher(name, **{k: v for k, v in options.items() if v is not None})
    if dry_run:
        if not hasattr(chosen, "render"):
            raise ConfigError(f"--dry-run needs a launcher that renders manifests, was {name!r}")
        sys.stdout.write(chosen.render(config_path).to_yaml())
        return 0
    handle = chosen.launch(config_path, workdir=config.working_directory, session_id=config.id)
    typer.echo(f"session {config.id} launched: {handle!r}", err=True)
    if not wait:
        return 0
    status = handle.wait()
    tail = handle.logs(50)
    if tail:
        typer.echo(tail)
    typer.echo(str(status), err=True)
    return 0 if status.state == "stopped" and not status.exit_code else 1
