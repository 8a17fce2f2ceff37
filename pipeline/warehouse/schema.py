"""The district warehouse's tables: SQLAlchemy Core, one code path for SQLite and PostgreSQL.

Every table states its grain in its comment; each form's fact table is built from its ``Form``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.forms import FORMS, YES, Form
from pipeline.warehouse.connect import writing, xact_lock

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
    # For consolidation (pipeline.figures.consolidate): the few submissions not in force, whose fact rows it
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
    """Indexes from which consolidation (pipeline.figures.consolidate) reads a year of each large form in one pass.

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


def ensure_schema(engine: Engine) -> None:
    with writing(engine) as conn:
        xact_lock(conn, "district-warehouse-schema")
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
