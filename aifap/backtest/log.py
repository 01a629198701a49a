"""A compact, column-wise record of a backtest's fills (a year of 1m bars has ~10^5-10^6)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from aifap.core.orders import Fill, Side


@dataclass
class FillLog:
    """Fills as parallel columns of plain Python values, not Fill objects."""

    # numbers in typed arrays: 8 bytes a value, not a pointer and a float object (a year
    # of trade-heavy 1m rebalancing logs ~2 million fills)
    time_ns: array[int] = field(default_factory=lambda: array("q"))
    symbol: list[str] = field(default_factory=list)
    side: list[str] = field(default_factory=list)
    amount: array[float] = field(default_factory=lambda: array("d"))  # unsigned, contracts
    signed_base: array[float] = field(default_factory=lambda: array("d"))  # × contract size
    price: array[float] = field(default_factory=lambda: array("d"))
    fee: array[float] = field(default_factory=lambda: array("d"))  # quote (Fill.fee_value)
    realized_pnl: array[float] = field(default_factory=lambda: array("d"))
    reason: list[str] = field(default_factory=list)
    client_id: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time_ns)

    def add(self, fill: Fill, time_ns: int, contract_size: float) -> None:
        """Record one booked fill (``fill.realized_pnl`` set by the ledger)."""
        self.add_raw(
            time_ns,
            fill.symbol,
            fill.side,
            fill.amount,
            contract_size,
            fill.price,
            fill.fee_value,
            fill.realized_pnl or 0,
            fill.reason.value,
            fill.client_id,
        )

    def add_raw(
        self,
        time_ns: int,
        symbol: str,
        side: Side,
        amount: Decimal,
        contract_size: float,
        price: Decimal,
        fee_value: Decimal,
        realized_pnl: Decimal | int,
        reason: str,
        client_id: str | None,
    ) -> None:
        """Record one booked fill given by its fields (the backtester's per-order path)."""
        size = float(amount)
        self.time_ns.append(time_ns)
        self.symbol.append(symbol)
        self.side.append("buy" if side is Side.BUY else "sell")
        self.amount.append(size)
        self.signed_base.append(size * contract_size if side is Side.BUY else -size * contract_size)
        self.price.append(float(price))
        self.fee.append(float(fee_value))
        self.realized_pnl.append(float(realized_pnl))
        self.reason.append(reason)
        self.client_id.append(client_id)

    def index(self) -> pd.DatetimeIndex:
        """Return the fill times as a UTC DatetimeIndex named ``timestamp``."""
        stamps = np.array(self.time_ns, dtype=np.int64).view("datetime64[ns]")
        return pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
