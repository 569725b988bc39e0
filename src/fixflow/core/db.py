"""Database plumbing: declarative base, portable column types, engine and sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import greenlet_spawn

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSON documents: JSONB on PostgreSQL (indexable), JSON text on SQLite.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; fixflow stores aware UTC datetimes only")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JsonDoc}  # noqa: RUF012


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's built-in lower() only folds ASCII; Cyrillic search must be case-insensitive too.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


READ_PLAN_CACHE_MODE = "force_generic_plan"
# UTC sessions: timestamptz values then arrive as UTC-aware datetimes even where no SQLAlchemy type
# processes them (core.prebuilt), whatever the server's own time zone. No JIT: every statement here
# runs in about a millisecond, and a generic plan, which takes a LIMIT parameter for a tenth of the
# rows, can cost past jit_above_cost — PostgreSQL then compiled a 26-row page for 10 ms.
SESSION_OPTIONS = "-c TimeZone=UTC -c jit=off"


def _connection_lost(connection: Connection) -> bool:
    """Whether the driver connection under ``connection`` is gone (psycopg marks it broken or closed)."""
    if connection.invalidated:
        return True
    driver = connection.connection.driver_connection if not connection.closed else None
    return driver is None or bool(getattr(driver, "broken", False) or getattr(driver, "closed", False))


def _close_all(connections: list[Connection]) -> None:
    for connection in connections:
        connection.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so reads and
        # writes of one unit of work see one snapshot and writers take the lock up front.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", False)
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("options", SESSION_OPTIONS)
    return create_engine(url, **kwargs)


def _refuse_flush(session: Session, _flush: Any, _instances: Any) -> None:
    raise RuntimeError("a read session never writes: use a write session for this endpoint")


def _disable_pysqlite_autobegin(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None


class Database:
    """Engine plus session factory; one per process (the app, the worker, a test)."""

    def __init__(self, url: str, *, read_concurrency: int = 2, **engine_kwargs: Any) -> None:
        self.url = url
        self.read_concurrency = read_concurrency
        self.engine = make_engine(url, **engine_kwargs)
        if self.engine.dialect.name == "sqlite":
            _disable_pysqlite_autobegin(self.engine)
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Read-only endpoints on PostgreSQL: no BEGIN/COMMIT round trips (each statement reads the latest
        # commit). SQLite has no round trips to save and keeps its snapshot transaction.
        reads = self.engine
        if self.engine.dialect.name == "postgresql":
            reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_session_factory = sessionmaker(reads, expire_on_commit=False, autoflush=False)
        event.listen(self.read_session_factory, "before_flush", _refuse_flush)
        self._engine_kwargs = engine_kwargs
        # Per event loop (an async pool is bound to the loop it was made in): see open_async_reads.
        self._async_reads: dict[asyncio.AbstractEventLoop, AsyncEngine] = {}
        self._read_turns: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._held_reads: dict[asyncio.AbstractEventLoop, list[Connection]] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def open_async_reads(self) -> None:
        """An async read engine for the running event loop (PostgreSQL with psycopg only).

        The hottest reads (``core.http.run_reader``) then run on the event loop: their SQLAlchemy
        work in a greenlet, their statements on psycopg's async connection — no thread-pool hop, and
        requests served in arrival order (the thread pool's GIL contention made p99 5× p50). The
        application opens it at startup and closes it at shutdown; a loop without one (a test client
        without its lifespan) falls back to the thread pool.
        """
        if self.dialect != "postgresql" or self.engine.dialect.driver != "psycopg":
            return
        loop = asyncio.get_running_loop()
        if loop in self._async_reads:
            return
        kwargs = {k: v for k, v in self._engine_kwargs.items() if k not in ("poolclass",)}
        # As many connections as reads may be in flight (read_turn); the overflow is only a safety
        # valve, should a read ever hold two connections.
        kwargs["pool_size"], kwargs["max_overflow"] = self.read_concurrency, self.read_concurrency
        connect_args = kwargs.setdefault("connect_args", {})
        # Generic plans: these few statements (lists, counters, the profile) are prepared by psycopg and
        # shaped to be planned once — ids as parameters, prefixes as index ranges, never `LIKE $1` —
        # yet PostgreSQL kept re-planning them per execution (≈ 1 ms a statement, most of a counter).
        connect_args.setdefault("options", f"{SESSION_OPTIONS} -c plan_cache_mode={READ_PLAN_CACHE_MODE}")
        self._async_reads[loop] = create_async_engine(self.url, isolation_level="AUTOCOMMIT", **kwargs)
        self._read_turns[loop] = asyncio.Semaphore(self.read_concurrency)

    async def close_async_reads(self) -> None:
        loop = asyncio.get_running_loop()
        self._read_turns.pop(loop, None)
        held = self._held_reads.pop(loop, [])
        if held:
            await greenlet_spawn(_close_all, held)
        engine = self._async_reads.pop(loop, None)
        if engine is not None:
            await engine.dispose()

    def on_held_read_connection(self, loop: asyncio.AbstractEventLoop, work: Callable[[Connection], T]) -> T:
        """``work`` on a read connection of ``loop``'s engine kept checked out between reads.

        Called in SQLAlchemy's greenlet within a read turn (``read_turn``), so there are never more of
        them than turns. Taking a connection from the pool and giving it back, with its set-up and
        reset, was ≈ 0.1 ms of every hot read; a session bound to a held connection skips it (the
        connections are in autocommit: a read leaves nothing behind but its prepared statements). A
        connection that broke or is left in a transaction is given back to the pool instead. With
        ``pool_pre_ping`` (``FIXFLOW_DATABASE_PRE_PING``) nothing is held: every read then checks its
        connection out, and the pool tests it first.
        """
        idle = self._held_reads.setdefault(loop, [])
        engine = self._async_reads[loop].sync_engine
        connection = idle.pop() if idle else engine.connect()
        try:
            return work(connection)
        except DBAPIError as exc:
            if not _connection_lost(connection):
                raise
            # The server went away (restarted, or this backend was terminated): so did every other
            # connection of this process to it, held or pooled, the write engine's included. Forget
            # them all and read once more on a new one; a read is safe to repeat. Only a second
            # loss reaches the user.
            connection.invalidate(exc)
            connection.close()
            for other in idle:
                other.invalidate()
            idle.clear()
            engine.dispose(close=False)
            self.engine.dispose(close=False)
            connection = engine.connect()
            return work(connection)
        finally:
            spent = connection.invalidated or connection.closed or connection.in_transaction()
            if spent or self._engine_kwargs.get("pool_pre_ping"):
                connection.close()
            else:
                idle.append(connection)

    def async_reads(self) -> AsyncEngine | None:
        """The running loop's async read engine, if it has one."""
        if not self._async_reads:
            return None
        try:
            return self._async_reads.get(asyncio.get_running_loop())
        except RuntimeError:
            return None

    def read_turn(self) -> asyncio.Semaphore:
        """Taken around each read on the running loop's async engine: at most ``read_concurrency``
        reads of this process are in flight, the others wait in arrival order (asyncio's semaphore
        serves its waiters first come, first served; the pool's own queue does not: a newcomer takes
        a connection given back before the waiter woken for it runs)."""
        return self._read_turns[asyncio.get_running_loop()]

    def engines(self) -> list[Engine]:
        """Every engine statements may run on (for statement listeners: counters, profilers)."""
        return [self.engine, *(e.sync_engine for e in self._async_reads.values())]

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error.

        ``write=True`` takes SQLite's write lock at BEGIN, so a writer never fails half-way on a
        lock upgrade; readers stay concurrent under WAL.
        """
        session = self.session_factory()
        if write:
            self.begin_write(session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def begin_write(self, session: Session) -> None:
        """Start a unit of work that will write (on SQLite: take the write lock at BEGIN)."""
        if self.dialect == "sqlite":
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})

    def dispose(self) -> None:
        self.engine.dispose()


def id_column(*, primary_key: bool = False) -> Any:
    from sqlalchemy.orm import mapped_column

    return mapped_column(BigId, primary_key=primary_key)


def fk(target: str, *, nullable: bool = False, index: bool = False, ondelete: str | None = None) -> Any:
    """A 64-bit foreign-key column (plain INTEGER on SQLite)."""
    from sqlalchemy import ForeignKey
    from sqlalchemy.orm import mapped_column

    return mapped_column(BigId, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)


def tenant_fk() -> Any:
    return fk("tenants.id")
