"""A deterministic synthetic crypto market: the built-in data of every embedded default.

``SyntheticMarket(symbols=["BTCUSDT", "ETHUSDT"], days=30, seed=42)`` is a
:class:`~aifap.core.bars.BarSource` of one-minute bars and 8-hourly funding rates.
The same seed, span and symbol give the same bars, whatever other symbols are asked
for (each asset draws from its own random stream; the market factor and volatility
regimes from the seed alone). Bars are generated on first use of a symbol.

The model, per minute ``t`` and asset ``i``::

    r[i, t] = sigma_i * regime[t] * season[t] * (rho_i * z_market[t] + sqrt(1 - rho_i²) * z_i[t])
              + market jump[t] * beta_i + own jump[i, t]
    close = price_i * exp(cumsum(r));  open = previous close
    high = max(open, close) * exp(+|wick|);  low = min(open, close) * exp(-|wick|)

- ``sigma_i``: the asset's annualized volatility (BTC 55 %, DOGE 110 %) per minute.
- ``regime``: a market-wide hourly Markov chain over calm (×0.6), normal (×1) and
  stressed (×1.9) volatility, lasting about two days each.
- ``season``: more volatility during US hours, less around 04:00 UTC.
- jumps: about three market-wide jumps a month (slightly skewed down) and two per asset.
- prices are rounded to the asset's price step; volume is in base units.
- funding (00:00, 08:00, 16:00 UTC): 0.01 % plus a share of the last 8 h return,
  mean-reverting, clipped to ±0.3 %.

Market specs imitate Bitget/Binance USDT-M: amount steps, a 5 USDT minimum notional
(1 USDT on spot), contract size 1 and max leverage per asset.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from aifap.core.markets import MarketSpec, MarketType
from aifap.data.frames import FrameBarSource, TimeLike

DEFAULT_END = datetime(2024, 7, 1, tzinfo=UTC)
DEFAULT_DAYS = 30
DEFAULT_SEED = 42
DEFAULT_SYMBOLS = (
    "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT",
    "DOGEUSDT", "ADAUSDT", "AVAXUSDT", "LTCUSDT", "DOTUSDT",
)  # fmt: skip
MINUTES_PER_YEAR = 365 * 24 * 60
_NS_PER_MINUTE = 60_000_000_000


@dataclass(frozen=True, slots=True)
class AssetProfile:
    """How one synthetic asset behaves and trades."""

    symbol: str
    price: float  # at the start of the span
    volatility: float  # annualized
    correlation: float  # with the market factor
    amount_step: str
    price_step: str
    max_leverage: int
    daily_volume: float  # in USDT


# symbol: price, annual volatility, market correlation, amount step, price step, leverage,
# daily volume (USDT)
_TABLE = {
    "BTCUSDT": (60_000, 0.55, 1.00, "0.001", "0.1", 125, 2e10),
    "ETHUSDT": (3_000, 0.70, 0.85, "0.01", "0.01", 100, 1e10),
    "SOLUSDT": (150, 0.95, 0.75, "0.1", "0.001", 75, 3e9),
    "BNBUSDT": (550, 0.60, 0.70, "0.01", "0.01", 75, 8e8),
    "XRPUSDT": (0.5, 0.85, 0.65, "1", "0.0001", 75, 1e9),
    "DOGEUSDT": (0.12, 1.10, 0.70, "1", "0.00001", 75, 1e9),
    "ADAUSDT": (0.4, 0.85, 0.70, "1", "0.0001", 75, 4e8),
    "AVAXUSDT": (30, 1.00, 0.72, "0.1", "0.001", 50, 4e8),
    "LTCUSDT": (75, 0.75, 0.70, "0.01", "0.01", 75, 4e8),
    "DOTUSDT": (6.5, 0.90, 0.70, "0.1", "0.001", 50, 2e8),
    "LINKUSDT": (14, 0.90, 0.72, "0.1", "0.001", 75, 4e8),
    "TRXUSDT": (0.12, 0.50, 0.45, "1", "0.00001", 50, 2e8),
    "ATOMUSDT": (7, 0.85, 0.68, "0.1", "0.001", 50, 1.5e8),
    "NEARUSDT": (5, 1.00, 0.68, "0.1", "0.001", 50, 3e8),
    "UNIUSDT": (8, 0.95, 0.65, "0.1", "0.001", 50, 2e8),
    "APTUSDT": (7, 1.00, 0.65, "0.1", "0.001", 50, 2e8),
    "ARBUSDT": (0.8, 1.05, 0.68, "1", "0.0001", 50, 3e8),
    "OPUSDT": (1.8, 1.05, 0.68, "0.1", "0.0001", 50, 2e8),
    "FILUSDT": (4.5, 0.95, 0.65, "0.1", "0.001", 50, 1.5e8),
    "ETCUSDT": (22, 0.85, 0.70, "0.1", "0.001", 50, 2e8),
    "BCHUSDT": (400, 0.80, 0.70, "0.01", "0.01", 75, 3e8),
    "XLMUSDT": (0.1, 0.80, 0.60, "1", "0.00001", 50, 1e8),
    "ICPUSDT": (9, 1.00, 0.60, "0.1", "0.001", 50, 1e8),
    "INJUSDT": (22, 1.10, 0.62, "0.1", "0.001", 50, 1.5e8),
    "SUIUSDT": (0.9, 1.15, 0.62, "1", "0.0001", 50, 3e8),
}


def asset_profile(symbol: str) -> AssetProfile:
    """Return the profile of ``symbol``; symbols not in the table get one from their name."""
    if symbol in _TABLE:
        return AssetProfile(symbol, *_TABLE[symbol])
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    price = float(10 ** rng.uniform(-1.5, 2.5))
    decimals = max(0, 4 - math.floor(math.log10(price)))
    amount_decimals = max(0, math.ceil(math.log10(price)))
    return AssetProfile(
        symbol,
        price=round(price, decimals),
        volatility=float(rng.uniform(0.8, 1.2)),
        correlation=float(rng.uniform(0.55, 0.75)),
        amount_step=str(Decimal(1).scaleb(-amount_decimals)),
        price_step=str(Decimal(1).scaleb(-decimals)),
        max_leverage=50,
        daily_volume=float(10 ** rng.uniform(7.5, 8.5)),
    )


def market_spec(profile: AssetProfile, market: str | MarketType) -> MarketSpec:
    """Return the exchange rules of a synthetic asset on ``market``."""
    kind = MarketType(market)
    futures = kind is MarketType.FUTURES
    return MarketSpec(
        symbol=profile.symbol,
        market_type=kind,
        base=profile.symbol.removesuffix("USDT"),
        quote="USDT",
        amount_step=Decimal(profile.amount_step),
        price_step=Decimal(profile.price_step),
        min_amount=Decimal(profile.amount_step),
        min_notional=Decimal(5 if futures else 1),
        contract_size=Decimal(1),
        max_leverage=profile.max_leverage if futures else 1,
    )


class SyntheticMarket(FrameBarSource):
    """The built-in market: seeded 1m bars and funding for any USDT symbols.

    Args:
        symbols: the assets (default: ten large caps, BTCUSDT first).
        start: the first bar's open time (default: ``days`` before 2024-07-01 UTC).
        days: the span in days.
        seed: the random seed; the same seed gives the same bars.
        market: ``'futures'`` or ``'spot'`` (the market specs differ; bars do not).
    """

    def __init__(
        self,
        symbols: Iterable[str] | None = None,
        *,
        start: TimeLike = None,
        days: float = DEFAULT_DAYS,
        seed: int = DEFAULT_SEED,
        market: str | MarketType = MarketType.FUTURES,
    ) -> None:
        super().__init__({}, market=market)
        self._symbols = list(dict.fromkeys(symbols or DEFAULT_SYMBOLS))
        if days <= 0:
            raise ValueError(f"days must be > 0, was {days}")
        first = DEFAULT_END - timedelta(days=days) if start is None else pd.Timestamp(start)
        first = pd.Timestamp(first).tz_localize("UTC") if first.tzinfo is None else first
        self.start = pd.Timestamp(first).tz_convert("UTC").floor("min")
        self.minutes = round(days * 1440)
        self.end = self.start + pd.Timedelta(minutes=self.minutes)
        self.seed = int(seed)
        self._profiles = {s: asset_profile(s) for s in self._symbols}
        self._common: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def symbols(self) -> list[str]:
        """Return the symbols of this market."""
        return list(self._symbols)

    def markets(self) -> dict[str, MarketSpec]:
        """Return the exchange rules of every symbol (see :func:`market_spec`)."""
        return {s: market_spec(p, self._market) for s, p in self._profiles.items()}

    def funding(self, symbol: str, *, start: TimeLike = None, end: TimeLike = None) -> pd.Series:
        """Return the 8-hourly funding rates of ``symbol`` settled in ``[start, end]``."""
        self._by_symbol(symbol)
        return super().funding(symbol, start=start, end=end)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Return the 1m bar frame of every symbol (generating them all)."""
        return {s: self._by_symbol(s)["1m"] for s in self._symbols}

    def _by_symbol(self, symbol: str) -> dict[str, pd.DataFrame]:
        if symbol not in self._stored and symbol in self._profiles:
            frame, funding = self._generate(self._profiles[symbol])
            self._stored[symbol] = {"1m": frame}
            self._funding[symbol] = funding
        return super()._by_symbol(symbol)

    def _market_factor(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._common is None:
            rng = np.random.default_rng([self.seed, 0])
            n = self.minutes
            hours = -(-n // 60)
            levels = np.array([0.6, 1.0, 1.9])
            moves = rng.random(hours)
            picks = rng.integers(0, 2, hours)
            state, regime = 1, np.empty(hours)
            for hour in range(hours):
                if moves[hour] < 0.02:  # about two days per regime
                    state = [i for i in range(3) if i != state][picks[hour]]
                regime[hour] = levels[state]
            minute_of_day = (self.start.value // _NS_PER_MINUTE + np.arange(n)) % 1440
            season = 1 + 0.2 * np.cos(2 * np.pi * (minute_of_day / 60 - 15) / 24)
            # divided by the root mean square of regime × season so that sigma holds
            scale = np.repeat(regime, 60)[:n] * season / math.sqrt(np.mean(levels**2) * 1.02)
            z_market = rng.standard_normal(n)
            jumps = np.zeros(n)
            at = rng.random(n) < 3 / (30 * 1440)
            jumps[at] = rng.normal(-0.002, 0.02, int(at.sum()))
            self._common = (scale, z_market, jumps)
        return self._common

    def _generate(self, profile: AssetProfile) -> tuple[pd.DataFrame, pd.Series]:
        scale, z_market, market_jumps = self._market_factor()
        n = self.minutes
        rng = np.random.default_rng([self.seed, zlib.crc32(profile.symbol.encode())])
        sigma = profile.volatility / math.sqrt(MINUTES_PER_YEAR)
        rho = profile.correlation
        noise = rho * z_market + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
        returns = sigma * scale * noise
        returns += market_jumps * (profile.volatility / 0.55) * rho
        own = rng.random(n) < 2 / (30 * 1440)
        returns[own] += rng.normal(0.0, 0.015 * profile.volatility / 0.55, int(own.sum()))
        close = profile.price * np.exp(np.cumsum(returns))
        open_ = np.r_[profile.price, close[:-1]]
        wick = sigma * scale * 0.6
        high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * wick)
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * wick)
        decimals = -int(Decimal(profile.price_step).as_tuple().exponent)
        prices = [np.round(col, decimals) for col in (open_, high, low, close)]
        activity = scale**1.2 * np.exp(0.5 * rng.standard_normal(n)) * (1 + np.abs(noise))
        volume = profile.daily_volume / 1440 / close * activity / 1.5
        index = pd.DatetimeIndex(
            self.start.value + np.arange(n, dtype=np.int64) * _NS_PER_MINUTE, tz="UTC"
        )
        frame = pd.DataFrame(
            dict(zip(("open", "high", "low", "close", "volume"), (*prices, volume), strict=True)),
            index=index.rename("timestamp"),
        )
        return frame, self._funding_rates(profile, close, rng)

    def _funding_rates(
        self, profile: AssetProfile, close: np.ndarray, rng: np.random.Generator
    ) -> pd.Series:
        step = 8 * 60 * _NS_PER_MINUTE
        first = -(-self.start.value // step) * step
        times = np.arange(first, self.end.value, step, dtype=np.int64)
        minutes = (times - self.start.value) // _NS_PER_MINUTE
        prices = np.r_[profile.price, close][np.minimum(minutes, len(close))]
        before = np.r_[profile.price, close][np.maximum(minutes - 480, 0)]
        momentum = np.log(prices / before)
        rates, last = np.empty(len(times)), 0.0001
        shocks = rng.normal(0.0, 0.00005, len(times))
        for k in range(len(times)):
            last = 0.0001 + 0.5 * (last - 0.0001) + 0.01 * momentum[k] + shocks[k]
            rates[k] = min(max(last, -0.003), 0.003)
        index = pd.DatetimeIndex(times, tz="UTC", name="timestamp")
        return pd.Series(np.round(rates, 6), index=index, name="rate")
