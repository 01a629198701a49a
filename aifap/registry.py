"""A named registry for plugins: gateways, launchers, alert senders.

Registering a name twice is an error; asking for an unknown name lists the known
ones. Third-party plugins register through the entry-point group given at creation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from aifap.core.errors import UnknownPluginError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Names mapped to factories, with lazy loading of entry-point plugins."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._items: dict[str, T] = {}
        self._loaded_entry_points = False

    def register(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; raise ValueError if the name is taken."""
        if name in self._items:
            raise ValueError(f"{self.group}: {name!r} is already registered")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its target under ``name``."""
        return lambda item: self.register(name, item)

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for entry in entry_points(group=self.group):
            if entry.name not in self._items:
                log.debug("loading %s plugin %s", self.group, entry.name)
                self._items[entry.name] = entry.load()

    def get(self, name: str) -> T:
        """Return the item registered as ``name``, or raise UnknownPluginError."""
        if name not in self._items:
            self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownPluginError(
                f"{self.group}: unknown name {name!r}; known names: {known}"
            ) from None

    def names(self) -> list[str]:
        """Return the registered names, entry points included."""
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
