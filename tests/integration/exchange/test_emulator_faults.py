"""Fault injection of the Bitget emulator: counts, probabilities, lost responses, latency."""

from __future__ import annotations

import contextlib
import threading

import ccxt
import pytest

BTC = "BTC/USDT:USDT"
PLACE = "/api/v2/mix/order/place-order"
TICKER = "/api/v2/mix/market/ticker"


@pytest.fixture
def trader(emulator, bitget):
    emulator.set_price("BTCUSDT", 60000)
    client = bitget(key="alice", timeout_ms=400)
    client.load_markets()
    return client


def test_lost_response_still_places_the_order(emulator, trader):
    emulator.faults.fail_next("lost", 1, path=PLACE)
    with pytest.raises(ccxt.RequestTimeout):
        trader.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "lost-1"})
    found = trader.fetch_order(None, BTC, params={"clientOid": "lost-1"})
    assert found["status"] == "closed"
    with pytest.raises(ccxt.ExchangeError, match="40786"):  # a blind retry is refused
        trader.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "lost-1"})
    assert len(emulator.ledger("alice").orders) == 1
    assert [r.fault for r in emulator.request_log.records(PLACE)] == ["lost", None]


def test_lost_response_as_bad_gateway(emulator, trader):
    emulator.faults.fail_next("lost", 1, path=PLACE, lost_as=502)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        trader.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "lost-2"})
    assert [o.client_oid for o in emulator.ledger("alice").orders] == ["lost-2"]


def test_server_errors_do_not_execute(emulator, trader):
    emulator.faults.fail_next("server_error", 2, path=PLACE)
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            trader.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "five-xx"})
    trader.create_order(BTC, "market", "buy", 0.01, params={"clientOid": "five-xx"})
    assert len(emulator.ledger("alice").orders) == 1
    assert [r.status for r in emulator.request_log.records(PLACE)] == [503, 503, 200]


def test_count_rules_only_hit_their_path(emulator, trader):
    emulator.faults.fail_next("rate_limit", 1, path=PLACE)
    assert trader.fetch_ticker(BTC)["last"] == 60000
    assert trader.fetch_balance()["USDT"]["total"] == 10_000
    with pytest.raises(ccxt.DDoSProtection):
        trader.create_order(BTC, "market", "buy", 0.01)
    assert [r.fault for r in emulator.request_log.records() if r.fault] == ["rate_limit"]


def _fault_sequence(make_emulator, bitget_for, seed):
    emu = make_emulator(seed=seed)
    emu.faults.fail_randomly(0.5, kinds={"rate_limit": 1, "server_error": 1}, path=TICKER)
    client = bitget_for(emu, credentials=False)
    client.load_markets()
    for _ in range(20):
        with contextlib.suppress(ccxt.NetworkError):
            client.fetch_ticker(BTC)
    return [r.fault for r in emu.request_log.records(TICKER)]


def test_random_faults_are_reproducible_with_a_seed(make_emulator, bitget_for):
    first = _fault_sequence(make_emulator, bitget_for, seed=7)
    assert first == _fault_sequence(make_emulator, bitget_for, seed=7)
    assert {"rate_limit", "server_error", None} == set(first)


def test_held_requests_stay_in_flight_together(emulator, bitget_for):
    # the gate opens when the fifth request arrives: had the emulator served the held
    # requests one at a time, the first would still be waiting for the others
    gate = emulator.faults.gate(TICKER, group=5, hold_seconds=30)
    emulator.faults.latency(0.05, path=TICKER)  # latency is awaited, never a lock
    clients = [bitget_for(emulator, credentials=False, timeout_ms=30_000) for _ in range(5)]
    for client in clients:
        client.load_markets()
    barrier = threading.Barrier(len(clients))

    def call(client):
        barrier.wait()
        client.fetch_ticker(BTC)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = emulator.request_log.records(TICKER)
    assert len(records) == 5
    assert gate.opened.is_set()
    assert [r.fault for r in records] == [None] * 5
    assert max(r.start for r in records) < min(r.end or 0.0 for r in records)
    assert emulator.request_log.max_concurrency(TICKER) == 5
    assert all(r.status == 200 for r in records)


def test_timeout_holds_until_the_client_gives_up(emulator, trader):
    emulator.faults.fail_next("timeout", 1, path="/api/v2/mix/account/accounts")
    with pytest.raises(ccxt.RequestTimeout):
        trader.fetch_balance()
    assert trader.fetch_balance()["USDT"]["total"] == 10_000
    faults = [r.fault for r in emulator.request_log.records("/api/v2/mix/account/accounts")]
    assert faults == ["timeout", None]
