"""The synthetic market: deterministic, valid OHLC, realistic levels, funding, specs."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from aifap.core.bars import BarSource
from aifap.data.checks import bar_problems
from aifap.data.synthetic import DEFAULT_END, DEFAULT_SYMBOLS, SyntheticMarket, asset_profile

THREE = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(THREE, days=3, seed=7)


def test_same_seed_gives_identical_bars_and_funding(market):
    again = SyntheticMarket(THREE, days=3, seed=7)
    for symbol in THREE:
        pd.testing.assert_frame_equal(market.bars(symbol), again.bars(symbol))
        pd.testing.assert_series_equal(market.funding(symbol), again.funding(symbol))


def test_other_seed_gives_other_bars(market):
    other = SyntheticMarket(THREE, days=3, seed=8)
    assert not np.allclose(market.bars("BTCUSDT")["close"], other.bars("BTCUSDT")["close"])


def test_an_asset_does_not_depend_on_the_other_symbols(market):
    alone = SyntheticMarket(["ETHUSDT"], days=3, seed=7)
    pd.testing.assert_frame_equal(alone.bars("ETHUSDT"), market.bars("ETHUSDT"))


def test_bars_are_valid_ohlc_one_minute_apart(market):
    for symbol in THREE:
        bars = market.bars(symbol)
        assert len(bars) == 3 * 1440
        arrays = [bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
        assert bar_problems(bars.index.asi8 // 1_000_000, *arrays, step_ms=60_000) == []
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
        assert (np.diff(bars.index.asi8) == 60_000_000_000).all()
        # open is the previous close: a continuous 24/7 market
        np.testing.assert_array_equal(bars["open"].to_numpy()[1:], bars["close"].to_numpy()[:-1])


def test_prices_start_at_realistic_levels(market):
    starts = {s: market.bars(s)["open"].iloc[0] for s in THREE}
    assert starts == {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}


def test_assets_are_correlated_and_volatility_is_crypto_like():
    market = SyntheticMarket(THREE, days=60, seed=3)
    closes = pd.DataFrame({s: market.bars(s, "1h")["close"] for s in THREE})
    returns = np.log(closes).diff().dropna()
    corr = returns.corr()
    assert 0.6 < corr.loc["BTCUSDT", "ETHUSDT"] < 0.99
    yearly = returns.std() * np.sqrt(24 * 365)
    assert 0.3 < yearly["BTCUSDT"] < 0.9
    assert yearly["SOLUSDT"] > yearly["BTCUSDT"]


def test_default_span_ends_at_a_fixed_date():
    market = SyntheticMarket()
    assert market.symbols() == list(DEFAULT_SYMBOLS)
    assert market.end == pd.Timestamp(DEFAULT_END)
    assert market.start == pd.Timestamp(DEFAULT_END) - pd.Timedelta(days=30)
    assert isinstance(market, BarSource)


def test_funding_is_eight_hourly(market):
    rates = market.funding("BTCUSDT")
    assert rates.index.strftime("%H:%M").unique().tolist() == ["00:00", "08:00", "16:00"]
    assert len(rates) == 9
    assert rates.abs().max() <= 0.003


def test_market_specs_follow_the_exchange_shape():
    futures = SyntheticMarket(THREE, days=1).markets()
    btc = futures["BTCUSDT"]
    assert btc.is_futures
    assert (btc.amount_step, btc.min_notional, btc.contract_size) == (
        Decimal("0.001"),
        Decimal(5),
        Decimal(1),
    )
    assert btc.max_leverage == 125
    spot = SyntheticMarket(THREE, days=1, market="spot").markets()["ETHUSDT"]
    assert spot.max_leverage == 1


def test_unknown_symbols_get_a_stable_profile():
    assert asset_profile("FOOUSDT") == asset_profile("FOOUSDT")
    bars = SyntheticMarket(["FOOUSDT"], days=1).bars("FOOUSDT", "1h")
    assert len(bars) == 24
    assert (bars["low"] > 0).all()


def test_resampled_synthetic_bars_are_complete_at_end(market):
    end = market.start + pd.Timedelta(hours=5, minutes=30)
    hourly = market.bars("BTCUSDT", "1h", end=end)
    assert hourly.index[-1] == market.start + pd.Timedelta(hours=4)
