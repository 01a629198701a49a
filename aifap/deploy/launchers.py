"""The launcher registry: where a promoted session runs.

``launchers.get("local")`` starts the live notebook as a detached local process;
``"kubernetes"`` runs it as a Job in a cluster (:mod:`aifap.deploy.kubernetes`, which
needs the ``k8s`` extra: it is imported only when asked for). Third parties register
through the ``aifap.launchers`` entry-point group.

A registered item is a factory called with keyword options and returning a
:class:`~aifap.deploy.base.Launcher`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aifap.deploy.base import Launcher
from aifap.deploy.local import LocalLauncher
from aifap.registry import Registry

__all__ = ["get_launcher", "launchers"]

launchers: Registry[Callable[..., Launcher]] = Registry("aifap.launchers")
launchers.register("local", LocalLauncher)


def _kubernetes_launcher(**options: Any) -> Launcher:
    from aifap.deploy.kubernetes import KubernetesLauncher

    return KubernetesLauncher(**options)


launchers.register("kubernetes", _kubernetes_launcher)


def get_launcher(launcher: str | Launcher, **options: Any) -> Launcher:
    """Return ``launcher`` itself, or a new one of the registered name with ``options``.

    Raises:
        UnknownPluginError: no launcher is registered under the name (the known ones are listed).
    """
    if isinstance(launcher, str):
        return launchers.get(launcher)(**options)
    return launcher
