"""A gateway a third-party package registers through its entry point runs a paper session."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from live_helpers import assert_no_duplicates

pytestmark = pytest.mark.slow

PLUGIN = textwrap.dedent('''
    """A toy third-party gateway: the paper gateway, recording every order it sends."""

    import json

    from aifap.exchange.factories import PAPER, GatewayFactory


    class ToyGateway:
        name = "toy"

        def __init__(self, inner, record):
            self._inner = inner
            self._record = record

        def place_orders(self, batch):
            orders = self._inner.place_orders(batch)
            with open(self._record, "a", encoding="utf-8") as out:
                for order in orders:
                    out.write(json.dumps({"client_id": order.client_id,
                                          "status": order.status.value}) + "\\n")
            return orders

        def __getattr__(self, name):
            return getattr(self._inner, name)


    def open_toy(config, context):
        record = config.working_directory / "toy-orders.jsonl"
        return ToyGateway(PAPER.open(config, context), record)


    FACTORY = GatewayFactory(open_toy, frozenset({"paper"}))
''')


def _install_plugin(site: Path) -> None:
    """Lay the toy package out as an installed distribution: module plus dist-info."""
    site.mkdir()
    (site / "toy_aifap_gateway.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "toy_aifap_gateway-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-aifap-gateway\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[aifap.gateways]\ntoy = toy_aifap_gateway:FACTORY\n", encoding="utf-8"
    )


def test_an_entry_point_gateway_trades_a_paper_session(session_run, tmp_path):
    site = tmp_path / "site"
    _install_plugin(site)
    run = session_run(exchange="toy", trading_duration="1h")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    assert run.run(env={"PYTHONPATH": path}) == 0, run.stderr
    record = run.workdir / "toy-orders.jsonl"
    sent = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert sent, "no order went through the toy gateway"
    journaled = {o.client_id for o in run.journal().orders()}
    assert {o["client_id"] for o in sent} == journaled
    assert all(o["status"] in {"filled", "open"} for o in sent), sent
    assert run.journal().session_row().status == "stopped"
    assert_no_duplicates(run)


def test_an_unknown_exchange_stops_before_the_session_starts(session_run):
    run = session_run(exchange="toy")  # no plugin installed in this run
    assert run.run() != 0
    assert "exchange: must be a registered gateway" in run.stderr
    assert "bitget" in run.stderr
    assert not (run.workdir / "heartbeat.json").exists()
