"""Who has reported: on time, late, nil, missing, refused, pending — per unit × month × form, and the views of it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from pipeline.cli import main
from pipeline.ingest import run_month
from pipeline.operations.completeness import due_utc, refresh_completeness, year_completeness
from pipeline.registry import units
from pipeline.samples.sample import sample_year_data
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.schema import completeness

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: 2020-03 is due 2020-04-08 06:00 Asia/Shanghai = 2020-04-07 22:00 UTC.
DUE_2020_03 = dt.datetime(2020, 4, 7, 22, 0)
AFTER_DUE = dt.datetime(2020, 4, 9, 9, 30, tzinfo=SHANGHAI)


def _file(inbox: Path, period: str, unit_name: str) -> Path:
    [path] = (inbox / period).glob(f"{unit_name}_*")
    return path


def _set_mtime(path: Path, moment: dt.datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _mtime_utc(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(path.stat().st_mtime), dt.UTC).replace(tzinfo=None)


def _set_training_cell(path: Path, label: str, value, target: Path | None = None) -> Path:
    """Write ``value`` under ``label`` in the 执法培训 data row, keeping the file's receipt time."""
    mtime = path.stat().st_mtime
    wb = load_workbook(path)
    ws = wb["执法培训"]
    header = {c.value: c.column_letter for c in ws[4]}
    ws[f"{header[label]}5"] = value(ws[f"{header[label]}5"].value) if callable(value) else value
    target = target or path
    wb.save(target)
    os.utime(target, (mtime, mtime))
    return target


def _owed() -> set[tuple[str, str]]:
    """Unit × form the registry (units.csv) says are due every month."""
    return {(u.code, f) for u in units() for f in u.forms}


def _sample_status(period: str) -> dict[tuple[str, str], str]:
    """What the untouched sample month holds, from the sample's data: nil (no rows), on time, or missing."""
    sheets = {unit: forms for (unit, month), forms in sample_year_data(2020).items() if month == period}
    status = {}
    for unit, form in _owed():
        data = sheets.get(unit, {}).get(form)
        status[(unit, form)] = "missing" if data is None else "nil" if data == [] else "on_time"
    return status


def _rows(engine, period: str) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        return {(r.unit_code, r.form_code): dict(r._mapping)
                for r in conn.execute(sa.select(completeness).where(completeness.c.period == period))}


@pytest.mark.unit
def test_deadline_follows_the_configured_day_and_hour(monkeypatch):
    for var in ("DISTRICT_DEADLINE_DAY", "DISTRICT_DEADLINE_HOUR", "DISTRICT_TZ"):
        monkeypatch.delenv(var, raising=False)
    assert due_utc("2020-03") == DUE_2020_03
    assert due_utc("2020-12") == dt.datetime(2021, 1, 7, 22, 0)
    monkeypatch.setenv("DISTRICT_DEADLINE_DAY", "15")
    monkeypatch.setenv("DISTRICT_DEADLINE_HOUR", "12")
    assert due_utc("2020-03") == dt.datetime(2020, 4, 15, 4, 0)


@pytest.mark.integration
def test_statuses_of_a_constructed_month(inbox_copy, warehouse_url, make_settings):
    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    period = "2020-03"
    # 区商务局 sends after the deadline.
    late = _file(inbox_copy, period, "区商务局")
    _set_mtime(late, AFTER_DUE)
    # 区教育局 sends nothing.
    _file(inbox_copy, period, "区教育局").unlink()
    # 区人力资源和社会保障局's 执法培训 is refused (its other sheets load).
    refused = _file(inbox_copy, period, "区人力资源和社会保障局")
    _set_training_cell(refused, "持证执法人员数", "很多")
    # 区发展和改革局 sends on time, then a correction after the deadline: still on time.
    on_time = _file(inbox_copy, period, "区发展和改革局")
    correction = _set_training_cell(on_time, "持证执法人员数", lambda v: v + 1,
                                    target=on_time.with_name("区发展和改革局_更正.xlsx"))
    _set_mtime(correction, AFTER_DUE)
    # 区财政局's return is refused on time and resent valid after the deadline: late.
    refused_first = _file(inbox_copy, period, "区财政局")
    resent = refused_first.with_name("区财政局_重报.xlsx")
    shutil.copy(refused_first, resent)
    _set_mtime(resent, AFTER_DUE)
    _set_training_cell(refused_first, "持证执法人员数", "很多")

    run_month(period, settings, engine=engine)
    rows = _rows(engine, period)

    assert set(rows) == _owed()
    sample = _sample_status(period)
    assert sample[("TJJ", "inspection")] == "nil"
    constructed = {
        ("SWJ", "inspection"): "late", ("SWJ", "training"): "late",
        ("JYJ", "inspection"): "missing", ("JYJ", "training"): "missing",
        ("RSJ", "training"): "refused",
        ("CZJ", "training"): "late",
    }
    expected = {key: constructed.get(key, sample[key]) for key in rows}
    assert {key: r["status"] for key, r in rows.items()} == expected
    assert all(r["due_utc"] == DUE_2020_03 for r in rows.values())

    swj = rows[("SWJ", "training")]
    assert swj["first_valid_utc"] == swj["in_force_received_utc"] == _naive_utc(AFTER_DUE)
    assert swj["file_name"] == late.name and swj["workbooks"] == 1

    jyj = rows[("JYJ", "training")]
    assert (jyj["file_name"], jyj["submission_id"], jyj["first_received_utc"], jyj["workbooks"]) == (
        None, None, None, 0)

    rsj = rows[("RSJ", "training")]
    assert rsj["file_name"] == refused.name and rsj["submission_id"] is None
    assert rsj["first_received_utc"] == _mtime_utc(refused) and rsj["first_valid_utc"] is None

    fgj = rows[("FGJ", "training")]
    assert fgj["file_name"] == correction.name and fgj["workbooks"] == 2
    assert fgj["first_valid_utc"] == _mtime_utc(on_time) < DUE_2020_03 < fgj["in_force_received_utc"]

    czj = rows[("CZJ", "training")]
    assert czj["file_name"] == resent.name and czj["workbooks"] == 2
    assert czj["first_received_utc"] == _mtime_utc(refused_first) < DUE_2020_03
    assert czj["first_valid_utc"] == _naive_utc(AFTER_DUE)

    tjj = rows[("TJJ", "inspection")]
    assert tjj["is_nil"] is True and tjj["submission_id"]

    # Re-running the month writes exactly the same rows.
    run_month(period, settings, engine=engine)
    assert _rows(engine, period) == rows


@pytest.mark.integration
def test_month_without_inbox_folder_is_all_missing_and_pending_before_deadline(tmp_path, warehouse_url, make_settings):
    inbox = tmp_path / "empty-inbox"
    inbox.mkdir()
    settings = make_settings(inbox, warehouse_url)
    engine = make_engine(warehouse_url)
    run_month("2021-01", settings, engine=engine)
    rows = _rows(engine, "2021-01")
    assert set(rows) == _owed()
    assert {r["status"] for r in rows.values()} == {"missing"}
    # The same month looked at before its deadline (2021-02-08 06:00 Shanghai): not due yet.
    refresh_completeness(engine, "2021-01", settings, now=dt.datetime(2021, 2, 7, 21, 59))
    assert {r["status"] for r in _rows(engine, "2021-01").values()} == {"pending"}
    # Not run again after the deadline: the year's view no longer calls it pending.
    later = year_completeness(engine, 2021, settings, now=dt.datetime(2021, 2, 7, 22, 1))
    assert {later.status(u, "2021-01", f) for u, f in _owed()} == {"missing"}
    assert later.status("JYJ", "2021-02") == "not_run"
    refresh_completeness(engine, "2021-01", settings, now=dt.datetime(2021, 2, 7, 22, 1))
    assert {r["status"] for r in _rows(engine, "2021-01").values()} == {"missing"}


@pytest.mark.integration
def test_matrix_sheet_and_log_name_the_missing_unit(inbox_copy, warehouse_url, make_settings, capsys):
    from pipeline.annual import consolidate_year
    from pipeline.operations.completeness import still_missing

    settings = make_settings(inbox_copy, warehouse_url)
    engine = make_engine(warehouse_url)
    _file(inbox_copy, "2020-02", "区教育局").unlink()
    _set_mtime(_file(inbox_copy, "2020-02", "邹区镇"), dt.datetime(2020, 3, 20, 10, 0, tzinfo=SHANGHAI))
    for period in ("2020-01", "2020-02"):
        run_month(period, settings, engine=engine)

    # Terminal matrix: one symbol per month; months not run are "—".
    assert main(["completeness", "--year", "2020", "--warehouse", warehouse_url]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["区教育局"] == ["✓", "✗"] + ["—"] * 10
    assert lines["邹区镇"] == ["✓", "迟"] + ["—"] * 10
    assert lines["区商务局"] == ["✓", "✓"] + ["—"] * 10
    missing = [{u for (u, _), st in _sample_status(p).items() if st == "missing"} for p in ("2020-01", "2020-02")]
    assert lines["未报单位数"] == [str(len(missing[0])), str(len(missing[1] | {"JYJ"}))]
    assert "✗ 未报送" in out and "迟 逾期报送" in out
    # Per form: 区教育局 owes no 案件移送, so it is not listed for it.
    assert main(["completeness", "--year", "2020", "--form", "transfer", "--warehouse", warehouse_url]) == 0
    out = capsys.readouterr().out
    assert "区教育局" not in out and "区市场监督管理局" in out

    # The month's closing summary (pipeline.jobs) names the units still_missing reports, with their forms.
    assert still_missing(engine, "2020-02")["JYJ"] == ["inspection", "training"]
    assert "ZQ" not in still_missing(engine, "2020-02")
    assert still_missing(engine, "2020-01") == {}

    # figures.xlsx: the 报送情况 sheet, colour-coded consistently with its legend.
    consolidate_year(2020, settings)
    ws = load_workbook(settings.out / "2020" / "figures.xlsx")["报送情况"]
    rows = list(ws.iter_rows())
    symbols = ("✓", "✗", "迟", "无", "退", "待", "—")
    legend = {r[0].value: r[0].fill.fgColor.rgb for r in rows if r[0].value in symbols and r[1].value}
    assert set(legend) == set(symbols)
    assert len(set(legend.values())) == len(legend)
    first_block = next(i for i, r in enumerate(rows) if r[0].value == "单位代码")
    by_unit = {}
    for r in rows[first_block + 1:]:
        if r[0].value is None:
            break
        by_unit[r[1].value] = [(c.value, c.fill.fgColor.rgb) for c in r[2:14]]
    assert [v for v, _ in by_unit["区教育局"]] == ["✓", "✗"] + ["—"] * 10
    assert [v for v, _ in by_unit["邹区镇"]] == ["✓", "迟"] + ["—"] * 10
    assert len(by_unit) == 30
    for cells in by_unit.values():
        for value, colour in cells:
            assert legend[value] == colour
