"""One reader interface for every workbook: a workbook is read once into plain cell values.

Every workbook is read with python-calamine (Rust; cached values only, nothing evaluated, macros
never loaded) except an ``.xlsx``/``.xlsm`` holding formulas or a worksheet part larger than
``CALAMINE_MAX_PART``: those are streamed with openpyxl, which also locates formula cells whose cached
value is missing. Reading is bounded whatever a sheet claims about itself:

| limit | value | beyond it |
|---|---|---|
| ``MAX_ROWS`` | 200,000 rows | content below Excel row 200,000 refuses the workbook (``too_many_rows``) |
| ``MAX_COLUMNS`` | 256 columns (A…IV) | content right of column IV refuses the workbook (``too_many_columns``) |
| ``MAX_CELLS`` | 2,000,000 cells read per workbook, formatted-but-empty ones included | refused (``too_large``) |
"""

from __future__ import annotations

import io
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from pipeline.intake.biff import xls_date1904
from pipeline.intake.safety import OLE_MAGIC, InputRefused, part_chunks
from pipeline.problems import Problem

MAX_ROWS = 200_000
MAX_COLUMNS = 256
#: Worksheet parts up to this size (uncompressed XML) are read whole by calamine; larger ones stream.
CALAMINE_MAX_PART = 64 * 1024 * 1024
MAX_CELLS = 2_000_000
#: Worksheets this large (uncompressed XML, in total) are scanned for formulas while calamine reads them.
THREADED_SCAN_BYTES = 4 * 1024 * 1024
#: Uncached formula cells listed one by one per sheet; the rest are counted in one summary line.
MAX_FORMULA_CELLS_LISTED = 20


@dataclass
class SheetData:
    """Cell values of one sheet; ``rows[0]`` is Excel row 1, ``rows[r][0]`` is column A."""

    name: str
    rows: list[tuple[object, ...]]
    #: Cells (Excel row, column index from 1) holding a formula whose cached value is missing.
    uncached_formulas: list[tuple[int, int]] = field(default_factory=list)
    #: The workbook was saved with the 1904 date system: serial-number dates count from 1904-01-01.
    date1904: bool = False


@dataclass
class WorkbookData:
    sheets: dict[str, SheetData]
    #: Findings about the file as read (macros ignored, …); never errors: those raise InputRefused.
    problems: list[Problem] = field(default_factory=list)


class WorkbookReader(Protocol):
    def read(self, source: Path | BinaryIO) -> WorkbookData: ...


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _trim(row: tuple[object, ...] | list[object]) -> tuple[object, ...]:
    """Drop trailing empty cells: formatted-but-empty cells carry no meaning."""
    end = len(row)
    while end and _is_blank(row[end - 1]):
        end -= 1
    return tuple(row[:end])


class _Budget:
    """Counts what a workbook costs to read and refuses it past the documented limits."""

    def __init__(self) -> None:
        self.cells = 0

    def take(self, sheet: str, excel_row: int, row: tuple[object, ...] | list[object]) -> tuple[object, ...]:
        self.cells += len(row)
        if self.cells > MAX_CELLS:
            raise InputRefused(
                f"工作表“{sheet}”过大（读取超过 {MAX_CELLS:,} 个单元格，含带格式的空单元格），"
                "请删除多余的行列后另存为 .xlsx 重新报送", "too_large",
            )
        trimmed = _trim(row)
        if not trimmed:
            return trimmed
        if excel_row > MAX_ROWS:
            raise InputRefused(
                f"工作表“{sheet}”第 {excel_row} 行仍有内容，超过每张表 {MAX_ROWS:,} 行的上限，"
                "请删除多余内容后重新报送", "too_many_rows",
            )
        if len(trimmed) > MAX_COLUMNS:
            raise InputRefused(
                f"工作表“{sheet}”第 {excel_row} 行在第 {MAX_COLUMNS} 列（IV 列）之后仍有内容，超过上限，"
                "请删除多余内容后重新报送", "too_many_columns",
            )
        return trimmed


def _finish(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    while rows and not rows[-1]:
        rows.pop()
    return rows


# A cell element with its content; prefixes cover writers that namespace-qualify SpreadsheetML.
_CELL_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF_RE = re.compile(rb'\br="([A-Z]{1,3})(\d+)"')
_HAS_F = re.compile(rb"<(?:\w+:)?f\b")
_HAS_V = re.compile(rb"<(?:\w+:)?v\b[^>]*>[^<]")


def _column_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def uncached_formula_cells(stream: BinaryIO, chunk_size: int = 1 << 20) -> list[tuple[int, int]]:
    """(Excel row, column) of every cell of a sheet's XML with a formula but no cached value.

    Streams the part in chunks; a chunk without ``<f`` costs one byte search, so sheets without
    formulas are scanned at the speed of decompression.
    """
    found: list[tuple[int, int]] = []
    carry = b""
    while True:
        chunk = stream.read(chunk_size)
        data = carry + chunk
        if not chunk:
            cut = len(data)
        else:
            # Only whole cells are examined: cut after the last complete cell element.
            plain, prefixed = data.rfind(b"</c>"), data.rfind(b":c>")
            cut = max(plain + 4 if plain >= 0 else 0, prefixed + 3 if prefixed >= 0 else 0)
        head, carry = data[:cut], data[cut:]
        if b"<f" in head or b":f" in head:
            for match in _CELL_RE.finditer(head):
                inner = match.group(2) or b""
                if _HAS_F.search(inner) and not _HAS_V.search(inner):
                    ref = _REF_RE.search(match.group(1))
                    if ref:
                        found.append((int(ref.group(2)), _column_index(ref.group(1))))
        if not chunk:
            return found


_DATE1904_RE = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*?\bdate1904\s*=\s*[\"'](?:1|true)[\"']", re.I)
_OFFICE_DOCUMENT_RE = re.compile(rb'Target="/?([^"]+)"[^>]*Type="[^"]*/officeDocument"|'
                                 rb'Type="[^"]*/officeDocument"[^>]*Target="/?([^"]+)"')


def is_date1904(archive: zipfile.ZipFile) -> bool:
    """Whether the package's workbook part says ``<workbookPr date1904="1"/>`` (Excel for Mac's date system)."""
    names = set(archive.namelist())
    part = "xl/workbook.xml"
    # Every writer we know puts the workbook there; the package relationships say where it is otherwise.
    if part not in names and "_rels/.rels" in names:
        match = _OFFICE_DOCUMENT_RE.search(archive.read("_rels/.rels"))
        if match:
            part = (match.group(1) or match.group(2)).decode("utf-8", "replace")
    if part not in names:
        return False
    with archive.open(part) as fh:
        # workbookPr stands near the top of the part, before the sheets list.
        return bool(_DATE1904_RE.search(fh.read(1 << 16)))


def _mark_date1904(sheets: dict[str, SheetData], date1904: bool) -> dict[str, SheetData]:
    for sheet in sheets.values():
        sheet.date1904 = date1904
    return sheets


class OpenpyxlReader:
    """Reads cached values with openpyxl in read-only mode (streaming, never evaluates formulas)."""

    def read(self, source: Path | BinaryIO) -> WorkbookData:
        import openpyxl

        # keep_vba=False: an .xlsm's macros are never even loaded, let alone run.
        wb = openpyxl.load_workbook(source, read_only=True, data_only=True, keep_links=False, keep_vba=False)
        budget = _Budget()
        problems: list[Problem] = []
        try:
            archive: zipfile.ZipFile = wb._archive
            if any(n.lower().endswith("vbaproject.bin") for n in archive.namelist()):
                problems.append(Problem(_MACRO_WARNING, rule="macros_ignored", severity="warning"))
            sheets: dict[str, SheetData] = {}
            for ws in wb.worksheets:
                # A sheet's <dimension> may claim A1:XFD1048576 or be wrong: read the cells actually there.
                ws.reset_dimensions()
                rows = [budget.take(ws.title, r, row) for r, row in enumerate(ws.iter_rows(values_only=True), 1)]
                with archive.open(ws._worksheet_path) as part:
                    formulas = uncached_formula_cells(part)
                sheets[ws.title] = SheetData(name=ws.title, rows=_finish(rows), uncached_formulas=formulas)
            # openpyxl converts date-formatted cells with the workbook's epoch; serial numbers are left to the parser.
            return WorkbookData(sheets=_mark_date1904(sheets, is_date1904(archive)), problems=problems)
        finally:
            wb.close()


_MACRO_WARNING = "工作簿含有宏（.xlsm），宏未运行，只读取了单元格中保存的值"


def _calamine_rows(sheet, name: str, budget: _Budget) -> list[tuple[object, ...]]:
    """A calamine sheet as rows from Excel row 1 and column A, bounded by the budget."""
    # iter_rows() yields the rows above the data range too (empty), each as wide as the range.
    (row0, col0) = sheet.start or (0, 0)
    height = row0 + sheet.height if sheet.start else 0
    width = col0 + sheet.width
    # Within every limit whatever the cells hold, no row needs the budget's checks.
    checked = not (height <= MAX_ROWS and width <= MAX_COLUMNS and budget.cells + height * width <= MAX_CELLS)
    if not checked:
        budget.cells += height * width
    rows: list[tuple[object, ...]] = []
    append = rows.append
    pad = [None] * col0
    for r, row in enumerate(sheet.iter_rows(), start=1):
        if pad:
            row = pad + row
        # calamine's "" is an empty cell; replaced without a Python step per cell.
        while "" in row:
            row[row.index("")] = None
        if checked:
            append(budget.take(name, r, row))
            continue
        last = row[-1] if row else 0
        append(_trim(row) if last is None or (isinstance(last, str) and not last.strip()) else tuple(row))
    return _finish(rows)


class CalamineXlsxReader:
    """Reads an ``.xlsx``/``.xlsm`` without formulas with python-calamine: about 30 times openpyxl's speed."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def read(self, source: Path | BinaryIO) -> WorkbookData:
        from python_calamine import CalamineWorkbook

        wb = (CalamineWorkbook.from_path(str(source)) if isinstance(source, Path)
              else CalamineWorkbook.from_filelike(source))
        problems: list[Problem] = []
        if any(n.lower().endswith("vbaproject.bin") for n in self.archive.namelist()):
            problems.append(Problem(_MACRO_WARNING, rule="macros_ignored", severity="warning"))
        budget = _Budget()
        sheets = {
            name: SheetData(name=name, rows=_calamine_rows(wb.get_sheet_by_name(name), name, budget))
            for name in wb.sheet_names
        }
        return WorkbookData(sheets=_mark_date1904(sheets, is_date1904(self.archive)), problems=problems)


def _worksheet_parts(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist()
            if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")]


def _any_formula(data: bytes, parts: list[zipfile.ZipInfo]) -> bool:
    return any(_has_formula(data, info) for info in parts)


def _read_unless_formulas(archive: zipfile.ZipFile, data: bytes) -> WorkbookData | None:
    """The workbook as calamine reads it, or None when a worksheet holds a formula (whose cache may be missing).

    On large worksheets the formula scan runs in a second thread while calamine reads: both spend their
    time outside the GIL (zlib, Rust); calamine's result is dropped, errors included, if a formula turns up.
    """
    parts = _worksheet_parts(archive)
    if sum(info.file_size for info in parts) < THREADED_SCAN_BYTES:
        return None if _any_formula(data, parts) else CalamineXlsxReader(archive).read(io.BytesIO(data))
    with ThreadPoolExecutor(max_workers=1) as pool:
        scan = pool.submit(_any_formula, data, parts)
        try:
            read = CalamineXlsxReader(archive).read(io.BytesIO(data))
        except Exception:
            if scan.result():
                return None
            raise
        return None if scan.result() else read


#: A formula element's start tag, plain or namespace-prefixed: ``<f>``, ``<f t="shared" …>``, ``<x:f>``.
_FORMULA_TAG = re.compile(rb"[<:]f[> ]")


def _has_formula(data: bytes, info: zipfile.ZipInfo, chunk_size: int = 1 << 20) -> bool:
    """Whether a worksheet part of the package ``data`` holds a formula element, read in chunks (a part may be
    tens of MB)."""
    tail = b""
    for chunk in part_chunks(data, info, chunk_size):
        text = tail + chunk
        # Two plain searches rule out almost every chunk; the exact pattern is looked for only after a hit.
        if (b"<f" in text or b":f" in text) and _FORMULA_TAG.search(text):
            return True
        tail = text[-8:]
    return False


class CalamineReader:
    """Reads legacy ``.xls`` (BIFF) workbooks with python-calamine: values only, nothing evaluated."""

    def read(self, source: Path | BinaryIO) -> WorkbookData:
        from python_calamine import CalamineWorkbook

        # Read once (at most MAX_XLS_BYTES): calamine and the DATEMODE lookup both need the bytes.
        data = source.read_bytes() if isinstance(source, Path) else source.read()
        try:
            wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        except Exception as exc:
            text = str(exc).lower()
            if "password" in text or "encrypt" in text:
                raise InputRefused(
                    "工作簿设置了打开密码，请取消密码（文件→信息→保护工作簿）后重新报送", "encrypted"
                ) from exc
            raise InputRefused(
                "旧版 .xls 文件无法读取，请在 Excel 或 WPS 中打开，另存为 .xlsx 后重新报送", "legacy_xls_unreadable"
            ) from exc
        budget = _Budget()
        sheets: dict[str, SheetData] = {}
        for name in wb.sheet_names:
            try:
                rows = _calamine_rows(wb.get_sheet_by_name(name), name, budget)
            except InputRefused:
                raise
            except Exception as exc:
                raise InputRefused(
                    f"旧版 .xls 文件的工作表“{name}”无法读取，请另存为 .xlsx 后重新报送", "legacy_xls_unreadable"
                ) from exc
            sheets[name] = SheetData(name=name, rows=rows)
        # calamine converts date-formatted cells with the workbook's epoch; serial numbers are left to the parser.
        return WorkbookData(sheets=_mark_date1904(sheets, xls_date1904(data)), problems=[Problem(
            "文件是旧版 .xls 格式，已按单元格的值读取；今后请另存为 .xlsx 报送", rule="legacy_xls", severity="warning",
        )])


class AutoReader:
    """Chooses the reader by what the bytes are, never by the file name."""

    def read(self, source: Path | BinaryIO) -> WorkbookData:
        if isinstance(source, Path):
            with source.open("rb") as fh:
                head = fh.read(8)
        else:
            position = source.tell()
            head = source.read(8)
            source.seek(position)
        if head.startswith(OLE_MAGIC):
            return CalamineReader().read(source)
        # The zip is read apart from calamine's copy (the formula scan may run beside calamine).
        data = source.read_bytes() if isinstance(source, Path) else source.read()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if all(info.file_size <= CALAMINE_MAX_PART for info in _worksheet_parts(archive)):
                read = _read_unless_formulas(archive, data)
                if read is not None:
                    return read
        if not isinstance(source, Path):
            source.seek(position)
        return OpenpyxlReader().read(source)


def default_reader() -> WorkbookReader:
    return AutoReader()
