"""Sample snapshots that reproduce the seed's alert examples.

``aifap alerts test`` sends them to a channel; the golden tests render them and
compare with the seed's text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aifap.core.markets import MarketSpec, MarketType
from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot

D = Decimal
SESSION = "sample"
START = datetime(2025, 12, 30, 0, 7, tzinfo=UTC)  # 09:07 +0900


def position(
    symbol: str,
    size: str,
    entry: str,
    *,
    sl: str | None = None,
    tp: str | None = None,
    fee: str = "0",
) -> Position:
    """Return a position from strings (negative size = short); mark = entry."""
    return Position(
        symbol=symbol,
        size=D(size),
        entry_price=D(entry),
        mark_price=D(entry),
        stop_loss=None if sl is None else D(sl),
        take_profit=None if tp is None else D(tp),
        funding_fee=D(fee),
    )


def snapshot(*positions: Position, minutes: int = 0) -> Snapshot:
    """Return a snapshot holding ``positions``, ``minutes`` after the sample start."""
    return Snapshot(
        session_id=SESSION,
        timestamp=START + timedelta(minutes=minutes),
        balance=D(1000),
        positions=positions,
    )


def market(symbol: str, price_step: str, amount_step: str = "0.0001") -> MarketSpec:
    """Return a USDT-M futures market with the given precision steps."""
    return MarketSpec(
        symbol=symbol,
        market_type=MarketType.FUTURES,
        base=symbol.removesuffix("USDT"),
        quote="USDT",
        price_step=D(price_step),
        amount_step=D(amount_step),
    )


DOT = position("DOTUSDT", "-43", "1.823", tp="1.733")
DOGE = position("DOGEUSDT", "133", "0.12278", sl="0.09824", tp="0.12894")
LTC = position("LTCUSDT", "-0.4", "78.17", sl="93.91", tp="74.35")
BTC = position("BTCUSDT", "0.0004", "87200", sl="69781.2", tp="91587.8")
BNB = position("BNBUSDT", "0.01", "612.4", sl="550", tp="680")
XRP_OLD = position("XRPUSDT", "3", "1.85", sl="1.4801", tp="1.9426", fee="0.0001")
AVAX_OLD = position("AVAXUSDT", "-3.1", "12.367", sl="14.836", tp="11.745", fee="0.0019")
DOT_OLD = position("DOTUSDT", "-43", "1.823", sl="2.189", tp="1.733", fee="0.0052")


@dataclass(frozen=True, slots=True)
class SamplePair:
    """Two consecutive snapshots and the markets that format them."""

    prev: Snapshot | None
    curr: Snapshot
    markets: dict[str, MarketSpec]


def opened_pair() -> SamplePair:
    """Return the pair behind ``🟢 [Trader A] New Positions Opened``."""
    return SamplePair(None, snapshot(DOT), {})


def added_pair() -> SamplePair:
    """Return the pair behind ``🟢 [Trader A] Position Added``."""
    return SamplePair(snapshot(DOT), snapshot(DOT, DOGE, LTC, BTC, minutes=1), {})


def updated_pair() -> SamplePair:
    """Return the pair behind ``📝 [Trader A] Position Updated`` (with market precision)."""
    new = (
        replace(XRP_OLD, funding_fee=D("0.0001394625")),
        replace(AVAX_OLD, funding_fee=D("0.0026564241")),
        replace(DOT_OLD, funding_fee=D("0.00779289")),
    )
    markets = {
        "XRPUSDT": market("XRPUSDT", "0.00001", "1"),
        "AVAXUSDT": market("AVAXUSDT", "0.0001", "0.1"),
        "DOTUSDT": market("DOTUSDT", "0.0001", "1"),
    }
    return SamplePair(snapshot(XRP_OLD, AVAX_OLD, DOT_OLD), snapshot(*new, minutes=480), markets)


def closed_pairs() -> tuple[SamplePair, SamplePair]:
    """Return the pairs behind ``Position Closed: LTCUSDT`` and ``…: DOGEUSDT, BNBUSDT``."""
    one = SamplePair(snapshot(DOT, LTC), snapshot(DOT, minutes=2), {})
    two = SamplePair(snapshot(DOGE, BNB, DOT), snapshot(DOT, minutes=3), {})
    return one, two


def every_pair() -> list[SamplePair]:
    """Return the pairs that together produce every position alert kind."""
    return [opened_pair(), added_pair(), updated_pair(), *closed_pairs()]
