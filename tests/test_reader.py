"""The two readers behind one interface agree: calamine (fast path) and openpyxl (streaming, formulas)."""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from openpyxl import load_workbook

from pipeline.intake.parse import parse_workbook
from pipeline.intake.reader import CalamineXlsxReader, OpenpyxlReader, default_reader
from pipeline.samples.messy import EDITS, mess_up

pytestmark = pytest.mark.unit


def _parsed(reader, data: bytes, period: str):
    import zipfile

    source = io.BytesIO(data)
    if reader is CalamineXlsxReader:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            wb = CalamineXlsxReader(archive).read(source)
    else:
        wb = reader().read(source)
    parsed = parse_workbook(wb, period)
    return [(s.form.code, s.unit_text, s.period, s.is_nil, [(r.excel_row, r.values) for r in s.rows],
             sorted((p.rule, p.cell, p.value) for p in s.problems)) for s in parsed.sheets]


@pytest.mark.parametrize("seed", range(6))
def test_calamine_and_openpyxl_parse_to_the_same_rows(sample_inbox_2020, seed):
    rng = random.Random(seed)
    files = sorted((sample_inbox_2020 / "2020-12").glob("*.xlsx"))
    path = files[seed * 5 % len(files)]
    wb = load_workbook(path)
    if seed:
        # Clerks' habits, except the formula-bearing ones (those take the openpyxl path anyway).
        mess_up(wb, rng, [e for e in EDITS if rng.random() < 0.5 and e != "total_row"])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    fast = _parsed(CalamineXlsxReader, data, "2020-12")
    slow = _parsed(OpenpyxlReader, data, "2020-12")
    assert fast == slow
    assert any(rows for *_, rows, _ in fast) or all(s[3] for s in fast)


def test_workbook_with_a_formula_takes_the_openpyxl_path(sample_inbox_2020, monkeypatch):
    path = next((sample_inbox_2020 / "2020-12").glob("区市场监督管理局*"))
    wb = load_workbook(path)
    wb["执法培训"]["H2"] = "=1+1"
    buf = io.BytesIO()
    wb.save(buf)
    used = []
    monkeypatch.setattr(OpenpyxlReader, "read", lambda self, src, _orig=OpenpyxlReader.read: used.append(1)
                        or _orig(self, src))
    result = default_reader().read(io.BytesIO(buf.getvalue()))
    assert used == [1]
    assert result.sheets["执法培训"].uncached_formulas == [(2, 8)]


def test_calamine_keeps_excel_rows_and_columns_when_the_sheet_starts_below_a1():
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "行政检查"
    ws["C3"], ws["D4"], ws["E5"], ws["D6"], ws["E6"] = "x", "  ", 1.5, "y", "  "
    buf = io.BytesIO()
    wb.save(buf)
    fast = default_reader().read(io.BytesIO(buf.getvalue())).sheets["行政检查"].rows
    assert fast == OpenpyxlReader().read(io.BytesIO(buf.getvalue())).sheets["行政检查"].rows
    assert fast == [(), (), (None, None, "x"), (), (None, None, None, None, 1.5), (None, None, None, "y")]


@pytest.mark.parametrize("threaded", [False, True])
def test_formula_scan_beside_calamine_still_chooses_openpyxl(sample_inbox_2020, monkeypatch, threaded):
    import pipeline.intake.reader as reader

    monkeypatch.setattr(reader, "THREADED_SCAN_BYTES", 0 if threaded else 1 << 40)
    path = next((sample_inbox_2020 / "2020-12").glob("区市场监督管理局*"))
    wb = load_workbook(path)
    wb["执法培训"]["H2"] = "=1+1"
    buf = io.BytesIO()
    wb.save(buf)
    assert default_reader().read(io.BytesIO(buf.getvalue())).sheets["执法培训"].uncached_formulas == [(2, 8)]
    import zipfile

    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        alone = CalamineXlsxReader(archive).read(io.BytesIO(data))
    assert default_reader().read(io.BytesIO(data)) == alone


@pytest.mark.unit
@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("chunk_size", [7, 64, 1 << 20])
@pytest.mark.parametrize(("xml", "has"), [
    (b'<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>', False),
    (b'<worksheet><sheetData><row r="1"><c r="A1"><f>1+1</f><v>2</v></c></row></sheetData></worksheet>', True),
    (b'<x:worksheet><x:sheetData><x:c r="A1"><x:f t="shared" ref="A1:A2">1</x:f></x:c></x:sheetData></x:worksheet>',
     True),
    (b"<worksheet>" + b" " * 5000 + b'<c r="A9"><f>SUM(A1:A8)</f></c></worksheet>', True),
    (b"<worksheet><fill/><font/>" + b"x" * 3000 + b"</worksheet>", False),
])
def test_formula_scan_reads_parts_straight_from_the_package(xml, has, chunk_size, compression):
    from pipeline.intake.reader import _has_formula

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        z.writestr("xl/workbook.xml", b"<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", xml)
    data = out.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    assert _has_formula(data, info, chunk_size) is has
