"""Vectorized validity rules for bars and funding rates, shared by files and frames.

Each rule is checked over whole numpy arrays at once; the caller turns the row
positions that break a rule into messages (a file and line, or a symbol and time).
The rules, in the order a row is reported by:

- every field is a finite number;
- the timestamp is UTC milliseconds between 2009-01-01 and 2100-01-01 (a file in
  seconds breaks this) and, for bars, a multiple of the timeframe;
- open, high, low, close > 0; volume >= 0;
- high >= max(open, close) and low <= min(open, close) (so high >= low);
- timestamps strictly increase (a row not after every earlier good row is a
  duplicate or goes back in time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MIN_MS = 1_230_768_000_000  # 2009-01-01
MAX_MS = 4_102_444_800_000  # 2100-01-01


@dataclass(frozen=True, slots=True)
class Problem:
    """One row that breaks a rule: its position, the rule and the offending value."""

    row: int
    rule: str
    value: str


Rule = tuple[np.ndarray, str, Callable[[int], str]]


def _first_per_row(found: list[Rule]) -> dict[int, Problem]:
    problems: dict[int, Problem] = {}
    for mask, rule, show in found:
        for row in np.flatnonzero(mask):
            problems.setdefault(int(row), Problem(int(row), rule, show(int(row))))
    return problems


def _value(col: np.ndarray) -> Callable[[int], str]:
    return lambda row: repr(col[row].item())


def _pairs(names: tuple[str, ...], cols: tuple[np.ndarray, ...]) -> Callable[[int], str]:
    return lambda row: " ".join(f"{n}={c[row].item()!r}" for n, c in zip(names, cols, strict=True))


def bar_problems(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    *,
    step_ms: int | None = None,
    bad_rows: dict[int, Problem] | None = None,
) -> list[Problem]:
    """Return the problems of bar rows, at most one per row, ordered by row.

    ``ts`` is int64 UTC milliseconds; the others float64. ``bad_rows`` are rows the
    parser already rejected (they take part in no other rule).
    """
    known = dict(bad_rows or {})
    skip = np.zeros(len(ts), dtype=bool)
    skip[list(known)] = True
    found: list[Rule] = []
    for name, col in (("open", o), ("high", h), ("low", lo), ("close", c), ("volume", v)):
        found.append((~skip & ~np.isfinite(col), f"{name} must be a finite number", _value(col)))
    found.append(
        (
            ~skip & ((ts < MIN_MS) | (ts > MAX_MS)),
            "timestamp must be UTC milliseconds",
            _value(ts),
        )
    )
    if step_ms:
        found.append(
            (
                ~skip & (ts % step_ms != 0),
                f"timestamp must be a multiple of {step_ms} ms",
                _value(ts),
            )
        )
    with np.errstate(invalid="ignore"):
        for name, col in (("open", o), ("high", h), ("low", lo), ("close", c)):
            found.append((~skip & (col <= 0), f"{name} must be > 0", _value(col)))
        found.append((~skip & (v < 0), "volume must be >= 0", _value(v)))
        found.append(
            (
                ~skip & (h < np.maximum(o, c)),
                "high must be >= max(open, close)",
                _pairs(("high", "open", "close"), (h, o, c)),
            )
        )
        found.append(
            (
                ~skip & (lo > np.minimum(o, c)),
                "low must be <= min(open, close)",
                _pairs(("low", "open", "close"), (lo, o, c)),
            )
        )
    known.update({k: p for k, p in _first_per_row(found).items() if k not in known})
    known.update(order_problems(ts, known))
    return [known[row] for row in sorted(known)]


def funding_problems(
    ts: np.ndarray, rate: np.ndarray, *, bad_rows: dict[int, Problem] | None = None
) -> list[Problem]:
    """Return the problems of funding rows (finite rate in (-1, 1), increasing times)."""
    known = dict(bad_rows or {})
    skip = np.zeros(len(ts), dtype=bool)
    skip[list(known)] = True
    with np.errstate(invalid="ignore"):
        found: list[Rule] = [
            (~skip & ~np.isfinite(rate), "rate must be a finite number", _value(rate)),
            (
                ~skip & (np.abs(rate) >= 1),
                "rate must be a fraction between -1 and 1",
                _value(rate),
            ),
            (
                ~skip & ((ts < MIN_MS) | (ts > MAX_MS)),
                "timestamp must be UTC milliseconds",
                _value(ts),
            ),
        ]
    known.update({k: p for k, p in _first_per_row(found).items() if k not in known})
    known.update(order_problems(ts, known))
    return [known[row] for row in sorted(known)]


def order_problems(ts: np.ndarray, bad: dict[int, Problem]) -> dict[int, Problem]:
    """Return the rows (among those not already ``bad``) whose time does not increase."""
    good = np.ones(len(ts), dtype=bool)
    good[list(bad)] = False
    rows = np.flatnonzero(good)
    if len(rows) < 2:
        return {}
    kept = ts[rows]
    before = np.maximum.accumulate(kept)[:-1]
    late = np.flatnonzero(kept[1:] <= before) + 1
    repeats = kept[late] == before[late - 1]
    return {
        int(rows[i]): Problem(
            int(rows[i]),
            "timestamp must not repeat" if rep else "timestamp must increase strictly",
            str(int(kept[i])),
        )
        for i, rep in zip(late, repeats, strict=True)
    }
