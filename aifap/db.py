"""One engine factory, the declarative base, exact money columns and Alembic upgrades.

Three logical databases (``platform``, ``market``, ``results``) may share one URL.
Default: a SQLite file in the user's data directory; PostgreSQL via
``AIFAP_DATABASE_URL`` or the per-database ``AIFAP_<KIND>_DATABASE_URL``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import ColumnElement, Engine, Numeric, String, create_engine, event, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from aifap.core.errors import ConfigError
from aifap.redaction import redact_url
from aifap.settings import Settings, get_settings

if TYPE_CHECKING:  # alembic is imported by the functions that migrate, not by every reader
    from alembic.config import Config

log = logging.getLogger(__name__)

DatabaseKind = Literal["platform", "market", "results"]
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    """Declarative base of every AIFAP table."""


RowT = TypeVar("RowT", bound=Base)


class Amount(TypeDecorator[Decimal]):
    """The exact money column: NUMERIC(38, 18) on PostgreSQL, text on SQLite.

    SQLite has no decimal type (its NUMERIC is a float), so amounts are stored as
    their exact decimal string there; both backends give back ``Decimal``.
    ``Amount(any_scale=True)`` stores the exact decimal text on every backend (up to
    80 characters), for numbers with more than NUMERIC(38, 18)'s 18 decimals that a
    replay must give back unchanged (the paper book's fees).
    """

    impl = Numeric(38, 18)
    cache_ok = True

    def __init__(self, any_scale: bool = False) -> None:
        super().__init__()
        self.any_scale = any_scale

    def _as_text(self, dialect: Dialect) -> bool:
        return self.any_scale or dialect.name == "sqlite"

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        """Use text on SQLite (or for any scale), NUMERIC elsewhere."""
        if self.any_scale:
            return dialect.type_descriptor(String(80))
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Reject non-finite amounts; write exact decimal strings where stored as text."""
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"amount must be finite, was {value!r}")
        return format(number, "f") if self._as_text(dialect) else number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Return a Decimal (PostgreSQL's driver gives one already: kept, not reparsed)."""
        if value is None or type(value) is Decimal:
            return value
        return Decimal(str(value))


def database_url(kind: DatabaseKind = "platform", settings: Settings | None = None) -> str:
    """Return the URL of a logical database: its own setting, the shared one, or SQLite."""
    settings = settings or get_settings()
    specific = {
        "platform": None,
        "market": settings.market_database_url,
        "results": settings.results_database_url,
    }[kind]
    chosen = specific or settings.database_url
    if chosen is not None:
        return chosen.get_secret_value()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.data_dir / 'aifap.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


WORKER_CONNECTIONS = 4  # SQLite connections a ``pooled`` engine keeps open
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def make_engine(
    url: str, *, fresh: bool = False, pooled: bool = False, autocommit: bool = False
) -> Engine:
    """Return the engine for ``url`` (one per URL per process unless ``fresh`` or ``pooled``).

    SQLite files get WAL, a busy timeout and foreign keys; PostgreSQL URLs without a
    driver use psycopg2. Child processes must call this again after fork, with
    ``fresh=True``, because pooled connections cannot cross a fork.

    ``pooled``: a new engine of this process's own that keeps SQLite connections open
    between transactions (a long-lived server on a hot path, such as the gateway
    service). Without it each transaction opens and closes its SQLite connection, and
    closing the last one checkpoints the WAL (an fsync, ~10-20 ms on a busy disk).

    ``autocommit`` (also a new engine of this process's own): every statement is its own
    transaction on PostgreSQL, for a read-only server answering one query per request:
    no ``BEGIN`` before it and no ``ROLLBACK`` when the connection goes back to the pool
    (two round trips fewer per request). SQLite's driver begins none for reads anyway.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"database URL must be a SQLAlchemy URL, was {redact_url(url)}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        shared = not (fresh or pooled or autocommit)  # one cached engine per URL
        if shared and key in _engines:
            return _engines[key]
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            if pooled:
                engine = create_engine(parsed, pool_size=WORKER_CONNECTIONS, max_overflow=4)
            else:
                engine = create_engine(parsed, poolclass=NullPool)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
            engine = create_engine(
                parsed, pool_pre_ping=True, pool_size=5, max_overflow=10, **options
            )
        if shared:
            _engines[key] = engine
        return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a sessionmaker bound to ``engine`` that keeps objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def session_rows(
    sessions: sessionmaker[Session],
    model: type[RowT],
    session_id: str,
    *order_by: Any,
    where: Sequence[ColumnElement[bool]] = (),
) -> list[RowT]:
    """Return the rows of ``model`` whose ``session_id`` column is ``session_id``, ordered."""
    query = select(model).where(model.__table__.c.session_id == session_id, *where)
    with sessions() as db:
        return list(db.scalars(query.order_by(*order_by)))


def alembic_config(url: str) -> Config:
    """Return an Alembic config for AIFAP's migrations against ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (every branch's head)."""
    from alembic import command

    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    log.debug("migrated %s", redact_url(url))
