"""A session's connection to ``aifap serve gateway`` outlives the pause between its cycles.

Sessions call the service once a cycle, a minute or more apart; uvicorn's and httpx's
default idle timeouts (5 s) would open a TCP connection per cycle. The service and the
client keep an idle connection for minutes (``wire.SERVICE_IDLE_SECONDS``, the client's
shorter ``CLIENT_IDLE_SECONDS``): two calls 6 s apart go over the same connection.
"""

from __future__ import annotations

import time
from datetime import timedelta

import psutil
import pytest
from helpers.gateway_process import KEY, PASSPHRASE, SECRET, served_gateway
from helpers.replay_emulator import synthetic_emulator

from aifap.data.synthetic import DEFAULT_END
from aifap.exchange.remote import wire
from aifap.exchange.remote.client import RemoteGateway

pytestmark = pytest.mark.slow

PAUSE = 6.0  # above uvicorn's and httpx's default keep-alive of 5 s


@pytest.fixture
def service(tmp_path):
    emulator = synthetic_emulator(["BTCUSDT"], DEFAULT_END - timedelta(days=1), 60)
    emulator.add_account(KEY, SECRET, PASSPHRASE, balance="1000")
    emulator.start()
    try:
        with served_gateway(tmp_path, emulator.url) as gateway:
            yield gateway
    finally:
        emulator.stop()


def _ports_to(port: int) -> set[int]:
    """Local ports of this process's open TCP connections to ``port``."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


def test_two_calls_a_pause_apart_share_one_connection(service):
    assert wire.CLIENT_IDLE_SECONDS < wire.SERVICE_IDLE_SECONDS  # the client lets go first
    config = service.session_config({"session_id": "keepalive"})
    gateway = RemoteGateway(config["gateway_url"], config["gateway_token"], demo=True)
    try:
        assert gateway.balance().wallet == 1000
        first = _ports_to(service.port)
        assert len(first) == 1
        time.sleep(PAUSE)
        assert gateway.balance().wallet == 1000
        assert _ports_to(service.port) == first
    finally:
        gateway.close()
