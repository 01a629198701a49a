"""Shared fixtures: throwaway PostgreSQL, database URLs on both backends, shared data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifap.testing.postgres import PostgresServer, start_postgres

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SHARED_DATA = Path(
    os.environ.get("AIFAP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def unavailable(reason: str) -> None:
    """Skip locally, but fail in CI where every part must be present."""
    if IN_CI:
        pytest.fail(f"required in CI (CI=true): {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point AIFAP's data directory at a temporary one so tests never touch the user's."""
    from aifap.settings import get_settings

    if "AIFAP_DATA_DIR" not in os.environ:
        monkeypatch.setenv("AIFAP_DATA_DIR", str(tmp_path_factory.mktemp("aifap-data")))
    for name in ("AIFAP_DATABASE_URL", "AIFAP_MARKET_DATABASE_URL", "AIFAP_RESULTS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the whole test session."""
    try:
        server = start_postgres()
    except RuntimeError as exc:
        unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = pg_server.create_database()
    yield url
    from aifap.db import make_engine

    make_engine(url).dispose()
    pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real market data in ../shared/data (read in place, never copied)."""
    if not (SHARED_DATA / "ohlcv").is_dir():
        unavailable(f"shared market data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep tests that share a costly fixture on one pytest-xdist worker (``--dist loadgroup``).

    A module whose tests share a module-scoped fixture (an org with argon2 passwords, a
    backtest) is one group; the dashboard tests share a finished session and a Chromium
    for the whole run, so they are one group too. The rest is spread freely.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = Path(str(item.path))
        if "dashboard" in path.parts and "integration" in path.parts:
            item.add_marker(pytest.mark.xdist_group("dashboard"))
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else []
        if any(d and d[-1].scope == "module" for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
