"""Run paper sessions on the stepped replay clock in a subprocess, and read their results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from aifap.db import make_engine, session_factory
from aifap.live.journal import Journal

HERE = Path(__file__).parent
STRATEGIES = HERE / "strategies.py"
REPO = HERE.parents[2]


class SessionRun:
    """One session's config on disk plus helpers to run it and inspect its database."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.dir = tmp_path
        self.db = tmp_path / "results.db"
        self.config: dict[str, Any] = {
            "session_id": "sess", "trader": "tester", "strategy_name": "rotate",
            "strategy": f"{STRATEGIES}:rotate", "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
            "allocation": 10000, "leverage": 2, "rebalance_every": "15m",
            "trading_duration": "1h 30m", "finwatcher_interval": "5m",
            "workdir": str(tmp_path / "wd"), "results_database_url": f"sqlite:///{self.db}",
            "alert_channel": "none", "strategy_time_limit": "2s",
            "clock": {"kind": "replay", "start": "2024-06-20T00:00:00Z", "speed": 0},
        }
        self.config.update(overrides)

    @property
    def workdir(self) -> Path:
        return Path(self.config["workdir"])

    def write(self, name: str = "session.yaml") -> Path:
        path = self.dir / name
        path.write_text(yaml.safe_dump(self.config), encoding="utf-8")
        return path

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        path = self.write()
        full = {**os.environ, "AIFAP_DATA_DIR": str(self.dir / "data"), **(env or {})}
        full.pop("AIFAP_LIVE_KILL_AT", None) if env is None else None
        return subprocess.Popen(
            [sys.executable, "-c", "from aifap.cli import main; main()", "live", "run",
             "--direct", str(path)], cwd=REPO, env=full, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)

    def run(self, env: dict[str, str] | None = None, timeout: float = 240) -> int:
        proc = self.start(env)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            raise
        self.stderr = err.decode(errors="replace")
        return proc.returncode

    def journal(self) -> Journal:
        return Journal(make_engine(f"sqlite:///{self.db}", fresh=True), self.config["session_id"])

    def paper_rows(self) -> tuple[list[Any], list[Any]]:
        from aifap.exchange.paper.models import PaperFill, PaperOrder

        account = self.config["session_id"]
        with session_factory(make_engine(f"sqlite:///{self.db}", fresh=True))() as db:
            orders = list(db.scalars(select(PaperOrder).where(PaperOrder.account == account)))
            fills = list(db.scalars(select(PaperFill).where(PaperFill.account == account)))
        return orders, fills

    def log(self) -> str:
        path = self.workdir / "session.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""


def book_of_paper(fills: list[Any]) -> dict[str, Decimal]:
    """Return the signed size per symbol the paper fills add up to."""
    book: dict[str, Decimal] = {}
    for fill in fills:
        signed = fill.amount if fill.side == "buy" else -fill.amount
        book[fill.symbol] = book.get(fill.symbol, Decimal(0)) + signed
    return {k: v for k, v in book.items() if v != 0}


def assert_no_duplicates(run: SessionRun) -> None:
    """Every client id reached the exchange once and filled once; every fill is journaled."""
    orders, fills = run.paper_rows()
    ids = [o.client_id for o in orders]
    assert len(ids) == len(set(ids)), "an order was placed twice"
    filled_ids = [f.client_id for f in fills if f.client_id]
    assert len(filled_ids) == len(set(filled_ids)), "an order filled twice"
    journaled = {o.client_id for o in run.journal().orders()}
    assert set(ids) <= journaled, "the exchange has an order the journal does not know"
    recorded = run.journal().fills()
    assert len(recorded) >= len(list(fills)) - _unsynced(run, fills)


def _unsynced(run: SessionRun, fills: list[Any]) -> int:
    # fills after the last cycle's reconciliation are recorded at the next start
    last = max((c.finished_ms or 0) for c in run.journal().cycles()) if run.journal().cycles() \
        else 0
    return len([f for f in fills if f.ts_ms > last])


def positions_json(text: str | None) -> dict[str, Decimal]:
    return {k: Decimal(v["size"]) for k, v in json.loads(text or "{}").items()}
