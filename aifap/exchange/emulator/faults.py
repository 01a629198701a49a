"""Fault injection and the request log.

A ``FaultRule`` matches requests by path (exact ``/api/v2/...`` path, or a prefix
ending in ``*``) and method, fires for the next ``count`` matching requests and/or
with a ``probability`` drawn from the injector's seeded generator, and does one of:

- ``latency``: sleep ``latency`` seconds (or uniformly in ``(lo, hi)``), then answer;
  latency rules add up and never stop other rules;
- ``rate_limit``: HTTP 429 with Bitget's body ``{"code":"429","msg":"Too Many Requests"}``;
- ``server_error``: HTTP ``status`` (default 503) with a plain-text body;
- ``timeout``: hold the request without answering until the client gives up
  (disconnects) or ``hold_seconds`` pass, then 504;
- ``lost``: execute the request (the order is placed), then lose the response the
  way ``lost_as`` says: ``"timeout"`` (hold as above) or an HTTP status such as 502;
- ``random``: pick one of ``kinds`` (weights allowed) each time it fires;
- ``gate``: hold matching requests (before they execute) until the gate opens, then
  answer normally: ``rule.open()`` opens it, and with ``group=n`` the n-th matching
  request opens it itself, so a test can prove n requests were in flight at once
  without timing them. A request still held after ``hold_seconds`` goes on and is
  recorded with ``fault="gate_timeout"``. Gates, like latency, never stop other rules.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "latency", "rate_limit", "server_error", "timeout", "lost", "random", "gate"
]
FAILURE_KINDS = ("rate_limit", "server_error", "timeout", "lost")
SECRET_HEADERS = frozenset(
    {"access-key", "access-sign", "access-passphrase", "authorization", "cookie"}
)


@dataclass(slots=True)
class FaultRule:
    """One fault; see the module docstring for the kinds."""

    kind: FaultKind
    path: str | None = None
    method: str | None = None
    count: int | None = None
    probability: float | None = None
    latency: float | tuple[float, float] = 0.0
    status: int = 503
    lost_as: str | int = "timeout"
    hold_seconds: float = 30.0
    kinds: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 1.0))
    fired: int = 0
    group: int | None = None
    opened: threading.Event = field(default_factory=threading.Event)

    def open(self) -> None:
        """Let the requests a gate holds (and later ones) go on."""
        self.opened.set()

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this rule applies to a request (ignoring count and probability)."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


@dataclass(frozen=True, slots=True)
class Decision:
    """What the injector decided for one request."""

    latency: float = 0.0
    kind: str | None = None  # rate_limit, server_error, timeout, lost or None
    status: int = 503
    lost_as: str | int = "timeout"
    hold_seconds: float = 30.0
    gate: FaultRule | None = None


class FaultInjector:
    """Holds the fault rules and decides, per request, which ones fire (thread-safe).

    Args:
        seed: seeds the generator for probabilistic rules and random latencies.
    """

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def seed(self, seed: int) -> None:
        """Reseed the generator."""
        with self._lock:
            self._rng = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        """Add a rule; it is checked after the rules added before it."""
        if rule.kind not in ("latency", "random", "gate", *FAILURE_KINDS):
            raise ValueError(
                f"fault kind must be one of latency, random, gate, "
                f"{', '.join(FAILURE_KINDS)}; was {rule.kind!r}"
            )
        if rule.probability is not None and not 0 <= rule.probability <= 1:
            raise ValueError(f"fault probability must be in [0, 1], was {rule.probability}")
        with self._lock:
            self._rules.append(rule)
        return rule

    def latency(
        self, seconds: float | tuple[float, float], path: str | None = None, **kw: object
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` (or uniformly within a range)."""
        return self.add(FaultRule("latency", path=path, latency=seconds, **kw))  # type: ignore[arg-type]

    def gate(
        self,
        path: str | None = None,
        *,
        group: int | None = None,
        hold_seconds: float = 30.0,
        **kw: object,
    ) -> FaultRule:
        """Hold matching requests until ``rule.open()``, or until ``group`` of them arrived."""
        rule = FaultRule("gate", path=path, group=group, hold_seconds=hold_seconds, **kw)  # type: ignore[arg-type]
        return self.add(rule)

    def fail_next(
        self, kind: FaultKind, count: int = 1, path: str | None = None, **kw: object
    ) -> FaultRule:
        """Make the next ``count`` requests matching ``path`` fail with ``kind``."""
        return self.add(FaultRule(kind, path=path, count=count, **kw))  # type: ignore[arg-type]

    def fail_randomly(
        self,
        probability: float,
        kinds: Mapping[str, float] | None = None,
        path: str | None = None,
        **kw: object,
    ) -> FaultRule:
        """Fail each matching request with ``probability``, picking a kind by weight."""
        rule = FaultRule("random", path=path, probability=probability, **kw)  # type: ignore[arg-type]
        if kinds is not None:
            rule.kinds = dict(kinds)
        return self.add(rule)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """A copy of the current rules."""
        with self._lock:
            return list(self._rules)

    def decide(self, method: str, path: str) -> Decision:
        """Return the faults that fire for one request, consuming counts."""
        latency = 0.0
        gate: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path) or not self._fires(rule):
                    continue
                rule.fired += 1
                if rule.kind == "latency":
                    latency += self._draw_latency(rule.latency)
                    continue
                if rule.kind == "gate":
                    if rule.group is not None and rule.fired >= rule.group:
                        rule.open()
                    gate = gate or rule
                    continue
                kind: str = rule.kind
                if kind == "random":
                    names = list(rule.kinds)
                    kind = self._rng.choices(names, weights=[rule.kinds[n] for n in names])[0]
                return Decision(latency, kind, rule.status, rule.lost_as, rule.hold_seconds, gate)
        return Decision(latency, gate=gate)

    def _fires(self, rule: FaultRule) -> bool:
        if rule.count is not None and rule.count <= 0:
            return False
        if rule.probability is not None and self._rng.random() >= rule.probability:
            return False
        if rule.count is not None:
            rule.count -= 1
        return True

    def _draw_latency(self, latency: float | tuple[float, float]) -> float:
        if isinstance(latency, tuple):
            return self._rng.uniform(*latency)
        return float(latency)


@dataclass(slots=True)
class RequestRecord:
    """One request as the emulator saw it; secrets are never recorded.

    ``start``/``end`` are ``time.perf_counter()`` seconds (comparable across records),
    ``account`` a short fingerprint of the API key (not the key).
    """

    method: str
    path: str
    params: dict[str, object]
    headers: dict[str, str]
    start: float
    end: float | None = None
    status: int | None = None
    code: str | None = None
    fault: str | None = None
    account: str | None = None
    demo: bool = False


class RequestLog:
    """A thread-safe, bounded list of ``RequestRecord`` (the oldest are dropped first).

    Args:
        max_records: how many records to keep (None: all).
    """

    def __init__(self, max_records: int | None = 100_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        """Record a request (its end is filled in when it is answered)."""
        with self._lock:
            self._records.append(record)

    def records(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Return the records, optionally those of one path (``*`` suffix = prefix) or method."""
        probe = FaultRule("latency", path=path, method=method)
        with self._lock:
            return [r for r in self._records if probe.matches(r.method, r.path)]

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def max_concurrency(self, path: str | None = None) -> int:
        """Return the largest number of matching requests that were in flight at once."""
        events: list[tuple[float, int]] = []
        for r in self.records(path):
            if r.end is not None:
                events += [(r.start, 1), (r.end, -1)]
        best = current = 0
        for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
            current += delta
            best = max(best, current)
        return best


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers without credentials or signatures."""
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
