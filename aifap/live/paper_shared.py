"""Share one paper account between the session's processes.

``PaperGateway`` keeps its book in memory and advances it on every call, so two
processes holding their own instance would each fill the same pending order. This
proxy serialises the calls of all processes with a file lock in the working
directory and reloads the account and ledger from the database before each call,
so every process sees (and books) the one account state.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from aifap.core.markets import MarketSpec
from aifap.core.orders import Fill, Order, OrderRequest
from aifap.core.portfolio import Position
from aifap.exchange.gateway import Balance, FundingPayment
from aifap.exchange.paper import PaperGateway
from aifap.exchange.paper import state as paper_state

T = TypeVar("T")


class SharedPaperGateway:
    """A ``Gateway`` over a ``PaperGateway`` that several processes may use at once.

    Args:
        inner: the paper gateway of this process.
        lock_path: the lock file every process of the session uses.
    """

    def __init__(self, inner: PaperGateway, lock_path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.market_type = inner.market_type
        self._lock_path = lock_path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                gw = self.inner
                gw.account = paper_state.open_account(
                    gw.engine,
                    gw.account.name,
                    gw.market_type,
                    gw.account.capital,
                    gw.account.leverage,
                )
                gw.ledger = paper_state.replay(gw.engine, gw.account, gw._markets)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._locked():
            return fn(*args, **kwargs)

    def markets(self) -> dict[str, MarketSpec]:
        """Return the tradable markets."""
        return self.inner.markets()

    def balance(self) -> Balance:
        """Return the wallet balance."""
        return self._call(self.inner.balance)

    def positions(self) -> list[Position]:
        """Return open positions."""
        return self._call(self.inner.positions)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Return open orders."""
        return self._call(self.inner.open_orders, symbol)

    def fetch_order(self, client_id: str, symbol: str) -> Order | None:
        """Return the order with ``client_id`` or None."""
        return self._call(self.inner.fetch_order, client_id, symbol)

    def place_orders(self, batch: Sequence[OrderRequest]) -> list[Order]:
        """Place up to 5 orders."""
        return self._call(self.inner.place_orders, batch)

    def cancel(
        self, symbol: str, *, client_id: str | None = None, order_id: str | None = None
    ) -> None:
        """Cancel one order."""
        self._call(self.inner.cancel, symbol, client_id=client_id, order_id=order_id)

    def set_stops(
        self, symbol: str, *, take_profit: Decimal | None, stop_loss: Decimal | None
    ) -> None:
        """Set the SL/TP of a position."""
        self._call(self.inner.set_stops, symbol, take_profit=take_profit, stop_loss=stop_loss)

    def fills(self, since: datetime, symbols: Sequence[str] | None = None) -> list[Fill]:
        """Return fills since ``since``."""
        return self._call(self.inner.fills, since, symbols)

    def funding(
        self, since: datetime, symbols: Sequence[str] | None = None
    ) -> list[FundingPayment]:
        """Return funding payments since ``since``."""
        return self._call(self.inner.funding, since, symbols)

    def ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        *,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Any:
        """Return bars."""
        return self.inner.ohlcv(symbol, timeframe, since=since, limit=limit)

    def close(self) -> None:
        """Close the inner gateway."""
        self.inner.close()
