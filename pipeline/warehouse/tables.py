"""The district warehouse: SQLAlchemy Core, one code path for SQLite and PostgreSQL.

Every table states its grain in its comment. Loads are one transaction per reporting month and
idempotent: the rows a month's inbox produces have deterministic keys, so loading it again writes
exactly the same rows.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.forms import FORMS, YES, Form

log = logging.getLogger(__name__)

metadata = sa.MetaData()

return_file = sa.Table(
    "return_file", metadata,
    sa.Column("file_id", sa.String(48), primary_key=True, comment="<period>:<first 16 hex of sha256>"),
    sa.Column("period", sa.String(7), nullable=False, index=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("received_at_utc", sa.DateTime, nullable=False),
    sa.Column("unit_code", sa.String(16)),
    sa.Column("status", sa.String(16), nullable=False,
              comment="accepted | partly_refused | refused | withdrawn (refused, then no longer in the inbox)"),
    sa.UniqueConstraint("period", "sha256"),
    comment="grain: one row per distinct workbook (by SHA-256) received in an inbox month",
)

submission = sa.Table(
    "submission", metadata,
    sa.Column("submission_id", sa.String(64), primary_key=True, comment="<file_id>:<form_code>"),
    sa.Column("file_id", sa.String(48), sa.ForeignKey("return_file.file_id"), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("unit_code", sa.String(16)),
    sa.Column("form_code", sa.String(32), nullable=False),
    sa.Column("sheet", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("received_at_utc", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, comment="loaded | superseded | quarantined"),
    sa.Column("is_nil", sa.Boolean, nullable=False, comment="本月无: the unit reported nothing"),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("error_count", sa.Integer, nullable=False),
    sa.Column("warning_count", sa.Integer, nullable=False),
    sa.Index("ix_submission_period_form", "period", "form_code", "status"),
    # For consolidation (pipeline.figures.definitions): the few submissions not in force, whose fact rows it
    # leaves out, and what it reports of those in force (how many, latest receipt) from the index alone.
    sa.Index("ix_submission_not_in_force", "period", "form_code",
             postgresql_where=sa.text("status <> 'loaded'"), sqlite_where=sa.text("status <> 'loaded'")),
    sa.Index("ix_submission_in_force", "period", "form_code", postgresql_include=["received_at_utc"],
             postgresql_where=sa.text("status = 'loaded'"), sqlite_where=sa.text("status = 'loaded'")),
    comment="grain: one row per unit × month × form × file (one sheet of one workbook)",
)

problem = sa.Table(
    "problem", metadata,
    sa.Column("file_id", sa.String(48), sa.ForeignKey("return_file.file_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("submission_id", sa.String(64)),
    sa.Column("severity", sa.String(8), nullable=False, comment="error refuses the return; warning does not"),
    sa.Column("rule", sa.String(48), nullable=False),
    sa.Column("sheet", sa.Text),
    sa.Column("cell", sa.String(16)),
    sa.Column("excel_row", sa.Integer),
    sa.Column("column_label", sa.Text),
    sa.Column("value", sa.Text),
    sa.Column("message_zh", sa.Text, nullable=False),
    comment="grain: one row per problem found in a file (file × sheet × cell × rule)",
)

# Verification rules (核实性审核, pipeline/validation/verification.py): a hit does not refuse the return.
verification_hit = sa.Table(
    "verification_hit", metadata,
    sa.Column("submission_id", sa.String(64), primary_key=True),
    sa.Column("excel_row", sa.Integer, primary_key=True),
    sa.Column("column_code", sa.String(48), primary_key=True),
    sa.Column("rule", sa.String(48), primary_key=True, comment="verify_jump | verify_robust_range | …"),
    sa.Column("file_id", sa.String(48), sa.ForeignKey("return_file.file_id"), nullable=False, index=True),
    sa.Column("period", sa.String(7), nullable=False, index=True),
    sa.Column("unit_code", sa.String(16)),
    sa.Column("form_code", sa.String(32), nullable=False),
    sa.Column("sheet", sa.Text, nullable=False),
    sa.Column("cell", sa.String(16)),
    sa.Column("column_label", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("lower", sa.Float, comment="the bound the value fell below, if any"),
    sa.Column("upper", sa.Float, comment="the bound the value rose above, if any"),
    sa.Column("context_zh", sa.Text, nullable=False, comment="the history behind the bounds: 近12个月 85–160"),
    sa.Column("message_zh", sa.Text, nullable=False),
    sa.Column("workbook_note", sa.Text, comment="the clerk's 核实说明 on the row: the hit is confirmed"),
    comment="grain: one row per submission × Excel row × column × verification rule that flagged the value",
)

verification_note = sa.Table(
    "verification_note", metadata,
    sa.Column("period", sa.String(7), primary_key=True),
    sa.Column("unit_code", sa.String(16), primary_key=True),
    sa.Column("form_code", sa.String(32), primary_key=True, comment="'*': every form"),
    sa.Column("column_code", sa.String(48), primary_key=True, comment="'*': every column"),
    sa.Column("rule", sa.String(48), primary_key=True, comment="'*': every rule"),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("noted_by", sa.Text, nullable=False),
    sa.Column("noted_at_utc", sa.DateTime, nullable=False),
    comment="grain: one row per unit × month × form × column × rule the operator confirmed (survives reloads)",
)

_SQL_TYPES = {"text": sa.Text, "enum": sa.Text, "yesno": sa.String(1), "int": sa.BigInteger, "date": sa.Date}


def _fact_table(form: Form) -> sa.Table:
    return sa.Table(
        form.table, metadata,
        sa.Column("submission_id", sa.String(64), sa.ForeignKey("submission.submission_id"), primary_key=True),
        sa.Column("excel_row", sa.Integer, primary_key=True),
        sa.Column("sheet", sa.Text, nullable=False),
        sa.Column("unit_code", sa.String(16), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        *(sa.Column(c.code, _SQL_TYPES[c.type], comment=c.label) for c in form.columns),
        # Inspection's consolidation index starts with the same columns (_consolidation_indexes).
        *([] if form.code == "inspection" else [sa.Index(f"ix_{form.table}_period_unit", "period", "unit_code")]),
        comment=f"grain: {form.grain}; lineage: submission_id, sheet, excel_row",
    )


FACT_TABLES: dict[str, sa.Table] = {code: _fact_table(form) for code, form in FORMS.items()}


def period_year(period: sa.ColumnElement) -> sa.ColumnElement:
    """``YYYY`` of a ``YYYY-MM`` period, written the way the register indexes below are keyed."""
    return sa.func.substr(period, sa.literal_column("1"), sa.literal_column("4"))


def _consolidation_indexes() -> None:
    """Indexes from which consolidation (pipeline.figures.definitions) reads a year of each large form in one pass.

    The columns it reads are INCLUDEd, so that PostgreSQL never visits the table: the year's
    inspections by month; the joint ones (few) apart; register reports by year, unit and case, so
    that each case's months come together, in order, and are aggregated as they are scanned.
    """
    t = FACT_TABLES["inspection"]
    sa.Index("ix_fact_inspection_year", t.c.period, t.c.unit_code,
             postgresql_include=["submission_id", "entities_sampled"])
    sa.Index("ix_fact_inspection_joint", t.c.period,
             postgresql_include=["unit_code", "submission_id", "joint_id", "entities_sampled"],
             postgresql_where=sa.text(f"joint = '{YES}'"), sqlite_where=sa.text(f"joint = '{YES}'"))
    for form, key, read in (
        ("transfer", "transfer_id", ("police_decision", "filed_on")),
        ("reconsideration", "case_id", ("accepted_on", "status", "closed_on")),
        ("litigation", "case_id", ("received_on", "status", "closed_on")),
    ):
        t = FACT_TABLES[form]
        sa.Index(f"ix_{t.name}_case", period_year(t.c.period), t.c.unit_code, t.c[key], t.c.period,
                 postgresql_include=["submission_id", *read])


_consolidation_indexes()

submission_column = sa.Table(
    "submission_column", metadata,
    sa.Column("submission_id", sa.String(64), sa.ForeignKey("submission.submission_id"), primary_key=True),
    sa.Column("column_code", sa.String(48), primary_key=True),
    sa.Column("column_letter", sa.String(4), nullable=False, comment="where the clerk put the column: A, B, …"),
    sa.Column("header_row", sa.Integer, nullable=False),
    comment="grain: one row per submission × form column found in its header row (cell address = letter + excel_row)",
)

figure = sa.Table(
    "figure", metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(48), primary_key=True),
    sa.Column("section", sa.String(4), nullable=False),
    sa.Column("label_zh", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit_zh", sa.String(8), nullable=False),
    sa.Column("approx", sa.Boolean, nullable=False),
    sa.Column("display_zh", sa.Text, nullable=False),
    sa.Column("as_of_utc", sa.DateTime, comment="latest receipt among the contributing submissions"),
    sa.Column("contributing_submissions", sa.Integer, nullable=False),
    comment="grain: one row per report figure × year, as consolidated from the submissions in force",
)

figure_contribution = sa.Table(
    "figure_contribution", metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(48), primary_key=True),
    sa.Column("unit_code", sa.String(16), primary_key=True, comment="'*' for district-level adjustments"),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("note_zh", sa.Text),
    comment="grain: one row per figure × year × unit: what each unit's returns add to the figure",
)

completeness = sa.Table(
    "completeness", metadata,
    sa.Column("period", sa.String(7), primary_key=True),
    sa.Column("unit_code", sa.String(16), primary_key=True),
    sa.Column("form_code", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(8), nullable=False,
              comment="on_time | late | nil | missing | refused | pending (not received, deadline not yet passed)"),
    sa.Column("due_utc", sa.DateTime, nullable=False, comment="the month's submission deadline"),
    sa.Column("first_received_utc", sa.DateTime, comment="first workbook received for it, valid or refused"),
    sa.Column("first_valid_utc", sa.DateTime, comment="first valid workbook: timeliness is judged by it"),
    sa.Column("in_force_received_utc", sa.DateTime),
    sa.Column("submission_id", sa.String(64), comment="the submission in force, if any"),
    sa.Column("file_name", sa.Text, comment="workbook in force; when refused, the latest refused workbook"),
    sa.Column("is_nil", sa.Boolean, comment="the return in force is 本月无"),
    sa.Column("workbooks", sa.Integer, nullable=False, comment="workbooks received for it, any status"),
    comment="grain: one row per unit × month × form the registry expects, as of the month's last run",
)

consolidation = sa.Table(
    "consolidation", metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("inputs_sha256", sa.String(64), nullable=False,
              comment="digest of the year's workbooks, submissions, completeness and publications it read"),
    sa.Column("out_dir", sa.Text, nullable=False, comment="where it wrote figures.csv and figures.xlsx"),
    comment="grain: one row per year: the inputs of the year's latest consolidation",
)

publication = sa.Table(
    "publication", metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, comment="1, 2, … per year"),
    sa.Column("published_by", sa.Text, nullable=False),
    sa.Column("published_at_utc", sa.DateTime, nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("same_as_version", sa.Integer,
              comment="the previous version, when figures and submissions are identical to it"),
    comment="grain: one row per year × published version of the figures",
)

published_figure = sa.Table(
    "published_figure", metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(48), primary_key=True),
    # The same columns as ``figure``: a published version freezes exactly what was consolidated.
    *(sa.Column(c.name, c.type, nullable=c.nullable, comment=c.comment)
      for c in figure.columns if not c.primary_key),
    sa.ForeignKeyConstraint(["year", "version"], ["publication.year", "publication.version"]),
    comment="grain: one row per year × version × figure code, frozen at publication",
)

# No foreign key to submission: reloading a month deletes and re-inserts its submission rows.
publication_submission = sa.Table(
    "publication_submission", metadata,
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("submission_id", sa.String(64), primary_key=True),
    sa.Column("unit_code", sa.String(16)),
    sa.Column("form_code", sa.String(32), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("received_at_utc", sa.DateTime, nullable=False),
    sa.ForeignKeyConstraint(["year", "version"], ["publication.year", "publication.version"]),
    comment="grain: one row per year × version × submission in force (feeding the figures) at publication",
)


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
    On PostgreSQL, a READ COMMITTED transaction (callers take advisory locks with ``_lock``)."""
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


def _lock(conn: Connection, key: str) -> None:
    """Serialise work on one key (a month, the schema) across processes on PostgreSQL; on SQLite the
    write transaction's lock (``writing``) serialises all writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def ensure_schema(engine: Engine) -> None:
    with writing(engine) as conn:
        _lock(conn, "district-warehouse-schema")
        metadata.create_all(conn)
        _create_missing_indexes(conn)


def _create_missing_indexes(conn: Connection) -> None:
    """Indexes defined since the warehouse was created: ``create_all`` skips tables that exist."""
    if conn.dialect.name == "postgresql":
        names = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    else:
        names = "SELECT name FROM sqlite_master WHERE type = 'index'"
    existing = set(conn.exec_driver_sql(names).scalars())
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda i: i.name):
            if index.name not in existing:
                index.create(conn)


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
        _lock(conn, f"district-month-{period}")
        # After the month's lock, never before: a second run of the same month waits there holding nothing.
        _lock(conn, "district-warehouse-load")
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


def in_force(year: int) -> sa.Select:
    """Submissions in force for the months of ``year``."""
    return sa.select(submission).where(
        submission.c.status == "loaded",
        submission.c.period.between(f"{year:04d}-01", f"{year:04d}-12"),
    )


def dump(engine: Engine, tables: Iterable[sa.Table] | None = None) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: what a re-run must leave unchanged."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        for table in tables or metadata.sorted_tables:
            out[table.name] = sorted((tuple(r) for r in conn.execute(sa.select(table)).all()), key=repr)
    return out

