"""Loading a month's returns into the district warehouse, and the row writers every stage shares.

Loads are one transaction per reporting month and idempotent: the rows a month's inbox produces have
deterministic keys, so loading it again writes exactly the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.warehouse.connect import writing, xact_lock
from pipeline.warehouse.schema import (
    FACT_TABLES,
    metadata,
    problem,
    return_file,
    submission,
    submission_column,
    verification_hit,
)

log = logging.getLogger(__name__)


@dataclass
class SubmissionLoad:
    row: dict[str, Any]
    #: Fact rows column by column: every column of the form's fact table → one value per row.
    facts: dict[str, Sequence[Any]] = field(default_factory=dict)
    #: Rows of ``submission_column``: where each of the form's columns is on the sheet.
    columns: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FileLoad:
    file_row: dict[str, Any]
    submissions: list[SubmissionLoad]
    problems: list[dict[str, Any]]
    #: Rows of ``verification_hit`` (pipeline.validation.verification.attach_hits).
    hits: list[dict[str, Any]] = field(default_factory=list)


class LoadHook(Protocol):
    """Work a load does inside its transaction, under the load lock (``verification.MonthJudge``)."""

    def before_write(self, conn: Connection) -> None: ...

    def after_write(self, conn: Connection) -> None: ...


def load_month(engine: Engine, period: str, files: Sequence[FileLoad], *, withdraw_absent: bool = False,
               hook: LoadHook | None = None) -> list[str]:
    """Replace what these files contributed to ``period`` and settle which submissions are in force.

    With ``withdraw_absent`` (``files`` is the whole inbox month) refused files of earlier runs that are
    not among ``files`` are marked ``withdrawn``: their problems are closed. Returns their names.
    Loads of different months commit one after another (the load lock): ``hook`` sees every load before it.
    """
    file_ids = [f.file_row["file_id"] for f in files]
    withdrawn: list[str] = []
    with writing(engine) as conn:
        xact_lock(conn, f"district-month-{period}")
        # After the month's lock, never before: a second run of the same month waits there holding nothing.
        xact_lock(conn, "district-warehouse-load")
        if hook is not None:
            hook.before_write(conn)
        replaced = _delete_files(conn, file_ids)
        # Every table in one bulk statement: a city month is thousands of bookkeeping rows, which
        # one INSERT per row (psycopg's executemany) sends in as many round trips.
        subs = [s for f in files for s in f.submissions]
        insert_rows(conn, return_file, [f.file_row for f in files])
        insert_rows(conn, submission, [s.row for s in subs])
        written = [return_file, submission, submission_column, problem, verification_hit]
        for code, table in FACT_TABLES.items():
            blocks = [s.facts for s in subs if s.row["form_code"] == code and s.facts]
            if blocks:
                bulk_insert(conn, table, blocks)
            if blocks or replaced:
                written.append(table)
        insert_rows(conn, submission_column, [c for s in subs for c in s.columns])
        insert_rows(conn, problem, [p for f in files for p in f.problems])
        insert_rows(conn, verification_hit, [h for f in files for h in f.hits])
        settle_supersession(conn, period)
        if withdraw_absent:
            withdrawn = _withdraw_absent(conn, period, file_ids)
        if hook is not None:
            hook.after_write(conn)
        _flush_statistics(conn)
    if files:
        vacuum_analyze(engine, written)
    return withdrawn


def _withdraw_absent(conn: Connection, period: str, present: list[str]) -> list[str]:
    """Mark the refused files of ``period`` not in ``present`` withdrawn; their names."""
    absent = (return_file.c.period == period) & (return_file.c.status == "refused") & (
        return_file.c.file_id.not_in(present) if present else sa.true())
    names = list(conn.execute(sa.select(return_file.c.file_name).where(absent).order_by(return_file.c.file_name))
                 .scalars())
    if names:
        conn.execute(return_file.update().where(absent).values(status="withdrawn"))
    return names


#: A table's column statistics are taken again once this share of its rows changed since they were
#: last taken (row counts and the visibility map are refreshed after every load).
ANALYZE_SCALE = 0.5
ANALYZE_BASE_ROWS = 500


FLUSH_STATISTICS_SQL = "SELECT pg_stat_force_next_flush()"


def _flush_statistics(conn: Connection) -> None:
    """PostgreSQL 15+: this transaction's row counts reach ``pg_stat_user_tables`` when it commits, not up
    to a second later, so ``vacuum_analyze`` sees this load's changes."""
    if conn.dialect.name != "postgresql" or (conn.dialect.server_version_info or (0,)) < (15,):
        return
    # In a savepoint: a server that refuses the call costs a later ANALYZE, never the load.
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(FLUSH_STATISTICS_SQL)
    except sa.exc.DBAPIError as exc:
        log.warning("could not flush statistics before commit: %s", exc)


def vacuum_analyze(engine: Engine, tables: Sequence[sa.Table]) -> None:
    """PostgreSQL: row counts and visibility map of ``tables`` brought up to date after a load, and column
    statistics where they are missing or stale.

    Without statistics on freshly loaded tables the planner takes them for empty and nests loops
    (a city year's provenance: 14 s, 1.1 s with them); the visibility map lets consolidation read
    its covering indexes without visiting the table. VACUUM is cheap and sets both; ANALYZE (most of
    the cost: 0.15 of 0.16 s per city month) runs for a table never analysed, or whose changes since
    its last ANALYZE reach ``ANALYZE_SCALE`` of its rows, as autovacuum would with a larger scale
    factor: the row counts the planner sizes joins by are fresh anyway. Neither can run in a
    transaction, so this follows the load's commit; tables another VACUUM is working on are skipped,
    not waited for. A failure here leaves the committed load as it is.
    """
    if engine.dialect.name != "postgresql" or not tables:
        return
    fmt = engine.dialect.identifier_preparer.format_table
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (SKIP_LOCKED) {', '.join(fmt(t) for t in tables)}")
            stale = set(conn.execute(sa.text(
                "SELECT s.relid::regclass::text FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                " WHERE s.relid = ANY(CAST(:names AS regclass[]))"
                " AND (coalesce(s.last_analyze, s.last_autoanalyze) IS NULL"
                "      OR s.n_mod_since_analyze >= :base + :scale * greatest(c.reltuples, 0))"
            ), {"names": [fmt(t) for t in tables], "base": ANALYZE_BASE_ROWS, "scale": ANALYZE_SCALE}).scalars())
            if stale:
                conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {', '.join(sorted(stale))}")
    except sa.exc.DBAPIError as exc:
        log.warning("VACUUM/ANALYZE after the load failed, the load stands: %s", exc)


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``bulk_insert`` of rows given as mappings, each with every column of ``table``."""
    if rows:
        bulk_insert(conn, table, [{c.name: [r[c.name] for r in rows] for c in table.columns}])


def bulk_insert(conn: Connection, table: sa.Table, blocks: Sequence[Mapping[str, Sequence[Any]]]) -> None:
    """Insert rows given column by column (every column of ``table``) inside ``conn``'s transaction.

    Straight through the driver, values always bound as data: ``COPY … FROM STDIN`` on psycopg 3, one
    ``executemany`` elsewhere. SQLAlchemy's per-row parameter processing costs more than the insert itself.
    """
    dialect = conn.dialect
    names = [c.name for c in table.columns]
    procs = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns]

    def rows() -> Iterator[tuple[Any, ...]]:
        for block in blocks:
            columns = [_processed(block[n], p) for n, p in zip(names, procs, strict=True)]
            yield from zip(*columns, strict=True)

    quote = dialect.identifier_preparer.quote
    target = f"{dialect.identifier_preparer.format_table(table)} ({', '.join(quote(n) for n in names)})"
    dbapi = conn.connection.dbapi_connection
    if dialect.driver == "psycopg":
        with dbapi.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows():
                copy.write_row(row)
    elif dialect.paramstyle == "qmark":
        # Thousands of rows per statement: executemany's statement step per row costs a third of the load.
        one = f"({', '.join('?' * len(names))})"
        per = max(1, _sqlite_max_params(dbapi) // len(names))
        source = rows()
        cursor = dbapi.cursor()
        try:
            while chunk := list(islice(source, per)):
                cursor.execute(f"INSERT INTO {target} VALUES {', '.join([one] * len(chunk))}",
                               list(chain.from_iterable(chunk)))
        finally:
            cursor.close()
    else:
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows()])


def _sqlite_max_params(dbapi: Any) -> int:
    """Parameters bound per INSERT on SQLite: the connection's limit (999 before SQLite 3.32), at most 32,766.

    A larger statement saves nothing more and its compiled program grows with it.
    """
    import sqlite3

    getlimit = getattr(dbapi, "getlimit", None)
    return min(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if getlimit else 999, 32_766)


def _processed(values: Sequence[Any], process: Any) -> Iterable[Any]:
    """``map(process, values)``, calling ``process`` once per distinct value when the column holds one type.

    A month's column of dates repeats about thirty values; SQLite's DATE processor formats each in Python.
    """
    if process is None:
        return values
    # Equal values of different types (1, 1.0, True) may be processed differently: those columns map per value.
    if len(set(map(type, values)) - {type(None)}) > 1:
        return map(process, values)
    try:
        done = {v: process(v) for v in set(values)}
    except TypeError:  # an unhashable value
        return map(process, values)
    return map(done.__getitem__, values)


def _delete_files(conn: Connection, file_ids: list[str]) -> bool:
    """Delete what these files contributed; whether there was anything."""
    # A month's first load finds none of its files: one look instead of a delete per table.
    file_ids = _loaded_files(conn, file_ids)
    if not file_ids:
        return False
    sub_ids = sa.select(submission.c.submission_id).where(submission.c.file_id.in_(file_ids))
    for table in FACT_TABLES.values():
        conn.execute(table.delete().where(table.c.submission_id.in_(sub_ids)))
    conn.execute(submission_column.delete().where(submission_column.c.submission_id.in_(sub_ids)))
    conn.execute(problem.delete().where(problem.c.file_id.in_(file_ids)))
    conn.execute(verification_hit.delete().where(verification_hit.c.file_id.in_(file_ids)))
    conn.execute(submission.delete().where(submission.c.file_id.in_(file_ids)))
    conn.execute(return_file.delete().where(return_file.c.file_id.in_(file_ids)))
    return True


def _loaded_files(conn: Connection, file_ids: list[str]) -> list[str]:
    """Those of ``file_ids`` that have rows in the warehouse (a file, its submissions or problems)."""
    if not file_ids:
        return []
    found = sa.union(*(sa.select(t.c.file_id).where(t.c.file_id.in_(file_ids))
                       for t in (return_file, submission, problem)))
    return sorted(conn.execute(found).scalars())


def settle_supersession(conn: Connection, period: str) -> None:
    """The latest valid submission of each unit × form is in force; older valid ones are superseded.

    A refused (quarantined) correction does not displace the valid return it was meant to replace:
    the operator is told, and the unit resends.
    """
    rows = conn.execute(
        sa.select(submission.c.submission_id, submission.c.unit_code, submission.c.form_code)
        .where(submission.c.period == period, submission.c.status != "quarantined")
        .order_by(submission.c.received_at_utc, submission.c.file_name, submission.c.submission_id)
    ).all()
    latest: dict[tuple[str, str], str] = {}
    for sub_id, unit, form in rows:
        latest[(unit, form)] = sub_id
    in_force = set(latest.values())
    superseded = [r[0] for r in rows if r[0] not in in_force]
    for status, ids in (("loaded", sorted(in_force)), ("superseded", superseded)):
        if ids:
            conn.execute(
                submission.update()
                .where(submission.c.submission_id.in_(ids), submission.c.status != status)
                .values(status=status)
            )




def dump(engine: Engine, tables: Iterable[sa.Table] | None = None) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: what a re-run must leave unchanged."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in tables or metadata.sorted_tables:
            out[table.name] = sorted((tuple(r) for r in conn.execute(sa.select(table)).all()), key=repr)
    return out

