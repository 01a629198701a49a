"""A compact, column-wise record of a backtest's fills (a year of 1m bars has ~10^5-10^6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from aifap.core.orders import Fill, Side


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
        stamps = pd.array(self.time_ns, dtype="int64").to_numpy().view("datetime64[ns]")
        return pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
