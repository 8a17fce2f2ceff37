"""Verification rules (核实性审核): values that pass every hard rule but look implausible.

A hit never refuses a return: the value loads and is 待核实 until the unit explains it (the 核实说明
column of its row) or the operator records an explanation (``python -m pipeline confirm``).

Each form declares its ``checks`` (``pipeline/forms.py``). Before a form's month is validated,
:func:`add_bounds` gives its frame, per check, a lower and an upper bound per row, computed from the
warehouse's history of the unit (previous month, last 12 months, same month last year), from the
other units' rows of the same month, or from the row itself. The form's suite compares each value
with its bounds (:func:`expectations`, severity ``warning``), so the month still takes ONE GX
validation per form; a row without a bound (too little history, no partner) passes.

The checks that read the unit's other months (:data:`HISTORY_KINDS`) must not depend on the order
months load in: inside each load's transaction, which holds the warehouse's load lock, a
:class:`MonthJudge` re-judges from the stored facts (:func:`rejudge`) the month itself, when its history
changed after it was validated, and the later months whose history the load changed.
See docs/decisions/0009-verification-rules.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.forms import FORMS, VERIFY_NOTE, VERIFY_NOTE_LABEL, YES, Check, Form
from pipeline.periods import shift

if TYPE_CHECKING:
    import pandas as pd

#: Months of the unit's own history the robust range looks at.
WINDOW_MONTHS = 12
#: Scales the median absolute deviation to a standard deviation for normal data.
MAD_SCALE = 1.4826
#: Months whose median a stock's value is compared with (jump).
JUMP_MONTHS = 3
SEVERITY = "warning"
ANY = "*"
#: Check kinds that read the unit's other months; the others read only the month's own rows.
HISTORY_KINDS = frozenset({"jump", "robust_range", "last_year"})

RULE_ZH = {
    "verify_jump": "与前几个月相比变化过大",
    "verify_robust_range": "超出本单位近12个月的正常范围",
    "verify_last_year": "与去年同月相比变化过大",
    "verify_unit_outlier": "远高于其他所有单位",
    "verify_joint_agree": "与同一联合抽查其他参与单位填报的户数不一致",
    "verify_ratio": "与本表相关栏目的比例异常",
}


def bound_columns(check: Check) -> tuple[str, str, str]:
    """The frame columns holding a check's lower bound, upper bound and the history behind them."""
    base = f"_v_{check.column}_{check.kind}"
    return f"{base}_lo", f"{base}_hi", f"{base}_ctx"


def _meta(form: Form, check: Check) -> dict[str, str]:
    col = form.column(check.column)
    return {
        "column": col.code, "column_label": col.label, "rule": check.rule,
        "message_zh": f"{col.label}{RULE_ZH[check.rule]}，请核实",
    }


def expectations(form: Form) -> list[Any]:
    """Two expectations per check (value ≥ lower bound, upper bound ≥ value), of severity warning."""
    import great_expectations.expectations as gxe

    out = []
    for check in form.checks:
        lo, hi, _ = bound_columns(check)
        meta = _meta(form, check)
        for a, b in ((check.column, lo), (hi, check.column)):
            out.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing",
                severity=SEVERITY, meta=meta,
            ))
    return out


def with_empty_bounds(form: Form, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every bound column it lacks, empty: a frame validated without history passes the checks.

    A frame built before the forms had their 核实说明 column gets it empty too.
    """
    missing: dict[str, Any] = {c: float("nan") for check in form.checks for c in bound_columns(check)[:2]
                               if c not in frame.columns}
    if VERIFY_NOTE not in frame.columns:
        missing[VERIFY_NOTE] = None
    return frame.assign(**missing) if missing else frame


# --- history ----------------------------------------------------------------------------------

def history_columns(form: Form) -> list[str]:
    return sorted({c.column for c in form.checks} | {c.per for c in form.checks if c.per})


def load_history(conn: Connection, form: Form, period: str, unit_codes: Iterable[str | None]) -> pd.DataFrame:
    """The in-force fact rows of ``unit_codes`` for the 12 months before ``period``: unit_code, period, columns
    (the rows of the submissions :func:`_history_ids` names)."""
    return in_force_values(conn, form, shift(period, -WINDOW_MONTHS), shift(period, -1), unit_codes)


def in_force_values(conn: Connection, form: Form, first: str, last: str,
                    unit_codes: Iterable[str | None] | None = None) -> pd.DataFrame:
    """The checked columns of the in-force fact rows of months ``first``–``last`` (of ``unit_codes``, or all),
    sorted: unit_code, period, columns as float."""
    import pandas as pd

    from pipeline.warehouse.schema import FACT_TABLES, submission

    columns = history_columns(form)
    codes = None if unit_codes is None else sorted({u for u in unit_codes if u})
    if not columns or codes == []:
        return pd.DataFrame(columns=["unit_code", "period", *columns])
    t = FACT_TABLES[form.code]
    query = (
        sa.select(t.c.unit_code, t.c.period, *(t.c[c] for c in columns))
        .join(submission, submission.c.submission_id == t.c.submission_id)
        .where(submission.c.status == "loaded", t.c.period.between(first, last),
               *([] if codes is None else [t.c.unit_code.in_(codes)]))
    )
    rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["unit_code", "period", *columns])
    for c in columns:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    # Sorted: the same rows give the same frame, whatever order the database returns them in.
    return frame.sort_values(["unit_code", "period", *columns], na_position="first", ignore_index=True)


# --- bounds -----------------------------------------------------------------------------------

def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _unit_stats(history: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per unit: count, median, MAD, min and max of ``column``'s non-zero values over the history window.

    Zeros are months without the activity: with them, a count reported twice a year has a median and
    MAD of 0, and every month with activity would hit.
    """
    import pandas as pd

    values = history[["unit_code", column]].dropna()
    values = values[values[column] != 0]
    if values.empty:
        return pd.DataFrame(columns=["n", "median", "mad", "min", "max"])
    grouped = values.groupby("unit_code")[column]
    stats = grouped.agg(n="count", median="median", min="min", max="max")
    deviation = (values[column] - values["unit_code"].map(stats["median"])).abs()
    stats["mad"] = deviation.groupby(values["unit_code"]).median()
    return stats


def _bounds(form: Form, check: Check, frame: pd.DataFrame, units: pd.Series, history: pd.DataFrame,
            period: str) -> tuple[Any, Any, Any]:
    """(lower, upper, context) per row of ``frame`` for one check; NaN / None where it does not apply."""
    import numpy as np
    import pandas as pd

    col = check.column
    value = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    nan = pd.Series(np.nan, index=frame.index)
    lo, hi, ctx = nan.copy(), nan.copy(), pd.Series(None, index=frame.index, dtype=object)

    def around(ref: pd.Series, factor: float) -> tuple[pd.Series, pd.Series]:
        return (np.minimum(ref / factor, ref - check.slack), np.maximum(ref * factor, ref + check.slack))

    if check.kind == "jump":
        # The median of the last three months: one typo last month does not make this month's value hit.
        past = history[history["period"] >= shift(period, -JUMP_MONTHS)].dropna(subset=[col])
        past = past.sort_values("period")
        shown = units.map(past.groupby("unit_code")[col].agg(lambda v: "、".join(_n(x) for x in v)))
        # A stock at 0 has no scale to jump from: a programme that starts grows from nothing.
        ref = units.map(past[past[col] > 0].groupby("unit_code")[col].median())
        lo, hi = around(ref, check.factor)
        ctx = pd.Series([None if pd.isna(r) else f"前{JUMP_MONTHS}个月 {t}" for r, t in zip(ref, shown, strict=True)],
                        index=frame.index, dtype=object)
    elif check.kind == "last_year":
        past = history[history["period"] == shift(period, -12)].dropna(subset=[col])
        ref = units.map(past.groupby("unit_code")[col].last())
        ref = ref.where(ref > 0)
        lo, hi = around(ref, check.factor)
        ctx = ref.map(lambda r: None if pd.isna(r) else f"去年同月 {_n(r)}")
    elif check.kind == "robust_range":
        stats = _unit_stats(history, col)
        enough = stats[stats["n"] >= check.min_history]
        if enough.empty:
            return lo, hi, ctx
        # A zero is a month without the activity, here as in the history: not a value out of range.
        active = value != 0
        median, mad = units.map(enough["median"]).where(active), units.map(enough["mad"]).where(active)
        spread = np.maximum(check.k * MAD_SCALE * mad, check.slack)
        lo, hi = median - spread, median + spread
        # Per unit, then mapped: a city month has 100,000 rows and a few hundred units.
        text = {unit: f"近12个月（不计0） {_n(r['min'])}–{_n(r['max'])}，中位数 {_n(r['median'])}"
                for unit, r in enough.iterrows()}
        ctx = units.map(text).astype(object).where(active, None)
    elif check.kind == "unit_outlier":
        per_unit = value.groupby(units).max().dropna()
        if len(per_unit) > check.min_history:
            top = per_unit.sort_values(ascending=False)
            first_unit, first, second = top.index[0], top.iloc[0], top.iloc[1]
            others_max = units.map(lambda u: second if u == first_unit else first)
            hi = others_max * check.factor + check.slack
            ctx = others_max.map(lambda m: f"其他单位最多 {_n(m)}")
    elif check.kind == "joint_agree":
        joint, ids = frame.get("joint"), frame.get("joint_id")
        if joint is not None and ids is not None:
            lo, hi, ctx = _joint_bounds(check, units, ids, value, (joint == YES) & ids.notna())
    elif check.kind == "ratio":
        per = pd.to_numeric(frame[check.per], errors="coerce").astype("float64")
        applies = per > 0
        if check.min_per is not None:
            lo = (per * check.min_per).where(applies)
        if check.max_per is not None:
            hi = (per * check.max_per).where(applies)
        label = form.column(check.per).label
        limits = "–".join(_n(x) for x in (check.min_per, check.max_per) if x is not None)
        ctx = per.map(lambda p: None if not p > 0 else f"{label} {_n(p)}，按每单位 {limits} 计")
    return lo, hi, ctx


def _joint_bounds(check: Check, units: pd.Series, ids: pd.Series, value: pd.Series, joint: pd.Series
                  ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Each joint row bounded by what the other units of its joint inspection reported.

    Per (joint id, unit) pair, not per row: a city month has tens of thousands of joint rows.
    """
    import numpy as np
    import pandas as pd

    rows = pd.DataFrame({"id": ids, "unit": units, "value": value})[joint].dropna(subset=["value"])
    if rows.empty:
        return (pd.Series(np.nan, index=value.index), pd.Series(np.nan, index=value.index),
                pd.Series(None, index=value.index, dtype=object))
    by_id: dict[object, dict[object, list[float]]] = {}
    for (joint_id, unit), values in rows.groupby(["id", "unit"], dropna=False)["value"].agg(list).items():
        by_id.setdefault(joint_id, {})[unit] = values
    bounds: dict[tuple[object, object], tuple[float, float, str]] = {}
    for joint_id, per_unit in by_id.items():
        for unit in per_unit:
            others = sorted({v for u, vs in per_unit.items() if u != unit for v in vs})
            if others:
                low, high = others[0], others[-1]
                bounds[(joint_id, unit)] = (
                    min(low / check.factor, low - check.slack), max(high * check.factor, high + check.slack),
                    f"联合抽查编号 {joint_id} 其他参与单位填报 {'、'.join(_n(v) for v in others)}",
                )
    found = [bounds.get((i, u)) for i, u in zip(ids, units, strict=True)]
    lo = pd.Series([b[0] if b else np.nan for b in found], index=value.index, dtype="float64")
    hi = pd.Series([b[1] if b else np.nan for b in found], index=value.index, dtype="float64")
    ctx = pd.Series([b[2] if b else None for b in found], index=value.index, dtype=object)
    return lo.where(joint), hi.where(joint), ctx.where(joint, None)


def add_bounds(form: Form, period: str, frame: pd.DataFrame, unit_of: Mapping[str, str | None],
               history: pd.DataFrame, kinds: Iterable[str] | None = None) -> pd.DataFrame:
    """``frame`` with each check's bound and context columns; ``unit_of`` maps submission_id → unit code.

    With ``kinds``, only the checks of those kinds get bounds (the others then pass).
    """
    checks = [c for c in form.checks if kinds is None or c.kind in kinds]
    if not checks:
        return frame
    units = frame["submission_id"].map(unit_of)
    added: dict[str, Any] = {}
    for check in checks:
        lo, hi, ctx = bound_columns(check)
        added[lo], added[hi], added[ctx] = _bounds(form, check, frame, units, history, period)
    return frame.assign(**added)


# --- hits -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hit:
    """One value one verification rule flags, with what triggered it."""

    submission_id: str
    excel_row: int
    column: str
    rule: str
    value: float
    lower: float | None
    upper: float | None
    context_zh: str
    workbook_note: str | None

    def message_zh(self, form: Form) -> str:
        col = form.column(self.column)
        return (f"本月 {_n(self.value)}，{self.context_zh}：{col.label}{RULE_ZH[self.rule]}。"
                f"请核实；数据无误的，在“{VERIFY_NOTE_LABEL}”栏写明原因")


def hits_from_failures(form: Form, frame: pd.DataFrame, failures: Sequence[Any],
                       excel_row_of: Mapping[int, tuple[str, int]] | Any) -> list[Hit]:
    """The verification failures of ``frame``'s validation as hits; ``excel_row_of[_row_id]`` → (sheet, row)."""
    import pandas as pd

    by_rule = {(c.column, c.rule): c for c in form.checks}
    frame = frame.set_index("_row_id", drop=False)
    out = []
    for f in failures:
        check = by_rule.get((f.column, f.rule))
        if check is None:
            continue
        lo, hi, ctx = bound_columns(check)
        row = frame.loc[f.row_id]
        note = row.get(VERIFY_NOTE)
        note = None if note is None or (isinstance(note, float) and note != note) or not str(note).strip() else str(
            note).strip()
        out.append(Hit(
            submission_id=row["submission_id"], excel_row=excel_row_of[f.row_id][1], column=f.column, rule=f.rule,
            value=float(row[f.column]), lower=None if pd.isna(row[lo]) else float(row[lo]),
            upper=None if pd.isna(row[hi]) else float(row[hi]), context_zh=str(row[ctx] or ""),
            workbook_note=note,
        ))
    return out


def hit_rows(period: str, hits: Sequence[Hit], subs: Mapping[str, dict], cells: Mapping[tuple[str, int, str], str]
             ) -> list[dict[str, Any]]:
    """Rows of ``verification_hit``; ``subs`` maps submission_id → its submission row, ``cells`` the addresses."""
    out = []
    for h in hits:
        sub = subs[h.submission_id]
        form = FORMS[sub["form_code"]]
        out.append({
            "submission_id": h.submission_id, "excel_row": h.excel_row, "column_code": h.column, "rule": h.rule,
            "file_id": sub["file_id"], "period": period, "unit_code": sub["unit_code"], "form_code": form.code,
            "sheet": sub["sheet"], "cell": cells.get((h.submission_id, h.excel_row, h.column)),
            "column_label": form.column(h.column).label, "value": h.value, "lower": h.lower, "upper": h.upper,
            "context_zh": h.context_zh, "message_zh": h.message_zh(form), "workbook_note": h.workbook_note,
        })
    return out


def attach_hits(period: str, hits: Sequence[Hit], loads: Sequence[Any], report: Any) -> None:
    """Put each hit's row on its file's load (hits on refused returns are dropped: their values do not load),
    and list them in the month's report."""
    subs = {s.row["submission_id"]: (f, s) for f in loads for s in f.submissions}
    for load in loads:
        load.hits = []
    kept = [h for h in hits if h.submission_id in subs and subs[h.submission_id][1].row["status"] != "quarantined"]
    cells = {}
    for h in kept:
        letters = {c["column_code"]: c["column_letter"] for c in subs[h.submission_id][1].columns}
        if h.column in letters:
            cells[(h.submission_id, h.excel_row, h.column)] = f"{letters[h.column]}{h.excel_row}"
    rows = hit_rows(period, kept, {k: v[1].row for k, v in subs.items()}, cells)
    for row in rows:
        subs[row["submission_id"]][0].hits.append(row)
    by_file: dict[str, list[str]] = {}
    for row in rows:
        name = subs[row["submission_id"]][1].row["file_name"]
        state = "已说明" if row["workbook_note"] else "待核实"
        by_file.setdefault(name, []).append(f"[{state}] {_where(row)}：{row['message_zh']}")
    report.warnings.extend(by_file.items())


def _where(row: Mapping[str, Any]) -> str:
    cell = row.get("cell") or f"第{row['excel_row']}行"
    return f"工作表“{row['sheet']}” {cell}（{row['column_label']}）"


# --- the same verdicts whatever the order months load in ---------------------------------------

def history_rules(form: Form) -> frozenset[str]:
    """The rules of ``form``'s checks that read the unit's other months."""
    return frozenset(c.rule for c in form.checks if c.kind in HISTORY_KINDS)


class MonthJudge:
    """Keeps a month's history-based hits, and those of the months after it, what the stored facts say.

    The month's validation judged it against the history it read then (:meth:`saw`); months that load
    side by side, or an earlier month loaded or corrected later, change that history. Its load calls
    :meth:`before_write` and :meth:`after_write` inside its transaction, under the warehouse's load lock
    (``load_month``), so every load sees the loads before it and re-judges (:func:`rejudge`):

    - the month itself, when its history is no longer the one it was validated against;
    - the loaded months of the next 12 whose history this load changed (the units whose in-force values
      of the month changed).

    The hits a month ends with are then those of the final stored facts, whatever the order of the loads.
    """

    def __init__(self, period: str) -> None:
        self.period = period
        self._seen: dict[str, tuple[list[str], frozenset[str]]] = {}
        self._before: dict[str, pd.DataFrame] = {}
        #: Months whose stored hits a re-judgement changed.
        self.rejudged: set[str] = set()

    def saw(self, conn: Connection, form: Form, unit_codes: Iterable[str | None]) -> None:
        """Note which submissions make up the month's history; call it just BEFORE reading the history.

        A submission's facts never change (its id is its file's hash), so the same ids under the load
        lock mean the same history; a load committed between this and the history read changes the ids.
        """
        units = sorted({u for u in unit_codes if u})
        self._seen[form.code] = (units, _history_ids(conn, form, self.period, units))

    def before_write(self, conn: Connection) -> None:
        for form in _history_forms():
            # Only a load with later months in the warehouse can change their history.
            if _loaded_pairs(conn, form, shift(self.period, 1), shift(self.period, WINDOW_MONTHS)):
                self._before[form.code] = in_force_values(conn, form, self.period, self.period)

    def after_write(self, conn: Connection) -> None:
        for form in _history_forms():
            targets: dict[str, set[str]] = {}
            if form.code in self._seen:
                units, used = self._seen[form.code]
                if _history_ids(conn, form, self.period, units) != used:
                    targets[self.period] = set(units)
            if form.code in self._before:
                changed = _changed_units(self._before[form.code],
                                         in_force_values(conn, form, self.period, self.period))
                if changed:
                    later = _loaded_pairs(conn, form, shift(self.period, 1), shift(self.period, WINDOW_MONTHS),
                                          changed)
                    for period, unit in later:
                        targets.setdefault(period, set()).add(unit)
            if targets:
                self.rejudged |= rejudge(conn, form, targets)


def _history_forms() -> list[Form]:
    return [f for f in FORMS.values() if history_rules(f)]


def _loaded_pairs(conn: Connection, form: Form, first: str, last: str,
                  unit_codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(period, unit) of the form's valid submissions (in force or superseded) in months ``first``–``last``."""
    from pipeline.warehouse.schema import submission

    s = submission.c
    codes = None if unit_codes is None else sorted(unit_codes)
    query = (sa.select(s.period, s.unit_code).distinct()
             .where(s.form_code == form.code, s.status != "quarantined", s.unit_code.is_not(None),
                    s.period.between(first, last), *([] if codes is None else [s.unit_code.in_(codes)])))
    return sorted((p, u) for p, u in conn.execute(query).all())


def _history_ids(conn: Connection, form: Form, period: str, unit_codes: Sequence[str]) -> frozenset[str]:
    """The in-force submissions :func:`load_history` reads for ``period``."""
    from pipeline.warehouse.schema import submission

    if not unit_codes:
        return frozenset()
    s = submission.c
    return frozenset(conn.execute(
        sa.select(s.submission_id).where(
            s.form_code == form.code, s.status == "loaded", s.unit_code.in_(list(unit_codes)),
            s.period.between(shift(period, -WINDOW_MONTHS), shift(period, -1)))
    ).scalars())


def _rows_by_unit(values: pd.DataFrame) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    plain = values.astype(object).where(values.notna(), None)
    for row in plain.itertuples(index=False):
        out.setdefault(row[0], []).append(tuple(row))
    return {u: sorted(rows, key=repr) for u, rows in out.items()}


def _changed_units(before: pd.DataFrame, after: pd.DataFrame) -> set[str]:
    """Units whose in-force checked values of the month differ between the two reads."""
    a, b = _rows_by_unit(before), _rows_by_unit(after)
    return {u for u in a.keys() | b.keys() if a.get(u) != b.get(u)}


def rejudge(conn: Connection, form: Form, targets: Mapping[str, Iterable[str]]) -> set[str]:
    """Judge the history checks of ``form`` again from the stored facts, for month → units in ``targets``;
    replace those hits of the units' valid submissions. The months whose hits changed.

    The month's own checks (other units, the row itself) keep the verdict of the month's validation,
    which saw every row of the inbox month, refused ones included.
    """
    import pandas as pd

    from pipeline.periods import month_bounds
    from pipeline.validation.suites import FRAME_COLUMNS
    from pipeline.validation.validate import typed_column, validate_frame
    from pipeline.warehouse.load import insert_rows
    from pipeline.warehouse.schema import FACT_TABLES, submission, submission_column, verification_hit

    rules = history_rules(form)
    wanted = {p: {u for u in us if u} for p, us in targets.items()}
    s = submission.c
    found = conn.execute(
        sa.select(s.submission_id, s.period, s.unit_code, s.file_id, s.sheet, s.form_code)
        .where(s.form_code == form.code, s.status != "quarantined", s.period.in_(sorted(wanted)),
               s.unit_code.in_(sorted(set().union(*wanted.values()))))
    ).mappings().all()
    subs = {r["submission_id"]: dict(r) for r in found if r["unit_code"] in wanted[r["period"]]}
    if not subs:
        return set()
    h = verification_hit
    mine = h.c.submission_id.in_(sorted(subs)) & h.c.rule.in_(sorted(rules))
    old = conn.execute(sa.select(h).where(mine)).mappings().all()

    t = FACT_TABLES[form.code]
    facts = pd.DataFrame(conn.execute(sa.select(t).where(t.c.submission_id.in_(sorted(subs)))).mappings().all(),
                         columns=[c.name for c in t.columns])
    periods = sorted({r["period"] for r in subs.values()})
    units = sorted({r["unit_code"] for r in subs.values()})
    history = in_force_values(conn, form, shift(periods[0], -WINDOW_MONTHS), shift(periods[-1], -1), units)
    unit_of = {sid: r["unit_code"] for sid, r in subs.items()}
    frames, where = [], {}
    for period, rows in facts.groupby("period", sort=True):
        start, end = month_bounds(str(period))
        ids = range(len(where), len(where) + len(rows))
        where.update(zip(ids, zip(rows["sheet"], rows["excel_row"], strict=True), strict=True))
        frame = pd.DataFrame({FRAME_COLUMNS[0]: ids, FRAME_COLUMNS[1]: rows["submission_id"].tolist(),
                              **{c.code: typed_column(c, rows[c.code].tolist()) for c in form.columns}})
        frame[FRAME_COLUMNS[2]], frame[FRAME_COLUMNS[3]] = pd.Timestamp(start), pd.Timestamp(end)
        past = history[history["period"].between(shift(str(period), -WINDOW_MONTHS), shift(str(period), -1))]
        frames.append(add_bounds(form, str(period), frame, unit_of, past, kinds=HISTORY_KINDS))
    hits: list[Hit] = []
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        failures = [f for f in validate_frame(form, frame) if f.severity == SEVERITY and f.rule in rules]
        hits = hits_from_failures(form, frame, failures, where)
    letters = {(r.submission_id, r.column_code): r.column_letter for r in conn.execute(
        sa.select(submission_column.c.submission_id, submission_column.c.column_code,
                  submission_column.c.column_letter).where(submission_column.c.submission_id.in_(sorted(subs))))}
    cells = {(x.submission_id, x.excel_row, x.column): f"{letters[(x.submission_id, x.column)]}{x.excel_row}"
             for x in hits if (x.submission_id, x.column) in letters}
    new: list[dict[str, Any]] = []
    for period in periods:
        new += hit_rows(period, [x for x in hits if subs[x.submission_id]["period"] == period], subs, cells)
    conn.execute(h.delete().where(mine))
    insert_rows(conn, h, new)

    def keyed(rows: Iterable[Mapping[str, Any]]) -> set[tuple]:
        return {tuple(sorted((k, repr(v)) for k, v in r.items())) for r in rows}

    return {p for p in periods
            if keyed(r for r in old if r["period"] == p) != keyed(r for r in new if r["period"] == p)}


# --- confirmation and reading back -------------------------------------------------------------

@dataclass(frozen=True)
class OpenHit:
    """A stored hit on a return in force, and whether (and how) it was confirmed."""

    period: str
    unit_code: str
    form_code: str
    submission_id: str
    file_name: str
    sheet: str
    excel_row: int
    cell: str | None
    column_code: str
    column_label: str
    rule: str
    value: float
    message_zh: str
    confirmation: str | None

    @property
    def confirmed(self) -> bool:
        return self.confirmation is not None

    def describe_zh(self) -> str:
        state = f"已确认：{self.confirmation}" if self.confirmed else "待核实"
        return f"[{state}] {_where(self.__dict__)}：{self.message_zh}"


def _matches(note: Mapping[str, Any], hit: Mapping[str, Any]) -> bool:
    return (note["period"] == hit["period"] and note["unit_code"] == hit["unit_code"]
            and all(note[k] in (ANY, hit[k]) for k in ("form_code", "column_code", "rule")))


def stored_hits(conn: Connection, *, period: str | None = None, year: int | None = None) -> list[OpenHit]:
    """Hits on submissions in force for a month or a year, each with its confirmation if any."""
    from pipeline.warehouse.schema import submission, verification_hit, verification_note

    h = verification_hit
    if period is not None:
        first = last = period
    elif year is not None:
        first, last = f"{year:04d}-01", f"{year:04d}-12"
    else:
        raise ValueError("give period or year")
    rows = conn.execute(
        sa.select(h, submission.c.file_name)
        .join(submission, submission.c.submission_id == h.c.submission_id)
        .where(submission.c.status == "loaded", h.c.period.between(first, last))
        .order_by(h.c.period, h.c.unit_code, h.c.form_code, h.c.excel_row, h.c.column_code, h.c.rule)
    ).mappings().all()
    notes = conn.execute(sa.select(verification_note).where(verification_note.c.period.between(first, last))
                         ).mappings().all()
    out = []
    for r in rows:
        confirmation = (f"填报单位说明“{r['workbook_note']}”" if r["workbook_note"] else next(
            (f"{n['noted_by']}记录“{n['note']}”" for n in notes if _matches(n, r)), None))
        out.append(OpenHit(
            period=r["period"], unit_code=r["unit_code"], form_code=r["form_code"], submission_id=r["submission_id"],
            file_name=r["file_name"], sheet=r["sheet"], excel_row=r["excel_row"], cell=r["cell"],
            column_code=r["column_code"], column_label=r["column_label"], rule=r["rule"], value=r["value"],
            message_zh=r["message_zh"], confirmation=confirmation,
        ))
    return out


def confirm(engine: Engine, period: str, unit_code: str, note: str, *, by: str, form_code: str = ANY,
            column_code: str = ANY, rule: str = ANY, now: dt.datetime | None = None) -> int:
    """Record the operator's explanation for a unit's hits of ``period``; how many stored hits it confirms."""
    from pipeline.periods import utc_now
    from pipeline.warehouse.schema import verification_note

    if not note.strip():
        raise ValueError("empty note")
    key = {"period": period, "unit_code": unit_code, "form_code": form_code, "column_code": column_code,
           "rule": rule}
    with engine.begin() as conn:
        conn.execute(verification_note.delete().where(*(verification_note.c[k] == v for k, v in key.items())))
        conn.execute(verification_note.insert().values(
            **key, note=note.strip(), noted_by=by, noted_at_utc=now or utc_now()))
        hits = stored_hits(conn, period=period)
    return sum(1 for h in hits if h.unit_code == unit_code and _matches(key, h.__dict__))


def format_hits(period: str, hits: Sequence[OpenHit], names: Mapping[str, str]) -> str:
    """The part of ``problems`` and of the monthly task's closing summary about verification hits."""
    open_ = [h for h in hits if not h.confirmed]
    if not hits:
        return f"{period}: 核实性审核无提示"
    lines = [f"{period}: 核实性审核提示 {len(hits)} 处，待核实 {len(open_)} 处，已确认 {len(hits) - len(open_)} 处"]
    for h in hits:
        lines.append(f"- [{names.get(h.unit_code, h.unit_code)}] {h.file_name}: {h.describe_zh()}")
    if open_:
        lines.append(f"  确认方法：单位在“{VERIFY_NOTE_LABEL}”栏写明原因后重新报送，或运行 python -m pipeline confirm "
                     f"--period {period} --unit 单位名称 --note 说明")
    return "\n".join(lines)


def month_hits_text(engine: Engine, period: str) -> str:
    from pipeline.registry import units

    with engine.connect() as conn:
        hits = stored_hits(conn, period=period)
    return format_hits(period, hits, {u.code: u.name for u in units()})
