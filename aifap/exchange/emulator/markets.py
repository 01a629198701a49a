"""The markets the emulator lists, and their rows in Bitget's v2 public-endpoint shapes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from aifap.core.markets import MarketSpec, MarketType


@dataclass(frozen=True, slots=True)
class EmulatorMarket:
    """One spot pair or USDT-M perpetual listed by the emulator.

    Steps are powers of ten (Bitget's ``pricePlace``/``volumePlace`` decimals).
    ``fallback_price`` is the price used when the bar provider has no bar yet.
    """

    symbol: str
    base: str
    kind: MarketType
    price_decimals: int
    amount_decimals: int
    min_amount: Decimal
    quote: str = "USDT"
    min_notional: Decimal = Decimal(5)
    max_leverage: int = 125
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0006")
    fallback_price: Decimal = Decimal(100)

    @property
    def is_futures(self) -> bool:
        """Tell whether this is a perpetual contract."""
        return self.kind is MarketType.FUTURES

    @property
    def price_step(self) -> Decimal:
        """The smallest price increment."""
        return Decimal(1).scaleb(-self.price_decimals)

    @property
    def amount_step(self) -> Decimal:
        """The smallest amount increment (contracts = base units, contract size 1)."""
        return Decimal(1).scaleb(-self.amount_decimals)

    @classmethod
    def from_spec(cls, spec: MarketSpec, fallback_price: Decimal = Decimal(100)) -> EmulatorMarket:
        """Build an emulator market from a core ``MarketSpec`` (steps must be powers of ten)."""

        def decimals(step: Decimal) -> int:
            exponent = step.normalize().as_tuple().exponent
            return max(0, -int(exponent))

        futures = spec.market_type is MarketType.FUTURES
        return cls(
            symbol=spec.symbol,
            base=spec.base,
            quote=spec.quote,
            kind=spec.market_type,
            price_decimals=decimals(spec.price_step),
            amount_decimals=decimals(spec.amount_step),
            min_amount=spec.min_amount,
            min_notional=spec.min_notional,
            max_leverage=spec.max_leverage if futures else 1,
            maker_fee=Decimal("0.0002") if futures else Decimal("0.001"),
            taker_fee=Decimal("0.0006") if futures else Decimal("0.001"),
            fallback_price=fallback_price,
        )


def _pair(
    symbol: str,
    base: str,
    fut: tuple[int, int, str],
    spot: tuple[int, int, str],
    price: str,
    max_leverage: int = 125,
) -> list[EmulatorMarket]:
    return [
        EmulatorMarket(
            symbol,
            base,
            MarketType.FUTURES,
            fut[0],
            fut[1],
            Decimal(fut[2]),
            max_leverage=max_leverage,
            fallback_price=Decimal(price),
        ),
        EmulatorMarket(
            symbol,
            base,
            MarketType.SPOT,
            spot[0],
            spot[1],
            Decimal(spot[2]),
            max_leverage=1,
            maker_fee=Decimal("0.001"),
            taker_fee=Decimal("0.001"),
            fallback_price=Decimal(price),
        ),
    ]


DEFAULT_MARKETS: tuple[EmulatorMarket, ...] = (
    *_pair("BTCUSDT", "BTC", (1, 3, "0.001"), (2, 6, "0"), "60000"),
    *_pair("ETHUSDT", "ETH", (2, 2, "0.01"), (2, 4, "0"), "3000", max_leverage=100),
    *_pair("SOLUSDT", "SOL", (3, 1, "0.1"), (3, 3, "0"), "150", max_leverage=75),
    *_pair("XRPUSDT", "XRP", (4, 0, "10"), (4, 2, "0"), "0.6", max_leverage=75),
)


class MarketBook:
    """The emulator's listed markets, looked up by kind and symbol."""

    def __init__(self, markets: Iterable[EmulatorMarket] = DEFAULT_MARKETS) -> None:
        self._markets: dict[tuple[MarketType, str], EmulatorMarket] = {}
        for market in markets:
            self._markets[(market.kind, market.symbol)] = market

    def get(self, kind: MarketType, symbol: str) -> EmulatorMarket | None:
        """Return the market, or None when it is not listed."""
        return self._markets.get((kind, symbol))

    def all(self, kind: MarketType | None = None) -> list[EmulatorMarket]:
        """Return the markets, optionally of one kind."""
        return [m for (k, _), m in self._markets.items() if kind is None or k is kind]

    def symbols(self) -> list[str]:
        """Return the distinct symbols."""
        return sorted({s for _, s in self._markets})

    def coins(self) -> list[str]:
        """Return every base and quote coin."""
        return sorted({m.base for m in self._markets.values()} | {"USDT"})


def contract_row(m: EmulatorMarket) -> dict[str, object]:
    """Return the ``/api/v2/mix/market/contracts`` row of a perpetual."""
    return {
        "symbol": m.symbol,
        "baseCoin": m.base,
        "quoteCoin": m.quote,
        "buyLimitPriceRatio": "0.05",
        "sellLimitPriceRatio": "0.05",
        "feeRateUpRatio": "0.005",
        "makerFeeRate": str(m.maker_fee),
        "takerFeeRate": str(m.taker_fee),
        "openCostUpRatio": "0.01",
        "supportMarginCoins": [m.quote],
        "minTradeNum": str(m.min_amount),
        "priceEndStep": "1",
        "volumePlace": str(m.amount_decimals),
        "pricePlace": str(m.price_decimals),
        "sizeMultiplier": str(m.amount_step),
        "symbolType": "perpetual",
        "minTradeUSDT": str(m.min_notional),
        "maxSymbolOrderNum": "200",
        "maxProductOrderNum": "400",
        "maxPositionNum": "150",
        "symbolStatus": "normal",
        "offTime": "-1",
        "limitOpenTime": "-1",
        "deliveryTime": "",
        "deliveryStartTime": "",
        "deliveryPeriod": "",
        "launchTime": "",
        "fundInterval": "8",
        "minLever": "1",
        "maxLever": str(m.max_leverage),
        "posLimit": "0.05",
        "maintainTime": "",
    }


def spot_row(m: EmulatorMarket) -> dict[str, object]:
    """Return the ``/api/v2/spot/public/symbols`` row of a spot pair."""
    return {
        "symbol": m.symbol,
        "baseCoin": m.base,
        "quoteCoin": m.quote,
        "minTradeAmount": str(m.min_amount),
        "maxTradeAmount": "10000000000",
        "takerFeeRate": str(m.taker_fee),
        "makerFeeRate": str(m.maker_fee),
        "pricePrecision": str(m.price_decimals),
        "quantityPrecision": str(m.amount_decimals),
        "quotePrecision": "8",
        "status": "online",
        "minTradeUSDT": str(m.min_notional),
        "buyLimitPriceRatio": "0.05",
        "sellLimitPriceRatio": "0.05",
    }


def coin_row(coin: str, index: int) -> dict[str, object]:
    """Return the ``/api/v2/spot/public/coins`` row of a coin (no chains: no transfers)."""
    return {
        "coinId": str(index + 1),
        "coin": coin,
        "transfer": "false",
        "chains": [],
        "areaCoin": "no",
    }
