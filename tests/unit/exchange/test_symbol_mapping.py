import pytest

from aifap.core.markets import MarketType
from aifap.exchange.ccxt.symbols import split_compact, to_compact, to_unified


@pytest.mark.parametrize(
    ("compact", "market", "unified"),
    [
        ("BTCUSDT", MarketType.FUTURES, "BTC/USDT:USDT"),
        ("DOGEUSDT", MarketType.SPOT, "DOGE/USDT"),
        ("ETHBTC", MarketType.SPOT, "ETH/BTC"),
        ("XRPETH", MarketType.SPOT, "XRP/ETH"),
    ],
)
def test_compact_and_unified_symbols_map_both_ways(compact, market, unified):
    assert to_unified(compact, market) == unified
    assert to_compact(unified) == compact


def test_unknown_quotes_are_refused():
    with pytest.raises(ValueError, match="known quote currency"):
        split_compact("FOOBAR")
