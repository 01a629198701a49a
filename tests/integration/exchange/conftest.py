"""Shared fixtures for tests that drive the real ``ccxt.bitget`` at the local Bitget emulator.

Fixtures (all start the emulator on ``127.0.0.1:<free port>`` in a background thread):

- ``emulator_clock``: a ``ManualClock`` at ``EMULATOR_START`` (2024-03-01 00:00 UTC);
  move it with ``.advance(seconds)`` / ``.set(when)`` then ``emulator.advance()``.
- ``emulator``: a fresh ``BitgetEmulator`` per test on that clock, synthetic bars
  around each default market's price, 10,000 USDT per new account.
- ``make_emulator(**kwargs)``: a factory for emulators with other settings (``bars=``,
  ``holes=``, ``dedupe_client_oids=False``, ``restrict_keys=True``, ...); each is
  stopped after the test. ``clock`` defaults to ``emulator_clock``.
- ``bitget(**kwargs)``: a factory of ``ccxt.bitget`` clients for ``emulator``
  (``aifap.exchange.emulator.bitget_client`` arguments: ``key``, ``secret``,
  ``credentials=False``, ``default_type="spot"``, ``timeout_ms``, ``sandbox``…); their
  HTTP sessions are closed after the test.
- ``bitget_for(emu, **kwargs)``: the same for an emulator made with ``make_emulator``.

Example::

    def test_balance(emulator, bitget):
        exchange = bitget(key="alice")
        assert exchange.fetch_balance()["USDT"]["total"] == 10_000
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aifap.exchange.emulator import BitgetEmulator, ManualClock, bitget_client

EMULATOR_START = "2024-03-01T00:00:00+00:00"


@pytest.fixture
def emulator_clock() -> ManualClock:
    """A manual clock at 2024-03-01 00:00 UTC."""
    return ManualClock(EMULATOR_START)


@pytest.fixture
def make_emulator(emulator_clock: ManualClock) -> Iterator[Callable[..., BitgetEmulator]]:
    """Return a factory of started emulators; all are stopped after the test."""
    started: list[BitgetEmulator] = []

    def make(**kwargs: Any) -> BitgetEmulator:
        kwargs.setdefault("clock", emulator_clock)
        emu = BitgetEmulator(**kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., BitgetEmulator]) -> BitgetEmulator:
    """A fresh emulator with default markets, synthetic bars and the manual clock."""
    return make_emulator()


@pytest.fixture
def bitget_for() -> Iterator[Callable[..., Any]]:
    """Return ``make(emulator, **kwargs) -> ccxt.bitget``; sessions closed after the test."""
    clients: list[Any] = []

    def make(emu: BitgetEmulator, **kwargs: Any) -> Any:
        client = bitget_client(emu, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        session = getattr(client, "session", None)
        if session is not None:
            session.close()


@pytest.fixture
def bitget(emulator: BitgetEmulator, bitget_for: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``make(**kwargs) -> ccxt.bitget`` for the ``emulator`` fixture."""
    return lambda **kwargs: bitget_for(emulator, **kwargs)
