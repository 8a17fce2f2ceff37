"""Turning what clerks type into typed values, or a Chinese reason why it cannot be done.

Coercion is forgiving only where the meaning is unambiguous (``１２``, ``1,200``, ``12户``,
``2020年12月3日``, ``√``); anything else is reported, never guessed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from pipeline.forms import NO, YES
from pipeline.sanitise import NEUTRALISED

EXCEL_EPOCH = dt.date(1899, 12, 30)
#: Serial day 0 of a workbook saved with the 1904 date system (``<workbookPr date1904="1"/>``, Excel for Mac).
EXCEL_EPOCH_1904 = dt.date(1904, 1, 1)
# Serial numbers 1982-01-01 .. 2064-01-01: wide enough for any reporting date, narrow enough that
# a count typed into a date column is not taken for a date.
_SERIAL_MIN, _SERIAL_MAX = 29952, 59901
# A 报告期 holds nothing else numeric of five digits: any whole serial of 2000-01-01 .. 2100-12-31 is a month.
_PERIOD_SERIAL_MIN = (dt.date(2000, 1, 1) - EXCEL_EPOCH).days
_PERIOD_SERIAL_MAX = (dt.date(2100, 12, 31) - EXCEL_EPOCH).days

_YES = {"是", "Y", "YES", "√", "✓", "✔", "TRUE", "对"}
_NO = {"否", "N", "NO", "×", "✗", "✘", "FALSE"}

# A trailing unit is one to three CJK characters (``12户``, ``3 人次``), nothing else.
_INT_RE = re.compile(r"^([+-]?\d+)(?:\.0+)?\s*([\u4e00-\u9fff]{0,3})$")
_DATE_RES = (
    re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:\s+00:00(?::00)?)?$"),
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_PERIOD_RES = (
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月?(?:份)?$"),
    re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})$"),
)


class CoercionError(ValueError):
    """A value that cannot be read as its column's type; ``args[0]`` is the Chinese reason."""


def fold(text: str) -> str:
    """NFKC-fold (full-width digits and letters, ideographic space) and strip."""
    return unicodedata.normalize("NFKC", text).strip()




def unquote(value: object) -> object:
    """Undo our own formula neutralisation: ``'=x`` → ``=x``.

    Excel and WPS never store the ``'`` a clerk types in front of text, so a stored leading quote
    before ``= + - @`` comes from a workbook we wrote (template, sample, feedback copy).
    """
    if isinstance(value, str) and value.startswith(NEUTRALISED):
        return value[1:]
    return value


def is_blank(value: object) -> bool:
    # str.strip() already removes every Unicode space (the ideographic one too): no folding needed.
    return value is None or (isinstance(value, str) and not value.strip())


def to_text(value: object) -> str | None:
    if type(value) is str:
        return fold(value) or None
    if is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return fold(str(value)) if isinstance(value, str) else str(value)


def to_int(value: object) -> int | None:
    # The common case first: a number cell (calamine gives floats, openpyxl ints).
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise CoercionError("应填写整数")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CoercionError("应填写整数，不能有小数")
    if isinstance(value, (dt.date, dt.datetime)):
        raise CoercionError("应填写整数，不能填写日期")
    text = fold(str(value)).replace(",", "").replace("，", "")
    match = _INT_RE.match(text)
    if not match:
        raise CoercionError("应填写整数")
    return int(match.group(1))


def _serial_date(value: int | float, epoch: dt.date, low: int, high: int) -> dt.date | None:
    """The date a whole serial number counted from ``epoch`` stands for; None if fractional or outside ``low`` ..
    ``high`` (1900-system serials)."""
    # The range is judged in 1900-system days, so it covers the same dates in either system.
    days = value + (epoch - EXCEL_EPOCH).days
    if low <= days <= high and float(value).is_integer():
        return epoch + dt.timedelta(days=int(value))
    return None


def to_date(value: object, epoch: dt.date = EXCEL_EPOCH) -> dt.date | None:
    """A date from a date cell, a serial number counted from ``epoch`` (as number or text), or typed text."""
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        serial = _serial_date(value, epoch, _SERIAL_MIN, _SERIAL_MAX)
        if serial is None:
            raise CoercionError("无法识别的日期，请按 2020-12-03 格式填写")
        return serial
    text = fold(str(value))
    if text.isdigit() and len(text) == 5:
        return to_date(int(text), epoch)
    for pattern in _DATE_RES:
        match = pattern.match(text)
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError as exc:
                raise CoercionError("日期不存在，请核对年月日") from exc
    raise CoercionError("无法识别的日期，请按 2020-12-03 格式填写")


def to_yesno(value: object) -> str | None:
    if is_blank(value):
        return None
    text = fold(str(value)).upper()
    if text in _YES:
        return YES
    if text in _NO:
        return NO
    raise CoercionError("只能填写“是”或“否”")


def to_choice(value: object) -> str | None:
    """Enums keep what the clerk wrote (folded); the expectation suite says if it is not allowed."""
    if is_blank(value):
        return None
    return "".join(fold(str(value)).split())


def to_period(value: object, epoch: dt.date = EXCEL_EPOCH) -> str | None:
    """``2020年12月``, ``2020-12``, ``2020.12``, ``2020/12``, an Excel date, or its serial number counted from
    ``epoch`` (as number or text) → ``2020-12``."""
    if is_blank(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, float):
        if value.is_integer():
            value = int(value)
        elif f"{value:.2f}".endswith("0"):
            # A number cell holding 2020.1 was typed as 2020.1 or 2020.10: January or October.
            return None
    text = fold(str(value)).replace(" ", "")
    if len(text) == 5 and text.isdigit():
        # A date cell formatted as General, or its number pasted as text: 43891 is 2020-03-01.
        serial = _serial_date(int(text), epoch, _PERIOD_SERIAL_MIN, _PERIOD_SERIAL_MAX)
        return None if serial is None else to_period(serial)
    for pattern in _PERIOD_RES:
        match = pattern.match(text)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1 <= month <= 12:
                return f"{year:04d}-{month:02d}"
    return None


def to_date_1904(value: object) -> dt.date | None:
    """``to_date`` for a workbook saved with the 1904 date system: serial numbers count from 1904-01-01."""
    return to_date(value, EXCEL_EPOCH_1904)


COERCERS = {
    "text": to_text,
    "int": to_int,
    "date": to_date,
    "yesno": to_yesno,
    "enum": to_choice,
}
