"""One cycle's strategy half: fresh bars, the strategy under a time limit, validation, the plan.

Pure of processes and events, so the strategy process and tests call the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from aifap.context import Context
from aifap.core.bars import BarSource
from aifap.core.errors import StrategyError
from aifap.core.markets import MarketSpec, MarketType, to_decimal
from aifap.core.planner import Plan, plan
from aifap.core.portfolio import Portfolio, Position
from aifap.core.timeframes import parse_duration, timeframe_seconds
from aifap.core.weights import TargetWeight
from aifap.exchange.gateway import Balance, Gateway, account_wallet
from aifap.history import SourceHistory
from aifap.live.config import SessionConfig
from aifap.strategy import StrategyFn, call_strategy, validate_output

log = logging.getLogger(__name__)


class StaleBarsError(StrategyError):
    """The newest bar of a symbol is older than the session's freshness limit."""


@dataclass(frozen=True)
class CyclePlan:
    """What the strategy half of a cycle produced."""

    targets: dict[str, TargetWeight] | None
    plan: Plan
    prices: dict[str, Decimal]
    portfolio: Portfolio


def latest_prices(
    bars: BarSource, symbols: tuple[str, ...], timeframe: str, now: datetime, max_age: timedelta
) -> dict[str, Decimal]:
    """Return each symbol's last complete close; raise StaleBarsError past ``max_age``."""
    prices: dict[str, Decimal] = {}
    stale: list[str] = []
    for symbol in symbols:
        frame = bars.bars(symbol, timeframe, end=now, limit=1)
        if frame.empty:
            stale.append(f"{symbol} (no bars)")
            continue
        opened = frame.index[-1]
        closed = opened + pd.Timedelta(seconds=timeframe_seconds(timeframe))
        age = pd.Timestamp(now) - closed
        if age > pd.Timedelta(max_age):
            stale.append(f"{symbol} (last bar closed {closed.isoformat()}, {age} old)")
        prices[symbol] = to_decimal(float(frame["close"].iloc[-1]))
    if stale:
        raise StaleBarsError(
            f"bars must be at most {max_age} old to trade, were stale: {', '.join(stale)}"
        )
    return prices


def trader_portfolio(gateway: Gateway, config: SessionConfig, initial_wallet: Decimal) -> Portfolio:
    """Return the trader's account view: the allocation plus what the wallet gained since start.

    The wallet may hold more than this trader's allocation; the trader's balance is
    ``allocation + (wallet - wallet at the first start)``, capped by the wallet (the
    wallet as :func:`account_wallet` counts it). Only the session's symbols count as
    its positions.

    Spot: the equity is the free quote plus the session's holdings at the mark, and
    ``cash`` (the planner's cap on spot buys) is the free quote less what the wallet
    holds beyond the trader's balance (all of it when the account is the trader's).
    """
    account, held = read_account(gateway)
    positions = {p.symbol: p for p in held if p.symbol in config.symbols}
    wallet = account_wallet(account, positions.values(), config.market)
    balance = min(wallet, config.allocation + (wallet - initial_wallet))
    if config.market is not MarketType.SPOT:
        return Portfolio(balance=balance, positions=positions)
    cash = max(account.free - (wallet - balance), Decimal(0))
    return Portfolio(balance=balance, positions=positions, cash=cash)


def session_wallet(gateway: Gateway, config: SessionConfig) -> Decimal:
    """Return the account's wallet now as :func:`trader_portfolio` counts it (first start)."""
    account, held = read_account(gateway)
    positions = [p for p in held if p.symbol in config.symbols]
    return account_wallet(account, positions, config.market)


def read_account(gateway: Gateway) -> tuple[Balance, list[Position]]:
    """Return the balance and the positions, concurrently when the gateway can."""
    both = getattr(gateway, "balance_and_positions", None)
    if both is not None:
        result: tuple[Balance, list[Position]] = both()
        return result
    return gateway.balance(), gateway.positions()


def run_strategy(
    fn: StrategyFn,
    config: SessionConfig,
    *,
    bars: BarSource,
    gateway: Gateway,
    markets: Mapping[str, MarketSpec],
    now: datetime,
    state: dict[str, Any],
    initial_wallet: Decimal,
    cycle: int,
) -> CyclePlan:
    """Run the strategy for cycle ``cycle`` at ``now`` and return targets and plan.

    Raises:
        StaleBarsError: the bars are too old (skip the cycle).
        StrategyError: the strategy raised, timed out or returned invalid output.
        GatewayError: the account could not be read (after the retry budget).
    """
    prices = latest_prices(
        bars, config.symbols, config.bar_timeframe, now, parse_duration(config.bar_max_age)
    )
    portfolio = trader_portfolio(gateway, config, initial_wallet)
    context = Context(
        SourceHistory(bars, config.bar_timeframe),
        now=pd.Timestamp(now),
        portfolio=portfolio,
        config=config.config_dict,
        state=state,
        mode="paper" if config.mode == "paper" else "live",
        logger=logging.getLogger("aifap.strategy.user"),
        base_timeframe=config.bar_timeframe,
        universe=config.symbols,
    )
    output = call_strategy(
        fn, context, config.config_dict, bar=now.isoformat(), timeout=config.time_limit_seconds
    )
    targets = validate_output(
        output,
        markets,
        prices=prices,
        max_gross_weight=config.max_gross_weight,
        bar=now.isoformat(),
    )
    the_plan = plan(
        targets,
        portfolio,
        markets,
        prices,
        leverage=config.leverage,
        threshold=config.threshold,
        session_id=config.id,
        cycle=cycle,
    )
    for dropped in the_plan.dropped:
        log.info(
            "cycle %s: %s %s leg dropped: %s", cycle, dropped.symbol, dropped.leg, dropped.reason
        )
    return CyclePlan(targets, the_plan, prices, portfolio)
