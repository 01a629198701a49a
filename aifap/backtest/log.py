"""A compact, column-wise record of a backtest's fills (a year of 1m bars has ~10^5-10^6).

Every fill is a row of typed arrays (8 bytes a number, 1-2 bytes a code): the symbol as
its column, the side, the reason and the planner's leg as small codes, the rebalancing
cycle as an integer. Client order ids are derived from (session, cycle, symbol, leg) only
when the orders frame is built (:meth:`FillLog.client_ids`, the same
:func:`aifap.core.orders.client_order_id` the planner's :func:`aifap.core.planner.plan`
uses), so a year of trade-heavy rebalancing keeps no 2 million id strings alive.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from aifap.backtest.execute import Booked
from aifap.core.orders import Fill, FillReason, Side, client_order_id
from aifap.core.planner import CLOSE, OPEN, REDUCE, STOPS

REASONS = tuple(FillReason)
REASON_CODES = {reason: code for code, reason in enumerate(REASONS)}
REBALANCE = REASON_CODES[FillReason.REBALANCE]
LEGS = (CLOSE, REDUCE, OPEN, STOPS)
LEG_CODES = {leg: code for code, leg in enumerate(LEGS)}
NO_CYCLE = -1  # a fill no plan ordered (a triggered stop): no client order id


@dataclass
class FillLog:
    """Fills as parallel typed columns, not Fill objects.

    ``symbols`` are the run's symbols in column order; ``session_id`` goes into the
    client order ids.
    """

    symbols: Sequence[str]
    session_id: str = "backtest"
    time_ns: array[int] = field(default_factory=lambda: array("q"))
    column: array[int] = field(default_factory=lambda: array("l"))
    sell: array[int] = field(default_factory=lambda: array("b"))  # 1: sell, 0: buy
    amount: array[float] = field(default_factory=lambda: array("d"))  # unsigned, contracts
    signed_base: array[float] = field(default_factory=lambda: array("d"))  # × contract size
    price: array[float] = field(default_factory=lambda: array("d"))
    fee: array[float] = field(default_factory=lambda: array("d"))  # quote (Fill.fee_value)
    realized_pnl: array[float] = field(default_factory=lambda: array("d"))
    reason: array[int] = field(default_factory=lambda: array("b"))  # index into REASONS
    cycle: array[int] = field(default_factory=lambda: array("q"))  # NO_CYCLE: no plan's order
    leg: array[int] = field(default_factory=lambda: array("b"))  # index into LEGS
    named: dict[int, str] = field(default_factory=dict)  # ids given as text, by row

    def __len__(self) -> int:
        return len(self.time_ns)

    def add(self, fill: Fill, time_ns: int, column: int, contract_size: float) -> None:
        """Record one booked fill no plan ordered (``fill.realized_pnl`` set by the ledger)."""
        if fill.client_id is not None:
            self.named[len(self)] = fill.client_id
        self.add_raw(
            time_ns,
            column,
            fill.side,
            fill.amount,
            contract_size,
            fill.price,
            fill.fee_value,
            fill.realized_pnl or 0,
            REASON_CODES[fill.reason],
            NO_CYCLE,
            0,
        )

    def add_raw(
        self,
        time_ns: int,
        column: int,
        side: Side,
        amount: Decimal,
        contract_size: float,
        price: Decimal,
        fee_value: Decimal,
        realized_pnl: Decimal | int,
        reason: int,
        cycle: int,
        leg: int,
    ) -> None:
        """Record one booked fill given by its fields (``reason``/``leg``: their codes)."""
        size = float(amount)
        sell = side is Side.SELL
        self.time_ns.append(time_ns)
        self.column.append(column)
        self.sell.append(sell)
        self.amount.append(size)
        self.signed_base.append(-size * contract_size if sell else size * contract_size)
        self.price.append(float(price))
        self.fee.append(float(fee_value))
        self.realized_pnl.append(float(realized_pnl))
        self.reason.append(reason)
        self.cycle.append(cycle)
        self.leg.append(leg)

    def add_booked(
        self,
        time_ns: int,
        cycle: int,
        booked: Sequence[Booked],
        columns: Sequence[int],
        contract_sizes: Sequence[float],
    ) -> None:
        """Record the rebalancing fills of one cycle at once (``columns``: each one's symbol).

        The same values as :meth:`add_raw` per fill, a column at a time.
        """
        n = len(booked)
        amounts = [float(b.amount) for b in booked]
        sells = [b.order.side is Side.SELL for b in booked]
        self.time_ns.extend([time_ns] * n)
        self.column.extend(columns)
        self.sell.extend(sells)
        self.amount.extend(amounts)
        self.signed_base.extend(
            [
                -a * cs if sell else a * cs
                for a, cs, sell in zip(amounts, contract_sizes, sells, strict=True)
            ]
        )
        self.price.extend([float(b.price) for b in booked])
        self.fee.extend([float(b.fee if b.fee_quote is None else b.fee_quote) for b in booked])
        self.realized_pnl.extend([float(b.realized_pnl) for b in booked])
        self.reason.extend([REBALANCE] * n)
        self.cycle.extend([cycle] * n)
        self.leg.extend([LEG_CODES[b.order.leg] for b in booked])

    def index(self) -> pd.DatetimeIndex:
        """Return the fill times as a UTC DatetimeIndex named ``timestamp``."""
        stamps = np.array(self.time_ns, dtype=np.int64).view("datetime64[ns]")  # a copy
        return pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")

    def symbol_names(self) -> np.ndarray:
        """Return each fill's symbol (an object array sharing the run's symbol strings)."""
        names = np.array(list(self.symbols), dtype=object)
        return np.asarray(names[np.frombuffer(self.column, dtype=np.int_)])

    def side_names(self) -> np.ndarray:
        """Return each fill's side, ``'buy'`` or ``'sell'`` (object array)."""
        sides = np.array(["buy", "sell"], dtype=object)
        return np.asarray(sides[np.frombuffer(self.sell, dtype=np.int8)])

    def reason_names(self) -> np.ndarray:
        """Return each fill's reason value (``'rebalance'``, ``'stop_loss'``, ...)."""
        names = np.array([r.value for r in REASONS], dtype=object)
        return np.asarray(names[np.frombuffer(self.reason, dtype=np.int8)])

    def client_ids(self, rows: Iterable[int]) -> Iterator[str | None]:
        """Yield the client order id of each fill row in ``rows`` (None for a row < 0).

        A fill's id is its planner leg's (:func:`aifap.core.orders.client_order_id` of
        session, cycle, symbol, leg); a fill no plan ordered has the id it was logged with,
        if any. A generator: a year's ids need not all be Python strings at once.
        """
        symbols, session, named = self.symbols, self.session_id, self.named
        cycles, columns, legs = self.cycle, self.column, self.leg
        for row in rows:
            if row < 0:
                yield None
                continue
            cycle = cycles[row]
            if cycle == NO_CYCLE:
                yield named.get(row)
            else:
                yield client_order_id(session, cycle, symbols[columns[row]], LEGS[legs[row]])

    def release(self) -> None:
        """Empty the log (once the result frames are built: its columns are then copies)."""
        for name in (
            "time_ns", "column", "sell", "amount", "signed_base", "price", "fee",
            "realized_pnl", "reason", "cycle", "leg",
        ):  # fmt: skip
            column = getattr(self, name)
            del column[:]
        self.named.clear()
