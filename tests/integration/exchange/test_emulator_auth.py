"""Signature checks, account creation and secret hygiene of the Bitget emulator."""

from __future__ import annotations

import ccxt
import pytest


def test_any_key_gets_a_funded_account(emulator, bitget):
    exchange = bitget(key="fresh-key", secret="s3", passphrase="p3")
    balance = exchange.fetch_balance()
    assert balance["USDT"]["total"] == 10_000
    assert exchange.fetch_positions() == []


def test_unregistered_key_is_accepted_and_funded(emulator, bitget):
    exchange = bitget(key="never-registered", register=False)
    assert exchange.fetch_balance()["USDT"]["free"] == 10_000
    assert emulator.ledger("never-registered").futures_wallet == 10_000


def test_wrong_secret_is_an_authentication_error(emulator, bitget):
    bitget(key="alice", secret="right").fetch_balance()
    impostor = bitget(key="alice", secret="wrong", register=False)
    with pytest.raises(ccxt.AuthenticationError, match="40009"):
        impostor.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        impostor.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
    assert emulator.ledger("alice").orders == []


def test_wrong_passphrase_is_an_authentication_error(emulator, bitget):
    bitget(key="alice", passphrase="right").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="40012"):
        bitget(key="alice", passphrase="wrong", register=False).fetch_balance()


def test_restricted_mode_refuses_unlisted_keys(make_emulator, bitget_for):
    emu = make_emulator(restrict_keys=True)
    emu.add_account("listed", "secret", "pass", balance=500)
    assert bitget_for(emu, key="listed", secret="secret",
                      passphrase="pass").fetch_balance()["USDT"]["total"] == 500
    with pytest.raises(ccxt.AuthenticationError, match="40006"):
        bitget_for(emu, key="stranger", register=False).fetch_balance()


def test_signed_get_with_query_parameters_verifies(emulator, bitget):
    exchange = bitget(key="alice")
    emulator.set_price("BTCUSDT", 60000)
    exchange.create_order("BTC/USDT:USDT", "market", "buy", 0.01, params={"clientOid": "q-1"})
    assert len(exchange.fetch_my_trades("BTC/USDT:USDT", since=0, limit=10)) == 1


def test_demo_header_is_accepted_and_recorded(emulator, bitget):
    exchange = bitget(key="alice", sandbox=True)
    assert exchange.fetch_balance()["USDT"]["total"] == 10_000
    record = emulator.request_log.records("/api/v2/mix/account/accounts")[-1]
    assert record.demo


def test_secrets_never_reach_the_log_or_reprs(emulator, bitget):
    exchange = bitget(key="KEY-visible-nowhere", secret="SECRET-xyz", passphrase="PASS-abc")
    exchange.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        bitget(key="KEY-visible-nowhere", secret="SECRET-bad",
               register=False).fetch_balance()
    dumped = repr(emulator.request_log.records())
    dumped += repr(emulator.ledger("KEY-visible-nowhere"))
    dumped += repr(emulator.account("KEY-visible-nowhere"))
    dumped += repr(list(emulator.keys._keys.values()))
    for secret in ("KEY-visible-nowhere", "SECRET-xyz", "SECRET-bad", "PASS-abc"):
        assert secret not in dumped
    assert all(r.account and r.account.startswith("key-")
               for r in emulator.request_log.records("/api/v2/mix/account/accounts"))
