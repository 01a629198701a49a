"""Venue quirks live in ``aifap/exchange/ccxt/venues/*.py`` as data; shared code reads them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aifap.exchange.ccxt as ccxt_package
from aifap.core.errors import UnknownPluginError
from aifap.core.markets import MarketType
from aifap.exchange.ccxt.client import make_exchange
from aifap.exchange.ccxt.market_data import PublicMarketData
from aifap.exchange.ccxt.venues import quirks, venue_names

SHARED = sorted(
    path
    for path in Path(ccxt_package.__file__).parent.rglob("*.py")
    if "venues" not in path.relative_to(Path(ccxt_package.__file__).parent).parts
)


def _venue_names_tested(path: Path, names: set[str]) -> list[str]:
    """Return the places ``path`` compares with, keys on or lists a venue name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            operands = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            operands = list(node.elts)
        elif isinstance(node, ast.Match):
            operands = [c.pattern for c in node.cases]
        else:
            continue
        for operand in operands:
            for leaf in ast.walk(operand):
                if isinstance(leaf, ast.Constant) and str(leaf.value).lower() in names:
                    found.append(f"{path.name}:{leaf.lineno} {leaf.value!r}")
    return found


def test_shared_ccxt_code_tests_no_venue_name():
    names = set(venue_names())
    assert {"bitget", "binance", "bybit"} <= names
    offenders = [hit for path in SHARED for hit in _venue_names_tested(path, names)]
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("venue", "market_type", "default_type", "options"),
    [
        ("bitget", MarketType.FUTURES, "swap", {"uta": False}),
        ("bitget", MarketType.SPOT, "spot", {"uta": False}),
        ("binance", MarketType.FUTURES, "future", {}),
        ("binance", MarketType.SPOT, "spot", {}),
        ("bybit", MarketType.FUTURES, "swap", {"enableUnifiedAccount": True}),
    ],
)
def test_clients_take_their_options_from_the_quirks_table(
    venue, market_type, default_type, options
):
    exchange = make_exchange(venue, market_type)
    assert exchange.options["defaultType"] == default_type
    for key, value in options.items():
        assert exchange.options[key] == value


def test_an_unknown_venue_lists_the_known_ones():
    with pytest.raises(UnknownPluginError, match="known names: binance, bitget, bybit"):
        make_exchange("kraken", MarketType.FUTURES)


@pytest.mark.parametrize(("venue", "limit"), [("bitget", 200), ("binance", 1000), ("bybit", 1000)])
def test_candle_pages_follow_the_venue(venue, limit):
    assert PublicMarketData(venue, MarketType.FUTURES).page_limit == limit


def test_only_venues_with_a_trigger_history_link_stop_fills():
    linked = {name for name in venue_names() if quirks(name).trigger_history_params is not None}
    assert linked == {"bitget"}
