from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aifap.core.errors import ConfigError
from aifap.live.config import SessionConfig, dump_config, load_config, make_config

BASE = {"trader": "alice", "strategy_name": "mom", "strategy": "strategies/momentum.py",
        "symbols": ["BTCUSDT", "ETHUSDT"], "allocation": 1000}


def test_defaults_follow_the_seed():
    cfg = make_config(BASE)
    assert cfg.id == "alice-mom"
    assert cfg.duration == timedelta(hours=720)
    assert cfg.finwatcher_seconds == 60
    assert cfg.on_foreign_position == "refuse"
    assert cfg.allocation == Decimal(1000)
    assert cfg.account_key == "paper:paper:futures:alice-mom"


@pytest.mark.parametrize(("change", "field"), [
    ({"symbols": ["btc"]}, "symbols"),
    ({"symbols": ["BTCUSDT", "BTCUSDT"]}, "symbols"),
    ({"allocation": 0}, "allocation"),
    ({"trading_duration": "forever"}, "trading_duration"),
    ({"rebalance_every": None}, "rebalance_every"),
    ({"rebalance_cron": "61 * * * *", "rebalance_every": None}, "rebalance_cron"),
    ({"market": "spot", "leverage": 3}, "leverage"),
    ({"mode": "live"}, "mode"),
    ({"exchange": "bitget", "mode": "live"}, "credentials.api_key"),
    ({"clock": {"kind": "replay"}, "bar_source": "store"}, "clock.start"),
    ({"colour": "red"}, "colour"),
    ({"on_foreign_position": "merge"}, "on_foreign_position"),
])
def test_invalid_config_names_the_field(change, field):
    with pytest.raises(ConfigError, match=field.split(".")[0]):
        make_config({**BASE, **change})


def test_secrets_never_reach_the_redacted_form():
    cfg = make_config({**BASE, "exchange": "bitget", "mode": "demo",
                       "credentials": {"api_key": "key-123456", "secret": "sec-abcdef"},
                       "results_database_url": "postgresql://u:pw-xyz@db/results"})
    text = str(cfg.redacted()) + repr(cfg)
    for secret in ("key-123456", "sec-abcdef", "pw-xyz"):
        assert secret not in text


def test_yaml_round_trip(tmp_path):
    cfg = make_config({**BASE, "clock": {"kind": "replay", "start": "2024-06-01T00:00:00Z"}})
    path = dump_config(cfg, tmp_path / "s.yaml")
    again = load_config(path)
    assert again == cfg
    assert again.clock.start == datetime(2024, 6, 1, tzinfo=UTC)
    assert isinstance(again, SessionConfig)


def test_unreadable_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="readable"):
        load_config(tmp_path / "missing.yaml")


def test_retry_block_defaults_to_the_seeds_policy_and_reaches_the_gateway():
    from aifap.exchange.ccxt.gateway_config import CcxtConfig
    from aifap.retry import DEFAULT_POLICY

    policy = make_config(BASE).retry.policy()
    for field in ("max_attempts", "initial_wait", "max_wait", "jitter", "max_elapsed"):
        assert getattr(policy, field) == getattr(DEFAULT_POLICY, field)
    cfg = make_config({**BASE, "exchange": "bitget", "mode": "demo",
                       "credentials": {"api_key": "k"},
                       "retry": {"max_attempts": 5, "initial_wait": "0.01s", "max_wait": 0.05,
                                 "max_elapsed": None}})
    retry = CcxtConfig.for_session(cfg).retry
    assert (retry.max_attempts, retry.initial_wait, retry.max_wait) == (5, 0.01, 0.05)
    assert retry.max_elapsed is None
    assert retry.jitter == 0.01


@pytest.mark.parametrize("retry", [{"max_attempts": 0}, {"initial_wait": "soon"},
                                   {"initial_wait": 2, "max_wait": 1}, {"tries": 3}])
def test_invalid_retry_block_names_the_field(retry):
    with pytest.raises(ConfigError, match="retry"):
        make_config({**BASE, "retry": retry})


def test_a_replay_over_the_built_in_market_starts_at_its_last_trading_duration():
    from aifap.data.synthetic import DEFAULT_END

    cfg = make_config({**BASE, "trading_duration": "2h 0m", "clock": {"kind": "replay"}})
    assert cfg.clock.start == DEFAULT_END - timedelta(hours=2)
    long = make_config({**BASE, "trading_duration": "720h 0m", "clock": {"kind": "replay"}})
    assert long.clock.start >= DEFAULT_END - timedelta(days=30)


def test_an_unknown_exchange_is_refused_with_the_known_names():
    with pytest.raises(ConfigError, match=r"exchange: must be a registered gateway "
                       r"\(binance, bitget, bybit, paper, remote\), was 'kraken'"):
        make_config({**BASE, "exchange": "kraken"})


def test_a_venue_gateway_does_not_serve_paper_sessions():
    with pytest.raises(ConfigError, match=r"mode must be demo or live on exchange 'bitget', "
                       r"was 'paper' \(gateways for paper: paper\)"):
        make_config({**BASE, "exchange": "bitget"})


def test_a_registered_third_party_gateway_name_is_accepted(monkeypatch):
    from aifap.exchange.factories import PAPER, GatewayFactory, gateways

    monkeypatch.setitem(gateways._items, "toy", GatewayFactory(PAPER.open, frozenset({"paper"})))
    cfg = make_config({**BASE, "exchange": "toy"})
    assert cfg.exchange == "toy"
    assert cfg.account_key == "toy:paper:futures:alice-mom"
    with pytest.raises(ConfigError, match="mode must be paper on exchange 'toy'"):
        make_config({**BASE, "exchange": "toy", "mode": "demo", "credentials": {"api_key": "k"}})
