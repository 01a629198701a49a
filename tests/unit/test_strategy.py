"""Loading, calling and validating strategies."""

from __future__ import annotations

import textwrap
import time

import pytest

from aifap.core.errors import InvalidTargetError, StrategyError, StrategyTimeoutError
from aifap.core.markets import MarketSpec, MarketType
from aifap.strategy import call_strategy, load_strategy, validate_output

MARKETS = {"BTCUSDT": MarketSpec("BTCUSDT", MarketType.FUTURES, "BTC", "USDT", max_leverage=10)}


def test_callable_is_returned_as_is():
    def strategy(context, config):
        return {}

    assert load_strategy(strategy) is strategy


def test_file_path_and_file_with_function(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        textwrap.dedent(
            """
            def strategy(context, config_dict):
                return {"BTCUSDT": 0.5}

            def other(context, config_dict):
                return None
            """
        )
    )
    assert load_strategy(path)(None, {}) == {"BTCUSDT": 0.5}
    assert load_strategy(str(path))(None, {}) == {"BTCUSDT": 0.5}
    assert load_strategy(f"{path}:other")(None, {}) is None


def test_module_and_function():
    import operator

    assert load_strategy("operator:add") is operator.add


def test_load_errors_name_what_is_missing(tmp_path):
    with pytest.raises(StrategyError, match="strategy file must exist"):
        load_strategy(tmp_path / "nope.py")
    with pytest.raises(StrategyError, match="could not be imported"):
        load_strategy("no_such_module_here:strategy")
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(StrategyError, match="raised on import"):
        load_strategy(bad)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(StrategyError, match="'strategy' must be a callable"):
        load_strategy(empty)


def test_exceptions_are_wrapped_naming_the_bar():
    def broken(context, config):
        raise KeyError("ETHUSDT")

    with pytest.raises(
        StrategyError, match=r"strategy raised at bar 2024-01-01 00:05:00\+00:00: KeyError"
    ) as info:
        call_strategy(broken, None, {}, bar="2024-01-01 00:05:00+00:00")
    assert isinstance(info.value.__cause__, KeyError)


def test_time_limit():
    def slow(context, config):
        time.sleep(0.5)
        return {}

    with pytest.raises(StrategyTimeoutError, match=r"strategy must return within 0\.05 s at bar 7"):
        call_strategy(slow, None, {}, bar=7, timeout=0.05)
    assert call_strategy(lambda c, k: {"x": 1}, None, {}, timeout=5) == {"x": 1}

    def broken(context, config):
        raise ValueError("bad")

    with pytest.raises(StrategyError, match="ValueError"):
        call_strategy(broken, None, {}, timeout=5)


def test_invalid_output_names_bar_symbol_and_rule():
    with pytest.raises(InvalidTargetError) as info:
        validate_output({"BTCUSDT": float("nan")}, MARKETS, bar="2024-01-01 00:05")
    err = info.value
    assert str(err) == "bar 2024-01-01 00:05: BTCUSDT: weight must be a finite number, was nan"
    assert (err.symbol, err.rule, err.bar) == (
        "BTCUSDT",
        "weight must be a finite number",
        "2024-01-01 00:05",
    )
    assert validate_output(None, MARKETS) is None
