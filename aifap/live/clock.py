"""The session clock: one parent-owned clock that every process and the paper gateway read.

Three kinds, one interface (``now``, ``sleep_until``, ``wait_event``), so the
processes run the same code on wall time and on an accelerated replay:

- **wall**: real UTC time.
- **replay at a speed** (``speed > 0``): simulated time starts at ``start`` and runs
  ``speed`` simulated seconds per real second. The origin lives in shared memory
  written by the parent, and ``CLOCK_MONOTONIC`` is system-wide, so all processes agree.
- **stepped replay** (``speed == 0``): simulated time stands still while any process
  works and jumps to the next due time once all are idle. The parent drives it
  (:meth:`SessionClock.advance`); each process owns one slot in a shared array saying
  "busy", "idle until an event" or "asleep until t". A simulated day runs as fast as the
  processes can go, and every finwatcher interval and rebalancing tick is honoured.

The clock is also a callable returning epoch milliseconds, the emulator's clock shape.
"""

from __future__ import annotations

import time
from datetime import datetime
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Event
from typing import Literal

from aifap.core.timeconv import from_ms, to_ms

BUSY = -1
IDLE = 2**62  # waiting on an event, not on time
POLL = 0.002  # seconds between checks of shared memory in the stepped mode

STRATEGY_SLOT, MAIN_SLOT, FINWATCHER_SLOT = 0, 1, 2
SLOT_NAMES = ("strategy", "main", "finwatcher")


class SessionClock:
    """A clock shared by the parent and its children through shared memory.

    Create it in the parent before forking; each child calls :meth:`bind` with its slot.

    Args:
        ctx: the multiprocessing context the session forks with.
        kind: ``wall`` or ``replay``.
        start: the first simulated instant (replay only).
        speed: simulated seconds per real second; 0 = stepped (replay only).
        slots: number of process slots (strategy, main, finwatcher).
    """

    def __init__(
        self,
        ctx: BaseContext,
        kind: Literal["wall", "replay"] = "wall",
        *,
        start: datetime | None = None,
        speed: float = 0.0,
        slots: int = 3,
    ) -> None:
        if kind == "replay" and start is None:
            raise ValueError("clock start must be set for a replay clock")
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, was {speed}")
        self.kind = kind
        start_ms = to_ms(start) if start is not None else 0
        self._now_ms = ctx.Value("q", start_ms, lock=False)
        self._origin = ctx.Array("d", [start_ms / 1000, time.monotonic(), speed], lock=False)
        self._slots = ctx.Array("q", [BUSY] * slots, lock=False)  # until each child binds
        self._slot: int | None = None

    # --- reading -------------------------------------------------------------------

    @property
    def stepped(self) -> bool:
        """Tell whether simulated time only moves when every process is idle."""
        return self.kind == "replay" and self._origin[2] == 0

    @property
    def speed(self) -> float:
        """Return simulated seconds per real second (1 for wall, 0 for stepped)."""
        return 1.0 if self.kind == "wall" else float(self._origin[2])

    def ms(self) -> int:
        """Return the current time in epoch milliseconds."""
        if self.kind == "wall":
            return time.time_ns() // 1_000_000
        if self.stepped:
            return int(self._now_ms.value)
        origin_sim, origin_mono, speed = (float(x) for x in self._origin[:])
        return round((origin_sim + (time.monotonic() - origin_mono) * speed) * 1000)

    __call__ = ms

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return from_ms(self.ms())

    def real_seconds(self, simulated: float) -> float:
        """Return how many real seconds ``simulated`` seconds take (0 when stepped)."""
        if self.kind == "wall":
            return simulated
        return 0.0 if self.stepped else simulated / self.speed

    # --- process slots --------------------------------------------------------------

    def bind(self, slot: int) -> None:
        """Make this process own ``slot`` (call once in each child after fork)."""
        self._slot = slot
        self._slots[slot] = BUSY

    def claim(self, slot: int) -> None:
        """Mark ``slot`` busy until its (new) child binds it (the parent, before a fork)."""
        self._slots[slot] = BUSY

    def release(self, slot: int) -> None:
        """Mark ``slot`` idle (the parent does this for a dead or stopped child)."""
        self._slots[slot] = IDLE

    def _mark(self, value: int) -> None:
        if self._slot is not None:
            self._slots[self._slot] = value

    def busy(self) -> None:
        """Declare this process at work: the stepped clock holds still."""
        self._mark(BUSY)

    def slot_states(self) -> dict[str, int]:
        """Return each slot's state (BUSY, IDLE or a wake-up time in ms)."""
        return {
            SLOT_NAMES[i] if i < len(SLOT_NAMES) else str(i): v
            for i, v in enumerate(self._slots[:])
        }

    # --- waiting ---------------------------------------------------------------------

    def sleep_until(self, when: datetime, stop: Event | None = None) -> bool:
        """Sleep until ``when``; return False if ``stop`` was set first (then stay idle)."""
        target = to_ms(when)
        if self.stepped:
            self._mark(target)
            while self._now_ms.value < target:
                if stop is not None and stop.is_set():
                    self._mark(IDLE)
                    return False
                time.sleep(POLL)
            self._mark(BUSY)
            return True
        while True:
            remaining = (target - self.ms()) / 1000
            if remaining <= 0:
                return True
            real = min(self.real_seconds(remaining), 0.5)
            if stop is not None:
                if stop.wait(max(real, 0.0005)):
                    return False
            else:
                time.sleep(max(real, 0.0005))

    def wait_event(
        self, event: Event, stop: Event | None = None, timeout: float | None = None
    ) -> bool:
        """Wait (idle) for ``event``; return True once it is set, False on stop or timeout.

        ``timeout`` is in real seconds. On True this process is marked busy *before*
        returning, so the caller may clear the event without the stepped clock moving.
        """
        self._mark(IDLE)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if event.wait(0.05 if self.kind == "wall" and not self.stepped else POLL * 5):
                self._mark(BUSY)
                return True
            if stop is not None and stop.is_set():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False

    # --- driving (parent only) -------------------------------------------------------

    def advance(self, due: datetime, *, hold: bool = False) -> bool:
        """Move a stepped clock to the earliest wake-up or ``due`` if every process is idle.

        ``hold`` says the parent knows work is pending (an event set): then nothing moves.
        Returns True if time moved. A no-op for the wall clock and speed replays.
        """
        if not self.stepped or hold:
            return False
        now = self._now_ms.value
        earliest = min(min(self._slots[:]), to_ms(due))
        if earliest <= now:
            return False
        self._now_ms.value = earliest
        return True
