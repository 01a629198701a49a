"""Which sessions' results a caller may read, remembered for a moment per caller kind.

Every results request asks it; a manager's answer needs a query (its traders' session
ids). The answer is remembered for ``CACHE_SECONDS`` per (role, manager, session,
scopes): a trader created or deleted in this process clears it at once, in another API
worker process within the 2 s that a checked token is trusted too. Session ids are never
reused (``trader-<id>-<random>``), so a remembered id always names the same trader's
session.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

from aifap.api import org
from aifap.api.auth import CACHE_SECONDS, CACHE_SIZE, Principal

Key = tuple[str, int | None, str | None, tuple[str, ...]]


class Visibility:
    """The session ids each kind of caller may read (None: all), briefly remembered."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float = CACHE_SECONDS) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self._recent: dict[Key, tuple[float, frozenset[str] | None]] = {}

    @staticmethod
    def _key(who: Principal) -> Key:
        return (who.role, who.manager_id, who.session_id, who.scopes)

    def cached(self, who: Principal) -> tuple[bool, frozenset[str] | None]:
        """Return (found, ids) from memory: no query, cheap enough for the event loop."""
        found = self._recent.get(self._key(who))
        if found is None or found[0] <= time.monotonic():
            return False, None
        return True, found[1]

    def lookup(self, who: Principal) -> frozenset[str] | None:
        """Return the session ids ``who`` may read (queries the platform database)."""
        with self.sessions() as db:
            seen = org.visible_sessions(db, who)
        ids = None if seen is None else frozenset(seen)
        if len(self._recent) > CACHE_SIZE:
            self._recent.clear()
        self._recent[self._key(who)] = (time.monotonic() + self.ttl, ids)
        return ids

    def forget(self) -> None:
        """Drop every remembered answer (a trader was created or deleted)."""
        self._recent.clear()
