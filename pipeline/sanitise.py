"""The one sanitiser for every text that leaves the pipeline: xlsx/csv cells, docx, HTML, file names,
sheet titles, the terminal and logs.

What clerks type reaches the warehouse unchanged; it is made safe only on its way out, here:

- control characters (C0 but tab/LF/CR, DEL, C1) become visible "control pictures" (``\\x01`` → ``␁``,
  ESC → ``␛``): XML (xlsx, docx) cannot hold them and a terminal would obey them. U+000B, what a line
  break pasted from Word becomes in Excel, is a line break again;
- lone surrogates, U+FFFE/U+FFFF and the bidirectional embeddings/overrides/isolates (which make a
  name display as something else) become U+FFFD;
- text a spreadsheet would run as a formula gets a leading ``'`` (:data:`FORMULA_PREFIXES`);
- cells longer than Excel's 32,767 characters are cut and marked as cut; file-name parts are bounded in
  UTF-8 bytes (file systems count bytes: 255 per name).
"""

from __future__ import annotations

import html as _html
import re
from pathlib import Path

#: First characters that make Excel, WPS or openpyxl read a string as a formula (tab and CR too: some
#: spreadsheets strip them and then see the rest).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: What :func:`cell` puts before formula-like text; ``pipeline.intake.coerce.unquote`` takes it off again.
NEUTRALISED = tuple("'" + p for p in FORMULA_PREFIXES)
#: Excel's limit on the characters of one cell.
MAX_CELL_CHARS = 32_767
#: Bytes of a unit's name as a folder name under feedback/ (its files share the folder).
UNIT_NAME_BYTES = 120
CUT_MARK = "…（已截断）"
#: Bytes of a generated file name; file systems allow 255 (ext4, XFS, NTFS counts UTF-16 units).
MAX_NAME_BYTES = 255

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")
_INVALID = re.compile(r"[\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\r]")
_UNSAFE_NAME = re.compile(r"[^\w\u4e00-\u9fff.()（）-]+")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code == 0x0B:
        return "\n"
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def clean(value: object) -> str:
    """``value`` as text that every output (XML, HTML, terminal) can hold and that displays as it is."""
    text = "" if value is None else str(value)
    if text.isprintable():  # no control, format (bidi), surrogate or unassigned character: nothing to do
        return text
    return _INVALID.sub("\ufffd", _CONTROL.sub(_picture, text))


def one_line(value: object) -> str:
    """:func:`clean` text for one line of a terminal or a log: tabs and line breaks shown, never obeyed."""
    return _LINE_BREAKS.sub(lambda m: chr(0x2400 + ord(m[0])), clean(value))


def cell(value: object) -> object:
    """A value for an xlsx or csv cell: text cleaned, bounded and never run as a formula; others unchanged."""
    if not isinstance(value, str):
        return value
    text = clean(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[:MAX_CELL_CHARS - len(CUT_MARK) - 1] + CUT_MARK
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def html(value: object) -> str:
    """Text for HTML: cleaned and escaped (``<svg onload=…>`` shows as text)."""
    return _html.escape(clean(value), quote=True)


def _cut_bytes(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def file_component(name: object, max_bytes: int = 120) -> str:
    """A clerk-supplied name made safe as one path component: no separators, no ``..``, at most ``max_bytes``
    bytes of UTF-8 (callers add suffixes within :data:`MAX_NAME_BYTES`)."""
    base = Path(clean(name).replace("\\", "/")).name
    stem = _UNSAFE_NAME.sub("_", base).strip("._")
    return _cut_bytes(stem, max_bytes).rstrip("._") or "file"


def sheet_title(name: object) -> str:
    """A worksheet title Excel accepts: no ``[]:*?/\\``, not blank, at most 31 characters."""
    title = _SHEET_FORBIDDEN.sub("_", one_line(name)).strip("'")[:31]
    return title or "Sheet"

