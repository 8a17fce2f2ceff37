"""One reader interface for every workbook: a workbook is read once into plain cell values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass
class SheetData:
    """Cell values of one sheet; ``rows[0]`` is Excel row 1, ``rows[r][0]`` is column A."""

    name: str
    rows: list[tuple[object, ...]]
    #: Cells (Excel row, column index from 1) holding a formula whose cached value is missing.
    uncached_formulas: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class WorkbookData:
    sheets: dict[str, SheetData]


class WorkbookReader(Protocol):
    def read(self, source: Path | BinaryIO) -> WorkbookData: ...


def _trim(row: tuple[object, ...]) -> tuple[object, ...]:
    """Drop trailing empty cells: formatted-but-empty cells carry no meaning."""
    end = len(row)
    while end and (row[end - 1] is None or (isinstance(row[end - 1], str) and not row[end - 1].strip())):
        end -= 1
    return row[:end]


class OpenpyxlReader:
    """Reads cached values with openpyxl in read-only mode (streaming, never evaluates formulas)."""

    def read(self, source: Path | BinaryIO) -> WorkbookData:
        import openpyxl

        wb = openpyxl.load_workbook(source, read_only=True, data_only=True, keep_links=False)
        try:
            sheets: dict[str, SheetData] = {}
            for ws in wb.worksheets:
                # Some writers store a wrong <dimension>; read up to the real last cell instead.
                ws.reset_dimensions()
                rows = [_trim(tuple(r)) for r in ws.iter_rows(values_only=True)]
                while rows and not rows[-1]:
                    rows.pop()
                sheets[ws.title] = SheetData(name=ws.title, rows=rows)
            return WorkbookData(sheets=sheets)
        finally:
            wb.close()


def default_reader() -> WorkbookReader:
    return OpenpyxlReader()
