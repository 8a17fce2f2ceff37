"""Engines, transactions and locks of the district warehouse: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        from pathlib import Path

        db = url.split("///", 1)[-1]
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        # Several months may load at once (backfills); wait for the file lock instead of failing.
        engine = sa.create_engine(url, connect_args={"timeout": 120})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, begins transactions (``_sqlite_begin``): the driver would begin one
    # only at the first write, so the reads before it saw whatever was committed at each statement.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    # IMMEDIATE takes the database's write lock at once (waiting up to the busy timeout for it): the
    # transaction then reads a state no other writer changes until it commits.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate") else "BEGIN")


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite it holds the write lock from its start (``BEGIN IMMEDIATE``): two
    processes never both read "empty" and then both write, and what it reads stays true until it commits.
    On PostgreSQL, a READ COMMITTED transaction (callers take advisory locks with ``xact_lock``)."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn


@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One transaction that reads one state of the warehouse and may write: REPEATABLE READ on
    PostgreSQL, the write lock held throughout on SQLite."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


@contextlib.contextmanager
def reading(bind: Engine | Connection) -> Iterator[Connection]:
    """``bind`` itself if it is a connection (its transaction, its snapshot), else a new connection."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


@contextlib.contextmanager
def session_lock(engine: Engine, key: str) -> Iterator[None]:
    """Serialise work on ``key`` across processes on PostgreSQL, taken before a REPEATABLE READ transaction
    begins (inside one, the wait would come after its snapshot). SQLite: ``snapshot`` serialises."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})


def xact_lock(conn: Connection, key: str) -> None:
    """Serialise work on one key (a month, the schema) across processes on PostgreSQL; on SQLite the
    write transaction's lock (``writing``) serialises all writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
