"""The risk figures from finwatcher snapshots, against the results reader's own rows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

from aifap.api.risk import breach_reason, exposure
from aifap.db import make_engine
from aifap.testing.results import write_session
from aifap.watch.results import ResultsReader, TimeRange


def rows(reader, name, sid):
    return getattr(reader, name)(sid, TimeRange.of(None, None), 5000, None).items


def test_exposure_sums_the_sessions_latest_snapshots(db_url):
    write_session(db_url, "s1", days=1.5, interval=timedelta(hours=1), seed=1)
    write_session(db_url, "s2", days=1.5, interval=timedelta(hours=1), seed=2)
    engine = make_engine(db_url)
    reader = ResultsReader(engine)
    figures = exposure(engine, ["s1", "s2", "never-ran"])
    assert figures.sessions == 2
    pv = peak = day_start = gross = 0.0
    for sid in ("s1", "s2"):
        snaps = rows(reader, "snapshots", sid)
        pv += float(snaps[-1]["pv"])
        peak += max(float(s["pv"]) for s in snaps)
        last_day = snaps[-1]["time"].date()
        day_start += next(float(s["pv"]) for s in snaps if s["time"].date() == last_day)
        held = [p for p in rows(reader, "positions", sid) if p["ts_ms"] == snaps[-1]["ts_ms"]]
        assert held
        gross += sum(abs(float(p["size"])) * float(p["mark_price"]) for p in held)
    assert abs(figures.pv - pv) < 1e-6
    assert abs(figures.peak - peak) < 1e-6
    assert abs(figures.day_start - day_start) < 1e-6
    assert abs(figures.gross - gross) < 1e-6 * gross


def limits(**values):
    base = {"max_drawdown": None, "max_gross_exposure": None, "max_daily_loss": None}
    return SimpleNamespace(**{**base, **{k: Decimal(str(v)) for k, v in values.items()}})


def test_each_limit_names_itself_when_broken(db_url):
    write_session(db_url, "s1", days=1.5, interval=timedelta(hours=1), seed=1)
    figures = exposure(make_engine(db_url), ["s1"])
    assert breach_reason(limits(), figures) is None
    assert breach_reason(limits(max_drawdown=1), figures) is None
    assert breach_reason(limits(max_gross_exposure=figures.gross * 0.5), figures).startswith(
        "gross exposure "
    )
    assert breach_reason(limits(max_gross_exposure=figures.gross * 2), figures) is None
    if figures.drawdown > 0:
        assert breach_reason(limits(max_drawdown=figures.drawdown / 2), figures).startswith(
            "drawdown "
        )
    loss = figures.daily_loss
    reason = breach_reason(limits(max_daily_loss=abs(loss) / 2 + 1e-9), figures)
    assert (reason is not None) == (loss > abs(loss) / 2 + 1e-9)
