"""Consolidating one year from a large PostgreSQL warehouse: bulk-filled with SQL, timed, explained."""

from __future__ import annotations

import statistics
import time

import sqlalchemy as sa

YEARS = (2016, 2017, 2018, 2019, 2020)


def fill(engine: sa.Engine, n_rows: int, n_units: int | None = None) -> None:
    """``n_rows`` register rows (60 % 行政检查, 40 % 案件移送) over five years and ``n_units`` units.

    One inspection in 40 is joint (50 joint numbers a month, each shared by several units); every
    transfer case is reported every month, 1 in 3 as filed that month.
    """
    months = len(YEARS) * 12
    n_units = n_units or max(10, min(3000, n_rows // 2000))
    per_insp = max(1, round(n_rows * 0.6 / (n_units * months)))
    per_tr = max(1, round(n_rows * 0.4 / (n_units * months)))
    periods = (
        "SELECT to_char(d, 'YYYY-MM') AS p FROM generate_series(date '2016-01-01', date '2020-12-01', "
        "interval '1 month') d"
    )
    units = f"SELECT u FROM generate_series(0, {n_units - 1}) u"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"""
            INSERT INTO return_file (file_id, period, sha256, file_name, size_bytes, received_at_utc, unit_code, status)
            SELECT p || ':' || u, p, md5(p || u) || md5(u || p), 'bench.xlsx', 10000,
                   to_date(p, 'YYYY-MM') + interval '38 days', 'U' || u, 'accepted'
            FROM ({units}) us, ({periods}) ps""")
        conn.exec_driver_sql(f"""
            INSERT INTO submission (submission_id, file_id, period, unit_code, form_code, sheet, sha256, file_name,
                                    received_at_utc, status, is_nil, row_count, error_count, warning_count)
            SELECT p || ':' || u || ':' || f, p || ':' || u, p, 'U' || u, f, f, md5(p || u) || md5(u || p),
                   'bench.xlsx', to_date(p, 'YYYY-MM') + interval '38 days', 'loaded', false, 1, 0, 0
            FROM ({units}) us, ({periods}) ps, (VALUES ('inspection'), ('transfer'), ('training')) fs(f)""")
        conn.exec_driver_sql(f"""
            INSERT INTO fact_inspection (submission_id, excel_row, sheet, unit_code, period, task_id, task_name, method,
                                         entities_sampled, joint, joint_id, completed_on, issues_found)
            SELECT p || ':' || u || ':inspection', 4 + k, '行政检查', 'U' || u, p, 'T' || u || '-' || p || '-' || k,
                   '检查', '双随机', mod(u + k, 37), CASE WHEN mod(u + k, 40) = 0 THEN '是' ELSE '否' END,
                   CASE WHEN mod(u + k, 40) = 0 THEN 'J' || p || '-' || mod(u, 50) END,
                   to_date(p, 'YYYY-MM') + mod(k, 28), mod(k, 3)
            FROM ({units}) us, ({periods}) ps, generate_series(1, {per_insp}) k""")
        conn.exec_driver_sql(f"""
            INSERT INTO fact_transfer (submission_id, excel_row, sheet, unit_code, period, transfer_id, offence, domain,
                                       transferred_on, receiver, police_decision, filed_on)
            SELECT p || ':' || u || ':transfer', 4 + k, '案件移送', 'U' || u, p,
                   'C' || u || '-' || mod(k + length(p), 900),
                   '拒不支付劳动报酬', '劳动保障', to_date(p, 'YYYY-MM'), '公安分局',
                   CASE WHEN mod(k, 3) = 0 THEN '已立案' ELSE '待定' END,
                   CASE WHEN mod(k, 3) = 0 THEN to_date(p, 'YYYY-MM') + 5 END
            FROM ({units}) us, ({periods}) ps, generate_series(1, {per_tr}) k""")
        conn.exec_driver_sql(f"""
            INSERT INTO fact_training (submission_id, excel_row, sheet, unit_code, period, certified_officers,
                                       exam_takers, exam_passed, training_sessions, trained_officers)
            SELECT p || ':' || u || ':training', 5, '执法培训', 'U' || u, p, 30, mod(u, 4), mod(u, 3), 1, 10
            FROM ({units}) us, ({periods}) ps""")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def consolidation_benchmark(url: str, n_rows: int, repeats: int = 3) -> tuple[float, list[str]]:
    """Median seconds of ``consolidate(engine, 2020)``, its statements' times and the plan of its slowest."""
    from pipeline.figures.consolidate import consolidate
    from pipeline.warehouse.connect import make_engine
    from pipeline.warehouse.schema import ensure_schema

    engine = make_engine(url)
    ensure_schema(engine)
    fill(engine, n_rows)
    with engine.connect() as conn:
        total = sum(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("fact_inspection", "fact_transfer"))
    print(f"    register rows in the warehouse: {total:,}")
    timings: list[tuple[float, str, object]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _stop(conn, cursor, statement, parameters, context, executemany):
        timings.append((time.perf_counter() - conn.info["t0"], statement, parameters))

    runs = []
    for _ in range(repeats):
        timings.clear()
        started = time.perf_counter()
        consolidate(engine, 2020)
        runs.append(time.perf_counter() - started)
    selects = sorted((t for t in timings if t[1].lstrip().upper().startswith("SELECT")), key=lambda t: -t[0])
    slowest = selects[0]
    sa.event.remove(engine, "before_cursor_execute", _start)
    sa.event.remove(engine, "after_cursor_execute", _stop)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute("SET LOCAL jit = off")  # as consolidate() does
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1], slowest[2])
            plan = [r[0] for r in cur.fetchall()]
    # The last run. Forms are read side by side, so statement times add up to more than the run;
    # the COPY of the contributions and the commit are not statements SQLAlchemy sees.
    summary = (f"last run {runs[-1]:.3f} s: {len(timings)} statements adding up to "
               f"{sum(t[0] for t in timings):.3f} s, the slowest {', '.join(f'{t[0]:.3f}' for t in selects[:4])} s")
    return statistics.median(runs), [summary, f"slowest statement {slowest[0]:.3f} s:", *plan]
