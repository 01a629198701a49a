"""A compact, column-wise record of a backtest's fills (a year of 1m bars has ~10^5-10^6)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from aifap.core.orders import Fill


@dataclass
class FillLog:
    """Fills as parallel columns of plain Python values, not Fill objects."""

    time_ns: list[int] = field(default_factory=list)
    symbol: list[str] = field(default_factory=list)
    side: list[str] = field(default_factory=list)
    amount: list[float] = field(default_factory=list)  # unsigned, in contracts
    signed_base: list[float] = field(default_factory=list)  # signed, × contract size
    price: list[float] = field(default_factory=list)
    fee: list[float] = field(default_factory=list)  # in the quote (Fill.fee_value)
    realized_pnl: list[float] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)
    client_id: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time_ns)

    def add(self, fill: Fill, time_ns: int, contract_size: float) -> None:
        """Record one booked fill (``fill.realized_pnl`` set by the ledger)."""
        amount = float(fill.amount)
        self.time_ns.append(time_ns)
        self.symbol.append(fill.symbol)
        self.side.append(fill.side.value)
        self.amount.append(amount)
        self.signed_base.append(amount * contract_size * fill.side.sign)
        self.price.append(float(fill.price))
        self.fee.append(float(fill.fee_value))
        self.realized_pnl.append(float(fill.realized_pnl or 0))
        self.reason.append(fill.reason.value)
        self.client_id.append(fill.client_id)

    def index(self) -> pd.DatetimeIndex:
        """Return the fill times as a UTC DatetimeIndex named ``timestamp``."""
        stamps = pd.array(self.time_ns, dtype="int64").to_numpy().view("datetime64[ns]")
        return pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
