"""Builders of files that are not what they claim, and of hostile ones, for the hostile-input tests: each
returns the bytes of one workbook (or non-workbook) built from a unit's clean 2020 sample return."""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
import tempfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from openpyxl import Workbook, load_workbook

from pipeline.outputs.workbook import write_return
from pipeline.registry import unit_by_code
from pipeline.samples.sample import sample_year_data

PERIOD = "2020-12"
RECEIVED = dt.datetime(2021, 1, 5, 9, 0)
DATA = sample_year_data(2020)


@functools.cache
def clean_bytes(code: str, period: str = PERIOD) -> bytes:
    """The unit's sample return for the month, as the template writes it."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "r.xlsx"
        write_return(target, unit_by_code(code).name, period, DATA[(code, period)])
        return target.read_bytes()


def rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """The same package with some parts replaced or added."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
        for name, part in add.items():
            dst.writestr(name, part)
    return out.getvalue()


def part(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(name).decode()


def first_sheet_part(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return sorted(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))[0]


def edited(code: str, edit) -> bytes:
    wb = load_workbook(io.BytesIO(clean_bytes(code)))
    edit(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


BOMB_DTD = ('<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {b} "' + f"&{a};" * 10 + '">' for a, b in zip("abcdefgh", "bcdefghi", strict=True))
            + "]>")


def billion_laughs(code: str = "HHC") -> bytes:
    data = clean_bytes(code)
    name = first_sheet_part(data)
    xml = part(data, name)
    body = xml.split("?>", 1)[1] if xml.startswith("<?xml") else xml
    laughs = '<row r="30"><c r="A30" t="inlineStr"><is><t>&i;</t></is></c></row>'
    body = body.replace("<sheetData>", "<sheetData>" + laughs, 1)
    return rezip(data, {name: ('<?xml version="1.0" encoding="UTF-8"?>' + BOMB_DTD + body).encode()})


@functools.cache
def ratio_bomb() -> bytes:
    data = clean_bytes("HHC")
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/media/zeros.bin", "w") as fh:
        chunk = bytes(1 << 20)
        for _ in range(300):
            fh.write(chunk)
    return out.getvalue()


@functools.cache
def total_size_bomb() -> bytes:
    out = io.BytesIO(clean_bytes("HHC"))
    chunk = bytes(1 << 20)  # 1 MB each: under the per-entry ratio rule, 300 MB together
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
        for i in range(300):
            z.writestr(f"xl/media/part{i}.bin", chunk)
    return out.getvalue()


def many_entries() -> bytes:
    out = io.BytesIO(clean_bytes("HHC"))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as z:
        for i in range(2001):
            z.writestr(f"customXml/item{i}.xml", b"<a/>")
    return out.getvalue()


@functools.cache
def million_rows(sheet: str = "行政检查") -> bytes:
    """A workbook whose one sheet has 1,000,000 filled rows (about 40 MB of XML)."""
    wb = Workbook()
    wb.active.title = sheet
    wb.active["A1"] = "x"
    base = io.BytesIO()
    wb.save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info))
                continue
            head, tail = src.read(info).decode().split("<sheetData>")
            tail = tail.split("</sheetData>", 1)[1]
            with dst.open(info.filename, "w") as fh:
                fh.write((head + "<sheetData>").encode())
                for start in range(1, 1_000_001, 10_000):
                    fh.write("".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>'
                                     for r in range(start, start + 10_000)).encode())
                fh.write(("</sheetData>" + tail).encode())
    return out.getvalue()


def absurd_dimension(code: str = "HHC") -> bytes:
    data = clean_bytes(code)
    name = first_sheet_part(data)
    xml = re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', part(data, name))
    assert "XFD1048576" in xml
    return rezip(data, {name: xml.encode()})


def far_right_cell(code: str = "HHC") -> bytes:
    return edited(code, lambda wb: wb.worksheets[0].cell(5, 300, "备注写在这里"))


def docx_file() -> bytes:
    from docx import Document

    doc = Document()
    doc.add_paragraph("行政检查情况月报表")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def encrypted(code: str = "HHC") -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(clean_bytes(code))).encrypt("123456", out)
    return out.getvalue()


def to_xls(xlsx: bytes, date1904: bool = False) -> bytes:
    """The workbook as WPS's 'save as .xls' would write it (values, dates formatted as dates); with ``date1904``
    as Excel for Mac would, in the 1904 date system (numbers are kept as they are, dates stay the same dates)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    book.dates_1904 = date1904
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for ws in load_workbook(io.BytesIO(xlsx)).worksheets:
        sheet = book.add_sheet(ws.title)
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                if isinstance(cell.value, dt.datetime):
                    sheet.write(cell.row - 1, cell.column - 1, cell.value, date_style)
                else:
                    sheet.write(cell.row - 1, cell.column - 1, cell.value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_xlsm(xlsx: bytes) -> bytes:
    """The workbook as a macro-enabled .xlsm with a VBA project in it."""
    types = part(xlsx, "[Content_Types].xml").replace(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    ).replace("</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
    rels = part(xlsx, "xl/_rels/workbook.xml.rels").replace(
        "</Relationships>",
        '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        'Target="vbaProject.bin"/></Relationships>',
    )
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b'Attribute VB_Name = "Module1"\nSub AutoOpen(): Shell "calc": End Sub'
    return rezip(xlsx, {"[Content_Types].xml": types.encode(), "xl/_rels/workbook.xml.rels": rels.encode()},
                 add={"xl/vbaProject.bin": vba})


def training_cell(wb, label: str):
    """The first data row's ``label`` cell on the 执法培训 sheet of ``wb``."""
    ws = wb["执法培训"]
    col = next(c.column for c in ws[4] if c.value == label)
    return ws.cell(5, col)


def with_formula(cached: bool) -> bytes:
    """执法培训's 持证执法人员数 as a formula; Excel saves its result, openpyxl-like writers do not."""
    def edit(wb):
        cell = training_cell(wb, "持证执法人员数")
        cell.value = f"={cell.value}-0"
        if not cached:  # the training return alone, so that the whole file is refused
            for ws in [ws for ws in wb.worksheets if ws.title != "执法培训"]:
                wb.remove(ws)
    data = edited("ZQ" if cached else "XL", edit)
    if not cached:
        return data
    value = DATA[("ZQ", PERIOD)]["training"][0]["certified_officers"]
    name = next(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.startswith("xl/worksheets/"))
    xml = part(data, name)
    assert "<v></v>" in xml
    return rezip(data, {name: xml.replace("<v></v>", f"<v>{value}</v>", 1).encode()})


def no_form_sheet() -> bytes:
    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.active["A1"] = "本单位十二月工作总结"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def set_header(code: str, label: str, value: str) -> bytes:
    """A return whose 填报单位 or 报告期 cell says ``value``."""
    def edit(wb):
        for ws in wb.worksheets:
            for cell in ws[2]:
                if isinstance(cell.value, str) and cell.value.startswith(label):
                    cell.value = f"{label}：{value}"
    return edited(code, edit)


def changed_entities(code: str) -> bytes:
    """The unit's return with one more entity in its first inspection row: a real correction."""
    def edit(wb):
        ws = wb["行政检查"]
        col = next(c.column for c in ws[4] if c.value == "抽取检查对象户数")
        ws.cell(5, col).value += 1
    return edited(code, edit)


def with_prolog(prolog: bytes, *, stored: bool = False) -> bytes:
    """The clean return with ``prolog`` in front of its first worksheet's root element."""
    data = clean_bytes("HHC")
    name = first_sheet_part(data)
    xml = part(data, name)
    body = xml.split("?>", 1)[1].lstrip() if xml.startswith("<?xml") else xml
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = prolog + body.encode() if info.filename == name else src.read(info)
            dst.writestr(info.filename, content, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    return out.getvalue()


PLACEHOLDER = "PLACEHOLDERXYZ"


def ooxml_text(text: str) -> str:
    """``text`` as it stands in sharedStrings.xml: XML-escaped, characters XML cannot hold as ``_xHHHH_``
    (as Excel writes a line break pasted from Word, U+000B)."""
    out = []
    for ch in escape(text):
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n\r") or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"_x{code:04X}_")
        else:
            out.append(ch)
    return "".join(out)


def with_cell(code: str, sheet: str, label: str, text: str) -> bytes:
    """The unit's clean return with the first data row's ``label`` cell holding ``text`` exactly."""
    def edit(wb):
        ws = wb[sheet]
        col = next(c.column for c in ws[4] if c.value == label)
        ws.cell(5, col).value = PLACEHOLDER
    data = edited(code, edit)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            part = src.read(info)
            if PLACEHOLDER.encode() in part:
                part = part.replace(PLACEHOLDER.encode(), ooxml_text(text).encode("utf-8", "surrogatepass"))
            dst.writestr(info.filename, part)
    return out.getvalue()
