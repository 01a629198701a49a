"""The spec reader: stops on the tick in float64 only where that is surely exact.

``read_specs`` runs compiled (C doubles, ``specs.pxd``) where the books are built; the
same file loaded as Python is compared with it on random specs.
"""

from __future__ import annotations

import importlib.util
import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aifap.backtest import specs

SOURCE = Path(specs.__file__).with_name("specs.py")


def _python_specs():
    """Return specs.py loaded as Python (the imported module may be the compiled one)."""
    spec = importlib.util.spec_from_file_location("specs_as_python", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PYTHON = _python_specs()


def exact_units(tick: float, price: float) -> int:
    """The planner's rounding: the price to a whole number of ticks, ties to even."""
    ticks = (Decimal(repr(price)) / Decimal(repr(tick))).quantize(Decimal(1), ROUND_HALF_EVEN)
    return int(ticks)


def read(module, price: float, tick: float, close: float = 1.0):
    """Read one long spec with a take profit at ``price``; return (units, exact calls)."""
    calls = []

    def tick_units(col, value):
        calls.append(value)
        return exact_units(tick, value)

    out = module.read_specs(
        [0], [{"weight": 0.5, "presetStopSurplusPrice": price}], [close], [tick], [1], 0.0,
        {}, tick_units,
    )  # fmt: skip
    return out[1][0][0], calls


def test_a_stop_half_way_between_two_ticks_is_rounded_exactly():
    for module in (specs, PYTHON):
        units, calls = read(module, 1.25, 0.5)  # 2.5 ticks: ties go to even, 2
        assert (units, calls) == (2, [1.25])
        units, calls = read(module, 1.75, 0.5)  # 3.5 ticks: 4
        assert (units, calls) == (4, [1.75])


def test_a_stop_of_more_ticks_than_float64_rounds_surely_is_rounded_exactly():
    price = 2.0**51 + 1.0
    for module in (specs, PYTHON):
        units, calls = read(module, price, 1.0)
        assert calls == [price]
        assert units == exact_units(1.0, price)


def test_a_stop_clear_of_a_half_is_rounded_in_float64():
    for module in (specs, PYTHON):
        assert read(module, 101.37, 0.01) == (10137, [])
        assert read(module, 101.3749, 0.01) == (10137, [])


@settings(max_examples=300, deadline=None)
@given(
    ticks=st.integers(min_value=1, max_value=10**12),
    fraction=st.floats(min_value=0.0, max_value=1.0),
    exponent=st.integers(min_value=-8, max_value=2),
    near_half=st.booleans(),
)
def test_compiled_and_python_readers_round_every_stop_alike_and_exactly(
    ticks, fraction, exponent, near_half
):
    tick = 10.0**exponent
    y = ticks + (0.5 + (fraction - 0.5) * 1e-12 if near_half else fraction)
    price = float(np.float64(y) * tick)
    if not price > 1.0:  # a take profit above the close of 1.0
        return
    fast, calls = read(specs, price, tick)
    slow, _ = read(PYTHON, price, tick)
    assert fast == slow == exact_units(tick, price)
    assert not calls or math.isclose(calls[0], price)
