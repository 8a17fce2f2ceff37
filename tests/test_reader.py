"""The two readers behind one interface agree: calamine (fast path) and openpyxl (streaming, formulas)."""

from __future__ import annotations

import datetime as dt
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


# --- the date system of a legacy .xls ------------------------------------------------------------------------

def _biff(date1904: bool) -> tuple[bytes, bytes]:
    """(the .xls xlwt saves, its bare Workbook stream) of a sheet holding 2020-03-01 as a date-formatted cell."""
    import datetime as dt

    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    book.dates_1904 = date1904
    book.add_sheet("行政检查").write(0, 0, dt.date(2020, 3, 1), xlwt.easyxf(num_format_str="yyyy-mm-dd"))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), book.get_biff_data()


def _compound_file(stream: bytes, *, mini: bool) -> bytes:
    """A version-3 OLE compound file whose root holds ``stream`` as ``Workbook``: in the mini stream (``mini``,
    where a writer keeps any stream under 4,096 bytes), else in 512-byte sectors; either way laid out last to
    first, as a file whose sectors were reused may be."""
    import struct

    end, free, fat_sector, none = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    sectors: list[bytes] = []
    fat: dict[int, int] = {}

    def place(blob: bytes, backwards: bool = False) -> int:
        pieces = [blob[i:i + 512].ljust(512, b"\0") for i in range(0, len(blob), 512)]
        ids = list(range(len(sectors), len(sectors) + len(pieces)))
        order = ids[::-1] if backwards else ids
        sectors.extend(b"" for _ in pieces)
        for k, (sid, piece) in enumerate(zip(order, pieces, strict=True)):
            sectors[sid] = piece
            fat[sid] = order[k + 1] if k + 1 < len(order) else end
        return order[0]

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""  # an unused entry: no name at all
        return (raw.ljust(64, b"\0") + struct.pack("<HBB3I", len(raw), kind, 1, none, none, child) + bytes(36)
                + struct.pack("<IQ", start, size))

    if mini:
        # Mini sectors last to first too, and the mini stream itself neither in sector 0 nor in order.
        pieces = [stream[i:i + 64].ljust(64, b"\0") for i in range(0, len(stream), 64)]
        n = len(pieces)
        minichain = [end, *range(n - 1)]  # mini sector k + 1 continues in mini sector k
        minifat = (place(struct.pack(f"<{n}I", *minichain).ljust(512, b"\xff")), 1)
        container = b"".join(reversed(pieces))
        root = (place(container, backwards=True), len(container))
        workbook = n - 1
    else:
        root, minifat = (end, 0), (end, 0)
        workbook = place(stream, backwards=True)
    directory = place(entry("Root Entry", 5, 1, *root) + entry("Workbook", 2, none, workbook, len(stream))
                      + b"".join(entry("", 0, none, free, 0) for _ in range(2)))
    n_fat = 1
    while len(sectors) + n_fat > 128 * n_fat:
        n_fat += 1
    fat_ids = list(range(len(sectors), len(sectors) + n_fat))
    fat.update(dict.fromkeys(fat_ids, fat_sector))
    table = [fat.get(i, free) for i in range(128 * n_fat)]
    sectors += [struct.pack("<128I", *table[i * 128:(i + 1) * 128]) for i in range(n_fat)]
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
              + struct.pack("<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, n_fat, directory, 0, 4096, *minifat, end, 0)
              + struct.pack("<109I", *fat_ids, *[free] * (109 - n_fat)))
    return header + b"".join(sectors)


@pytest.mark.parametrize("date1904", [False, True], ids=["1900", "1904"])
def test_xls_date_system_is_read_from_its_datemode_record(date1904):
    xls, _ = _biff(date1904)
    wb = default_reader().read(io.BytesIO(xls))
    assert [s.date1904 for s in wb.sheets.values()] == [date1904]
    assert wb.sheets["行政检查"].rows == [(dt.date(2020, 3, 1),)]


def _straddling(stream: bytes, at: int = 510) -> bytes:
    """``stream`` with a record readers skip inserted after its BOF, so that DATEMODE starts at byte ``at`` (and,
    at 510, runs across the first sector boundary); the sheets' offsets in BOUNDSHEET are moved to match."""
    import struct

    records, pos = [], 0
    while pos < len(stream):
        kind, length = struct.unpack_from("<HH", stream, pos)
        records.append((pos, kind, length))
        pos += 4 + length
    [datemode] = [p for p, kind, _ in records if kind == 0x0022]
    filler = struct.pack("<HH", 0x1234, at - datemode - 4) + bytes(at - datemode - 4)
    out = bytearray(stream[:records[1][0]] + filler + stream[records[1][0]:])
    for p, kind, _ in records:
        if kind == 0x0085:
            (offset,) = struct.unpack_from("<I", stream, p + 4)
            struct.pack_into("<I", out, p + len(filler) + 4, offset + len(filler))
    return bytes(out)


@pytest.mark.parametrize("mini", [True, False], ids=["mini-stream", "sectors-backwards"])
@pytest.mark.parametrize("date1904", [False, True], ids=["1900", "1904"])
def test_xls_date_system_found_wherever_the_file_keeps_the_workbook_stream(date1904, mini):
    from python_calamine import CalamineWorkbook

    from pipeline.intake.biff import xls_date1904

    _, stream = _biff(date1904)
    # Excel and xlwt pad the stream to 4,096 bytes; a shorter one goes to the mini stream (64-byte sectors).
    stream = stream if mini else _straddling(stream).ljust(4096, b"\0")
    assert (len(stream) < 4096) is mini
    data = _compound_file(stream, mini=mini)
    # calamine reads the hand-built file and, by the date it gives the cell, says which system it saw.
    [[cell]] = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_name("行政检查").to_python()
    assert cell == dt.date(2020, 3, 1)
    assert xls_date1904(data) is date1904


def test_xls_date_system_of_a_damaged_file_defaults_to_1900():
    from pipeline.intake.biff import xls_date1904

    xls, _ = _biff(True)
    assert xls_date1904(xls[:600]) is False  # the FAT and directory cut off
    assert xls_date1904(b"PK\x03\x04") is False
    assert xls_date1904(xls[:8] + bytes(600)) is False
