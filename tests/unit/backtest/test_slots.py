"""The engine and the integer books keep their attributes in slots, not in a dict.

CPython 3.11 moves an object's attributes to a dict past 30 of them, and then no longer
specializes ``self.x`` and ``self.method()``: the per-rebalance code of these classes
would pay a dict and a type lookup for each. A base class without ``__slots__``, or an
attribute added outside them, would bring the dict back (or fail here).
"""

from __future__ import annotations

import pytest
from test_deferred_booking import frames, leaning

import aifap
from aifap.backtest import engine as engine_module
from aifap.data.frames import FrameBarSource


@pytest.mark.parametrize("market", ["futures", "spot"])
def test_the_engine_and_its_book_have_no_instance_dict(monkeypatch, market):
    seen = []
    run = engine_module.Engine.run

    def keep(self, *args, **kwargs):
        seen.append(self)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(engine_module.Engine, "run", keep)
    data = frames(11, n=1500)
    result = aifap.backtest(
        leaning(7),
        FrameBarSource(data, market=market),
        config={"symbols": list(data)},
        market=market,
        progress=False,
    )
    assert result.config["ledger"] == "integer"
    assert (result.orders.reason != "rebalance").any()  # the stops' highs and lows were read
    (engine,) = seen
    book = engine.book
    assert type(book).__name__ == {"futures": "FuturesBook", "spot": "SpotBook"}[market]
    for obj in (engine, book):
        assert not hasattr(obj, "__dict__"), type(obj).__name__
    with pytest.raises(AttributeError):
        engine.unknown = 1  # slots: an attribute must be declared
