"""Position events derived from two consecutive snapshots, and their table rows.

``diff_snapshots(prev, curr)`` says which symbols opened, changed or closed. A
position counts as updated when its size, side, stop loss, take profit or funding
fee changed (a changed entry price comes with a size change and is shown too); a
moved mark price alone is no event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aifap.alerts.formatting import (
    change,
    entry_decimals,
    fixed,
    format_fee,
    format_size,
    format_stop,
)
from aifap.core.markets import MarketSpec
from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot

Markets = Mapping[str, MarketSpec]


@dataclass(frozen=True, slots=True)
class PositionChanges:
    """What happened between two snapshots, in the current snapshot's order.

    ``first`` is true when the previous snapshot held no position: new positions
    are then "New Positions Opened" rather than "Position Added".
    """

    opened: tuple[Position, ...] = ()
    updated: tuple[tuple[Position, Position], ...] = ()
    closed: tuple[Position, ...] = ()
    first: bool = True

    @property
    def empty(self) -> bool:
        """Tell whether nothing changed."""
        return not (self.opened or self.updated or self.closed)


def _changed(old: Position, new: Position) -> bool:
    return (
        old.size != new.size
        or old.stop_loss != new.stop_loss
        or old.take_profit != new.take_profit
        or old.funding_fee != new.funding_fee
    )


def diff_snapshots(prev: Snapshot | None, curr: Snapshot) -> PositionChanges:
    """Return the opened, updated and closed positions from ``prev`` to ``curr``.

    A ``prev`` of None (the session's first snapshot) is an empty portfolio.
    """
    before = {p.symbol: p for p in prev.positions} if prev is not None else {}
    after = {p.symbol: p for p in curr.positions}
    opened = tuple(p for p in curr.positions if p.symbol not in before)
    updated = tuple(
        (before[p.symbol], p)
        for p in curr.positions
        if p.symbol in before and _changed(before[p.symbol], p)
    )
    closed = tuple(p for symbol, p in before.items() if symbol not in after)
    return PositionChanges(opened=opened, updated=updated, closed=closed, first=not before)


def position_rows(positions: Sequence[Position], markets: Markets | None = None) -> list[list[str]]:
    """Return the table cells of new positions (Opened / Added tables)."""
    markets = markets or {}
    decimals = entry_decimals(positions, markets)
    return [
        [
            p.symbol,
            p.side,
            format_size(p.size, markets.get(p.symbol)),
            fixed(p.entry_price, decimals[p.symbol]),
            format_stop(p.stop_loss, markets.get(p.symbol)),
            format_stop(p.take_profit, markets.get(p.symbol)),
            format_fee(p.funding_fee),
        ]
        for p in positions
    ]


def update_rows(
    pairs: Sequence[tuple[Position, Position]], markets: Markets | None = None
) -> list[list[str]]:
    """Return the table cells of updated positions, ``old -> new`` where a cell changed."""
    markets = markets or {}
    olds = [old for old, _ in pairs]
    news = [new for _, new in pairs]
    old_decimals = entry_decimals(olds, markets)
    new_decimals = entry_decimals(news, markets)
    rows = []
    for old, new in pairs:
        market = markets.get(new.symbol)
        old_fee = format_fee(old.funding_fee, blank_zero=False)
        new_fee = format_fee(new.funding_fee, blank_zero=False)
        fee = format_fee(new.funding_fee) if old_fee == new_fee else change(old_fee, new_fee)
        decimals = max(old_decimals[old.symbol], new_decimals[new.symbol])
        rows.append(
            [
                new.symbol,
                change(old.side, new.side),
                change(format_size(old.size, market), format_size(new.size, market)),
                change(fixed(old.entry_price, decimals), fixed(new.entry_price, decimals)),
                change(format_stop(old.stop_loss, market), format_stop(new.stop_loss, market)),
                change(format_stop(old.take_profit, market), format_stop(new.take_profit, market)),
                fee,
            ]
        )
    return rows
