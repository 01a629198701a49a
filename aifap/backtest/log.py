"""A compact, column-wise record of a backtest's fills (a year of 1m bars has ~10^5-10^6).

Every fill is a row of typed arrays (8 bytes a number, 1-4 bytes a code): the symbol as
its column, the side, the reason and the planner's leg as small codes, the rebalancing
cycle as an integer; the signed base amount is derived from them at the end. Client order
ids are derived from (session, cycle, symbol, leg) only when the orders frame is built
(:meth:`FillLog.client_ids`: :func:`aifap.core.orders.client_order_ids`, the ids the
planner's :func:`aifap.core.planner.plan` gives), so a year of trade-heavy rebalancing
keeps no 2 million id strings alive; text columns are built in Arrow from the codes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa

from aifap.backtest.execute import Booked
from aifap.core.orders import Fill, FillReason, Side, client_order_ids
from aifap.core.planner import CLOSE, OPEN, REDUCE, STOPS

REASONS = tuple(FillReason)
REASON_CODES = {reason: code for code, reason in enumerate(REASONS)}
REBALANCE = REASON_CODES[FillReason.REBALANCE]
LEGS = (CLOSE, REDUCE, OPEN, STOPS)
LEG_CODES = {leg: code for code, leg in enumerate(LEGS)}
NO_CYCLE = -1  # a fill no plan ordered (a triggered stop): no client order id
SELL = Side.SELL
ID_CHUNK = 1 << 16  # client ids derived (as Python strings) this many rows at a time


def text_array(names: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Return ``names[codes]`` as a pandas ``str`` array, built in Arrow from the codes.

    No Python string or object array per row: the dictionary's strings are copied into
    one Arrow buffer, the same ``str`` dtype pandas infers from Python strings (and, as
    pandas does for an empty object array, an empty ``object`` array when no row).
    """
    if not len(codes):
        return pd.array(np.empty(0, dtype=object), dtype=object)
    dictionary = pa.array(list(names), type=pa.large_string())
    return pd.array(dictionary.take(pa.array(codes)), dtype="str")


@dataclass
class FillLog:
    """Fills as parallel typed columns, not Fill objects.

    ``symbols`` are the run's symbols in column order and ``contract_sizes`` theirs (the
    base units of one contract); ``session_id`` goes into the client order ids.
    """

    symbols: Sequence[str]
    contract_sizes: Sequence[float]
    session_id: str = "backtest"
    time_ns: array[int] = field(default_factory=lambda: array("q"))
    column: array[int] = field(default_factory=lambda: array("i"))
    sell: array[int] = field(default_factory=lambda: array("b"))  # 1: sell, 0: buy
    amount: array[float] = field(default_factory=lambda: array("d"))  # unsigned, contracts
    price: array[float] = field(default_factory=lambda: array("d"))
    fee: array[float] = field(default_factory=lambda: array("d"))  # quote (Fill.fee_value)
    realized_pnl: array[float] = field(default_factory=lambda: array("d"))
    reason: array[int] = field(default_factory=lambda: array("b"))  # index into REASONS
    cycle: array[int] = field(default_factory=lambda: array("q"))  # NO_CYCLE: no plan's order
    leg: array[int] = field(default_factory=lambda: array("b"))  # index into LEGS
    named: dict[int, str] = field(default_factory=dict)  # ids given as text, by row

    def __len__(self) -> int:
        return len(self.time_ns)

    def add(self, fill: Fill, time_ns: int, column: int) -> None:
        """Record one booked fill no plan ordered (``fill.realized_pnl`` set by the ledger)."""
        if fill.client_id is not None:
            self.named[len(self)] = fill.client_id
        self.add_raw(
            time_ns,
            column,
            fill.side,
            fill.amount,
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
        amount: Decimal | float,
        price: Decimal | float,
        fee_value: Decimal | float,
        realized_pnl: Decimal | float,
        reason: int,
        cycle: int,
        leg: int,
    ) -> None:
        """Record one booked fill given by its fields (``reason``/``leg``: their codes)."""
        self.time_ns.append(time_ns)
        self.column.append(column)
        self.sell.append(side is SELL)
        self.amount.append(float(amount))
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
        prices: Sequence[float],
    ) -> None:
        """Record the rebalancing fills of one cycle at once.

        The same values as :meth:`add_raw` per fill, a column at a time; ``columns`` are
        the fills' symbols, ``prices`` the floats of their prices (the caller knows them).
        """
        n = len(booked)
        self.time_ns.extend([time_ns] * n)
        self.column.extend(columns)
        self.sell.extend([b.order.side is SELL for b in booked])
        self.amount.extend([float(b.amount) for b in booked])
        self.price.extend(prices)
        self.fee.extend([float(b.fee if b.fee_quote is None else b.fee_quote) for b in booked])
        # most fills open or add (no PnL): a zero's float without its string (-0 kept)
        self.realized_pnl.extend(
            [
                float(r) if r else (-0.0 if r.is_signed() else 0.0)
                for r in [b.realized_pnl for b in booked]
            ]
        )
        self.reason.extend([REBALANCE] * n)
        self.cycle.extend([cycle] * n)
        self.leg.extend([LEG_CODES[b.order.leg] for b in booked])

    def index(self) -> pd.DatetimeIndex:
        """Return the fill times as a UTC DatetimeIndex named ``timestamp``."""
        stamps = np.array(self.time_ns, dtype=np.int64).view("datetime64[ns]")  # a copy
        return pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")

    def columns(self) -> np.ndarray:
        """Return each fill's symbol as its column number (a view of the log)."""
        return np.frombuffer(self.column, dtype=np.intc)

    def numbers(self, name: str) -> np.ndarray:
        """Return the float column ``name`` (``amount``, ``price``, ...) as a view of the log."""
        values: array[float] = getattr(self, name)
        return np.frombuffer(values, dtype=np.float64)

    def signed_base(self) -> np.ndarray:
        """Return each fill's signed amount in base units (amount × contract size, − sells)."""
        sizes = np.asarray(self.contract_sizes, dtype=np.float64)[self.columns()]
        base = self.numbers("amount") * sizes
        sells = np.frombuffer(self.sell, dtype=np.int8).astype(bool)
        np.negative(base, out=base, where=sells)  # -(a × cs) is (-a) × cs in IEEE
        return np.asarray(base)

    def symbol_names(self) -> pd.api.extensions.ExtensionArray:
        """Return each fill's symbol (a ``str`` array)."""
        return text_array(self.symbols, self.columns())

    def client_ids(self, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """Return the client order id of each fill row in ``rows`` (NaN for a row < 0).

        A fill's id is its planner leg's (:func:`aifap.core.orders.client_order_ids` of
        session, cycle, symbol, leg); a fill no plan ordered has the id it was logged with,
        if any. Derived in chunks into Arrow: a year's ids are never all Python strings.
        """
        cycles = np.frombuffer(self.cycle, dtype=np.int64)
        columns = self.columns()
        legs = np.frombuffer(self.leg, dtype=np.int8)
        symbols, named = list(self.symbols), self.named
        chunks = []
        for begin in range(0, len(rows), ID_CHUNK):
            part = rows[begin : begin + ID_CHUNK]
            if not len(cycles):  # no fill at all: every row is a dropped leg, with no id
                chunks.append(pa.nulls(len(part), type=pa.large_string()))
                continue
            values: list[str | None] = [None] * len(part)
            fill = part >= 0
            source = np.where(fill, part, 0)
            planned = np.flatnonzero(fill & (cycles[source] >= 0))
            if planned.size:
                at = source[planned]
                ids = client_order_ids(
                    self.session_id,
                    cycles[at].tolist(),
                    [symbols[c] for c in columns[at].tolist()],
                    [LEGS[leg] for leg in legs[at].tolist()],
                )
                if planned.size == len(part):  # the usual chunk: fills a plan ordered
                    values = list(ids)
                else:
                    for i, client_id in zip(planned.tolist(), ids, strict=True):
                        values[i] = client_id
            if named:
                for i in np.flatnonzero(fill & (cycles[source] == NO_CYCLE)).tolist():
                    values[i] = named.get(int(part[i]))
            chunks.append(pa.array(values, type=pa.large_string()))
        column = pa.chunked_array(chunks, type=pa.large_string())
        return pd.array(column, dtype="str")

    def release(self) -> None:
        """Empty the log (once the result frames are built: its columns are then copies)."""
        for name in (
            "time_ns", "column", "sell", "amount", "price", "fee", "realized_pnl", "reason",
            "cycle", "leg",
        ):  # fmt: skip
            self.drop(name)
        self.named.clear()

    def drop(self, name: str) -> None:
        """Empty the column ``name`` (its memory is freed: the result frames hold copies)."""
        column: array[int] | array[float] = getattr(self, name)
        del column[:]


class FillBuffer:
    """Rebalancing fills collected in one flat Python list, moved into a :class:`FillLog` in blocks.

    The integer books write ~20 fills a rebalance. Appending a float to an ``array('d')``
    parses it as a call argument (~700 instructions); extending a list by a row's
    values, and one numpy conversion of a block of them, cost a fraction of that. The
    row's tuple is only a temporary: a tuple kept per fill would count towards the
    garbage collector's next collection (~20 a rebalance, ~250 extra collections a
    month of 5m rebalances, each traversing whatever the strategy holds alive), a flat
    list of numbers does not. Rows reach the log in their order at :meth:`flush`
    (every ``BLOCK`` rows, and before anything else writes to or reads the log).
    """

    # rows a block: its ~7,000 numbers are converted while still in the CPU's caches (blocks
    # of 32,768 rows were read back from memory: ~10 % of the turnover bench's engine time)
    BLOCK = 1 << 10
    # a row: (column, sell, amount, price, fee in quote, realized PnL, leg code)
    FIELDS = (
        ("column", np.intc), ("sell", np.int8), ("amount", np.float64), ("price", np.float64),
        ("fee", np.float64), ("realized_pnl", np.float64), ("leg", np.int8),
    )  # fmt: skip
    WIDTH = len(FIELDS)

    def __init__(self, log: FillLog) -> None:
        """Collect rows for ``log``."""
        self.log = log
        self.rows: list[float | int | bool] = []  # row after row, WIDTH values each
        # per stamp: the time and cycle of the next ``count`` rows
        self.time_ns: list[int] = []
        self.cycle: list[int] = []
        self.count: list[int] = []

    def stamp(self, time_ns: int, cycle: int, n: int) -> None:
        """Give the last ``n`` rows their time and cycle."""
        self.time_ns.append(time_ns)
        self.cycle.append(cycle)
        self.count.append(n)
        if len(self.rows) >= self.BLOCK * self.WIDTH:
            self.flush()

    def flush(self) -> None:
        """Move the rows collected into the log's typed arrays, in order."""
        if not self.rows:
            return
        log = self.log
        rows = self.rows  # one C pass; fromiter skips np.array's per-value type discovery
        block = np.fromiter(rows, np.float64, len(rows)).reshape(-1, self.WIDTH)
        n = block.shape[0]
        for i, (name, dtype) in enumerate(self.FIELDS):
            getattr(log, name).frombytes(block[:, i].astype(dtype).tobytes())
        count = np.asarray(self.count, dtype=np.intp)
        times = np.repeat(np.asarray(self.time_ns, dtype=np.int64), count)
        assert times.size == n, "every row is stamped before a flush"
        log.time_ns.frombytes(times.tobytes())
        log.cycle.frombytes(np.repeat(np.asarray(self.cycle, dtype=np.int64), count).tobytes())
        log.reason.frombytes(np.full(n, REBALANCE, dtype=np.int8).tobytes())
        self.rows.clear()
        self.time_ns.clear()
        self.cycle.clear()
        self.count.clear()
