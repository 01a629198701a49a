"""Parameter grids: validate them, expand them, sample them, parse them from the CLI.

A grid is ``{name: [value, ...]}``; each combination is a dict that goes into the
strategy's ``config_dict`` (on top of the sweep's base ``config``). Combinations are
listed in a fixed order (the cartesian product, the last name varying fastest) so a
sweep's table has the same rows in the same order wherever it runs.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from aifap.core.errors import ConfigError

Params = dict[str, Any]


def check_grid(grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Return ``grid`` as ``{name: [values]}`` after checking its rules.

    Raises:
        ConfigError: the grid is empty, a name is not a non-empty string, or its values
            are not a non-empty list (a string or a mapping is not a list of values).
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"grid must be a non-empty dict of name -> list of values, was {grid!r}")
    out: dict[str, list[Any]] = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"grid: parameter names must be non-empty strings, was {name!r}")
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
            raise ConfigError(f"grid[{name!r}] must be a list of values, was {values!r}")
        if not values:
            raise ConfigError(f"grid[{name!r}] must hold at least one value, was empty")
        out[name] = list(values)
    return out


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[Params]:
    """Return every combination of the grid, in cartesian-product order."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


def sample(grid: Mapping[str, Sequence[Any]], trials: int, seed: int) -> list[Params]:
    """Return ``trials`` distinct combinations drawn at random (seeded), in grid order.

    Raises:
        ConfigError: ``trials`` is not a positive integer.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials must be an integer >= 1, was {trials!r}")
    every = combinations(grid)
    if trials >= len(every):
        return every
    picked = sorted(random.Random(seed).sample(range(len(every)), trials))
    return [every[i] for i in picked]


def parse_grid_option(items: Sequence[str], option: str = "--grid") -> dict[str, list[Any]]:
    """Parse ``["lookback=10,20,40", "window=50,100"]`` into a grid.

    Each value is read as JSON when it parses (``10`` → int, ``0.5`` → float,
    ``true`` → bool), else kept as a string (``1m``).

    Raises:
        ConfigError: an item is not ``name=v1,v2,...`` or a name appears twice.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        values = [part.strip() for part in text.split(",") if part.strip()]
        if not sep or not name or not values:
            raise ConfigError(f"{option} must look like name=v1,v2,..., was {item!r}")
        if name in grid:
            raise ConfigError(f"{option}: {name!r} must be given once, was given twice")
        grid[name] = [_scalar(v) for v in values]
    return check_grid(grid)


def _scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
