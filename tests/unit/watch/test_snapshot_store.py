"""Finwatcher's snapshot rows give back the snapshot and positions they stored."""

from datetime import UTC, datetime
from decimal import Decimal

from aifap.core.portfolio import Position
from aifap.core.snapshot import Snapshot
from aifap.db import make_engine, migrate
from aifap.watch.snapshots import SnapshotStore

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_stored_snapshot_comes_back_whole_and_is_stored_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.db'}"
    migrate(url)
    store = SnapshotStore(make_engine(url), "s")
    position = Position(
        "BTCUSDT", Decimal("0.5"), Decimal("100"), Decimal("110"), Decimal("3"),
        take_profit=Decimal("120"), funding_fee=Decimal("0.1"),
    )
    snapshot = Snapshot(
        "s", T, Decimal("1000"), (position,), pv=Decimal("1005"), roe=0.005,
        unrealized_pnl=Decimal("5"), sharpe=1.5, max_drawdown=0.1, funding_fees=Decimal("0.2"),
    )
    assert store.save(snapshot, T)
    assert not store.save(snapshot, T)
    assert store.latest() == snapshot
    assert store.history() == [(T, 1005.0)]
