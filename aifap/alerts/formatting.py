"""Numbers, times and the fixed-width position table of the seed's alerts.

Number-formatting rule (golden-tested against the seed's examples):

* **Size** is the exact signed-less amount; when the symbol's ``MarketSpec`` is
  given it is first rounded toward zero to the amount step. It is printed without
  trailing zeros or exponent (``133``, ``0.4``, ``0.0004``, ``3.1``).
* **SL** and **TP** are printed the same way, rounded to the market's price step
  when known (``0.09824``, ``93.91``, ``69781.2``); a missing stop is a blank cell.
* **Entry** (an average, so it may carry many digits) is a numeric column:

  - with a ``MarketSpec``: exactly the market's price decimals, trailing zeros kept
    (``12.3670`` for a 0.0001 price step);
  - without one: every such entry in the table shares the largest number of
    decimals any of them needs (at least 1, at most ``MAX_ENTRY_DECIMALS``), as a
    pandas float column prints (``0.12278``, ``78.17000``, ``87200.00000``).

* **FundingFee** is the exact Decimal without trailing zeros; zero is blank.
* A changed cell of the Updated table reads ``old -> new``; a missing side is ``-``
  and a zero funding fee is ``0`` there.

Table rule (pandas ``to_string(index=False)``, which the seed's tables came from):
columns ``Sym Side Size Entry SL TP FundingFee``, every cell right-aligned, one space
between columns, each column as wide as its widest cell or header, where the numeric
Entry header counts as `` Entry`` (width >= 6), and trailing spaces stripped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aifap.core.errors import ConfigError
from aifap.core.markets import MarketSpec, round_price, round_to_step
from aifap.core.portfolio import Position

COLUMNS: tuple[str, ...] = ("Sym", "Side", "Size", "Entry", "SL", "TP", "FundingFee")
NUMERIC_HEADERS: frozenset[str] = frozenset({"Entry"})
MAX_ENTRY_DECIMALS = 8
ARROW = " -> "


def plain(value: Decimal) -> str:
    """Return ``value`` without exponent or trailing zeros (``1E+2`` -> ``100``)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def decimals_of(value: Decimal) -> int:
    """Return how many decimals ``value`` needs once trailing zeros are dropped."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def step_decimals(step: Decimal) -> int:
    """Return the number of decimals a precision step allows (0.001 -> 3)."""
    return decimals_of(step) if step > 0 else MAX_ENTRY_DECIMALS


def fixed(value: Decimal, decimals: int) -> str:
    """Return ``value`` rounded half-even to ``decimals`` places, zeros kept."""
    return format(value.quantize(Decimal(1).scaleb(-decimals)), "f")


def format_size(size: Decimal, market: MarketSpec | None = None) -> str:
    """Return a position size cell: the absolute amount at the amount precision."""
    amount = abs(size)
    if market is not None:
        amount = round_to_step(amount, market.amount_step)
    return plain(amount)


def format_stop(price: Decimal | None, market: MarketSpec | None = None) -> str:
    """Return an SL/TP cell: blank when unset, else the price at the price precision."""
    if price is None:
        return ""
    if market is not None:
        price = round_price(price, market.price_step)
    return plain(price)


def format_fee(fee: Decimal, *, blank_zero: bool = True) -> str:
    """Return a funding-fee cell: the exact amount, blank when zero."""
    if fee == 0 and blank_zero:
        return ""
    return plain(fee)


def entry_decimals(
    positions: Sequence[Position], markets: Mapping[str, MarketSpec] | None = None
) -> dict[str, int]:
    """Return the Entry decimals of each symbol in ``positions`` (see the module rule)."""
    markets = markets or {}
    shared = 1
    for position in positions:
        if position.symbol not in markets:
            shared = max(shared, decimals_of(position.entry_price))
    shared = min(shared, MAX_ENTRY_DECIMALS)
    return {
        p.symbol: step_decimals(markets[p.symbol].price_step) if p.symbol in markets else shared
        for p in positions
    }


def change(old: str, new: str) -> str:
    """Return ``new``, or ``old -> new`` when they differ (a blank side reads ``-``)."""
    if old == new:
        return new
    return f"{old or '-'}{ARROW}{new or '-'}"


@dataclass(frozen=True, slots=True)
class Table:
    """A rendered position table: the header line and one line per row."""

    header: str
    rows: tuple[str, ...]

    @property
    def lines(self) -> tuple[str, ...]:
        """Return the header followed by the rows."""
        return (self.header, *self.rows)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def render_table(rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS) -> Table:
    """Right-align ``rows`` of cell strings under ``columns`` as the module rule says."""
    for index, row in enumerate(rows):
        if len(row) != len(columns):
            raise ValueError(f"table row {index} must have {len(columns)} cells, was {len(row)}")
    headers = [f" {name}" if name in NUMERIC_HEADERS else name for name in columns]
    widths = [max([len(headers[i]), *(len(row[i]) for row in rows)]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return " ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    return Table(line(headers).rstrip(), tuple(line(row).rstrip() for row in rows))


def zone(name: str) -> ZoneInfo:
    """Return the display time zone called ``name`` or raise ConfigError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"display_timezone must be an IANA zone such as 'Asia/Seoul', was {name!r}"
        ) from exc


def format_time(moment: datetime, timezone: str | ZoneInfo = "UTC") -> str:
    """Return ``moment`` as the seed prints it: ``2025-12-30 09:07 +0900``.

    Naive datetimes are taken as UTC.
    """
    tz = zone(timezone) if isinstance(timezone, str) else timezone
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %z")
