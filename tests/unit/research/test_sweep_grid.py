"""Sweep grids: expansion order, random sampling, CLI parsing, and the errors naming the rule."""

from __future__ import annotations

import pytest

from aifap.core.errors import ConfigError
from aifap.research.grid import check_grid, combinations, parse_grid_option, sample
from aifap.research.objective import check_objective, score


def test_combinations_are_the_cartesian_product_last_name_fastest():
    combos = combinations({"lookback": [10, 20], "window": [50, 100, 200]})
    assert len(combos) == 6
    assert combos[0] == {"lookback": 10, "window": 50}
    assert combos[1] == {"lookback": 10, "window": 100}
    assert combos[-1] == {"lookback": 20, "window": 200}


def test_random_sample_is_seeded_distinct_and_in_grid_order():
    grid = {"a": list(range(5)), "b": list(range(4))}
    first = sample(grid, 7, seed=3)
    assert first == sample(grid, 7, seed=3)
    assert len({tuple(c.values()) for c in first}) == 7
    every = combinations(grid)
    assert [every.index(c) for c in first] == sorted(every.index(c) for c in first)
    assert sample(grid, 100, seed=0) == every


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "grid must be a non-empty dict"),
        ({"lookback": []}, "grid['lookback'] must hold at least one value"),
        ({"lookback": "10,20"}, "grid['lookback'] must be a list of values"),
        ({"": [1]}, "parameter names must be non-empty strings"),
    ],
)
def test_bad_grids_are_refused_naming_the_rule(grid, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_grid(grid)


def test_cli_grid_values_are_typed():
    grid = parse_grid_option(["lookback=10,20", "frequency=1m,5m", "take_profit=0.05", "x=true"])
    assert grid == {
        "lookback": [10, 20],
        "frequency": ["1m", "5m"],
        "take_profit": [0.05],
        "x": [True],
    }


@pytest.mark.parametrize("item", ["lookback", "lookback=", "=1,2"])
def test_cli_grid_needs_name_and_values(item):
    with pytest.raises(ConfigError, match="--grid must look like name=v1,v2"):
        parse_grid_option([item])


def test_cli_grid_name_twice_is_refused():
    with pytest.raises(ConfigError, match="'a' must be given once"):
        parse_grid_option(["a=1", "a=2"])


def test_objectives_rank_in_their_direction():
    assert check_objective("sharpe") == "sharpe"
    with pytest.raises(ConfigError, match="objective must be one of"):
        check_objective("sortino")
    assert score("sharpe", 2.0) > score("sharpe", 1.0) > score("sharpe", None)
    assert score("volatility", 0.1) > score("volatility", 0.2)
    assert score("max_drawdown", -0.1) > score("max_drawdown", -0.3)
    assert score("roe", float("nan")) == float("-inf")
