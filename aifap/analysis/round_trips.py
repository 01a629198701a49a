"""Round trips of fractional crypto amounts (pyfolio's cast amounts to integers).

A round trip opens when a symbol's position leaves zero and closes, lot by lot
(first in, first out), as opposite fills reduce it; a fill that flips the position
closes the open lots and opens the rest on the other side. Amounts are summed as
``Decimal`` of their decimal text, so 0.1 + 0.2 - 0.3 closes exactly.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

COLUMNS = [
    "symbol", "side", "open_dt", "close_dt", "amount", "open_price", "close_price",
    "pnl", "returns", "duration",
]  # fmt: skip


@dataclass
class _Lot:
    time: pd.Timestamp
    amount: Decimal  # signed: > 0 long
    price: Decimal


def _decimal(value: object) -> Decimal:
    return Decimal(str(value))


def extract_round_trips(transactions: pd.DataFrame) -> pd.DataFrame:
    """Return one row per closed lot: symbol, side, open/close time, amount, prices, PnL.

    Args:
        transactions: pyfolio's frame (``amount`` signed, ``price``, ``symbol``) indexed
            by fill time.

    Returns:
        A frame with :data:`COLUMNS`, ordered by close time; ``returns`` is PnL over
        the opening notional; still-open lots are not round trips and are left out.
    """
    if transactions is None or transactions.empty:
        return pd.DataFrame(columns=COLUMNS)
    ordered = transactions.sort_index(kind="stable")
    books: dict[str, deque[_Lot]] = {}
    trips: list[dict[str, object]] = []
    times = ordered.index
    for when, amount, price, symbol in zip(
        times, ordered["amount"], ordered["price"], ordered["symbol"], strict=True
    ):
        left, fill_price = _decimal(amount), _decimal(price)
        lots = books.setdefault(str(symbol), deque())
        while left != 0 and lots and (lots[0].amount > 0) != (left > 0):
            lot = lots[0]
            closed = min(abs(lot.amount), abs(left))
            sign = 1 if lot.amount > 0 else -1
            pnl = (fill_price - lot.price) * closed * sign
            trips.append(
                {
                    "symbol": str(symbol),
                    "side": "long" if sign > 0 else "short",
                    "open_dt": lot.time,
                    "close_dt": when,
                    "amount": float(closed),
                    "open_price": float(lot.price),
                    "close_price": float(fill_price),
                    "pnl": float(pnl),
                    "returns": float(pnl / (lot.price * closed)) if lot.price else 0.0,
                    "duration": when - lot.time,
                }
            )
            lot.amount -= closed * sign
            left += closed * sign
            if lot.amount == 0:
                lots.popleft()
        if left != 0:
            lots.append(_Lot(when, left, fill_price))
    return pd.DataFrame(trips, columns=COLUMNS)


def round_trip_summary(trips: pd.DataFrame) -> pd.DataFrame:
    """Return per-symbol and overall statistics of round trips (count, win rate, PnL)."""
    if trips.empty:
        return pd.DataFrame()

    def stats(group: pd.DataFrame) -> pd.Series:
        return pd.Series(
            {
                "round trips": len(group),
                "win rate": float((group["pnl"] > 0).mean()),
                "total PnL": float(group["pnl"].sum()),
                "average PnL": float(group["pnl"].mean()),
                "average return": float(group["returns"].mean()),
                "average duration": group["duration"].mean(),
            },
            dtype="object",
        )

    rows = {symbol: stats(group) for symbol, group in trips.groupby("symbol", sort=True)}
    rows["all"] = stats(trips)
    return pd.DataFrame(rows).T
