"""Which strategies a trader may run: files and modules inside the allowed roots only.

A trader's strategy runs as code on the server, so the API refuses anything outside
the configured strategies directories (default: :func:`aifap.notebook.promote.
strategies_dir`, where ``promote`` freezes strategies): a ``.py`` path with a ``..``
part, an absolute path or a symlink leading outside every root, and a module whose top
package is not a root's directory (``os:system``). A relative path is resolved against
the server's working directory, as the session it launches will resolve it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from aifap.core.errors import ConfigError


def default_roots() -> tuple[Path, ...]:
    """Return the default allowed root: the strategies directory ``promote`` writes to."""
    from aifap.notebook.promote import strategies_dir

    return (strategies_dir(),)


def check_strategy(spec: str, roots: Sequence[Path]) -> None:
    """Raise ConfigError naming the ``strategy`` field and the rule it breaks.

    Args:
        spec: ``path.py[:function]``, ``package.module[:function]``.
        roots: the directories a strategy file or package must lie in.
    """
    resolved = [Path(r).resolve() for r in roots]
    shown = [str(r) for r in resolved]
    target = spec.split(":", 1)[0]
    if target.endswith(".py") or "/" in target:
        if ".." in PurePosixPath(target).parts:
            raise ConfigError(
                f"strategy must not contain '..' (a path inside {shown}), was {spec!r}"
            )
        path = Path(target).resolve()
        if not any(path.is_relative_to(root) for root in resolved):
            raise ConfigError(
                f"strategy must be a file inside the strategies directories {shown}, "
                f"was {spec!r}"
            )
        return
    package = target.split(".", 1)[0]
    if not any(package == root.name and "." in target for root in resolved):
        raise ConfigError(
            f"strategy must be a .py file or a module of the strategies directories "
            f"{shown} (such as {resolved[0].name + '.name' if resolved else 'none'}), "
            f"was {spec!r}"
        )
