"""Checks on a file's bytes before any parser sees them: what it really is, and whether it is safe.

Limits (documented in docs/clerk-rules.md, "文件大小与内容上限（Limits）"):

| limit | value | refused as |
|---|---|---|
| ``MAX_ENTRIES`` | 2,000 zip entries in an ``.xlsx`` | ``zip_bomb`` |
| ``MAX_UNCOMPRESSED_BYTES`` | 256 MB unpacked in total | ``zip_bomb`` |
| ``MAX_RATIO`` | an entry over 1 MB may expand at most 200 times | ``zip_bomb`` |
| ``MAX_SHARED_STRINGS_BYTES`` | 32 MB of shared strings (all held in memory by any reader) | ``too_large`` |
| ``MAX_XLS_BYTES`` | 16 MB for a legacy ``.xls`` (read whole into memory) | ``too_large`` |
| DTDs | no ``<!DOCTYPE``/``<!ENTITY`` in any XML part (OOXML never has one) | ``xml_entities`` |

Declared sizes are enough to check: Python's zipfile stops an entry at its declared size, so a
lying header makes reading fail, never grow. Behind the DTD check, openpyxl parses with
defusedxml (installed), which refuses entity definitions too.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import Literal

from pipeline.problems import Problem

MAX_ENTRIES = 2_000
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200
MAX_SHARED_STRINGS_BYTES = 32 * 1024 * 1024
MAX_XLS_BYTES = 16 * 1024 * 1024
#: How much of each XML part is searched for a DTD: it must come before the root element.
DTD_SCAN_BYTES = 64 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

#: Rules under which a file is refused before (or while) its cells are read: no cell can be pointed at.
REFUSED_UNREAD = frozenset({
    "empty_file", "encrypted", "legacy_xls_unreadable", "not_a_workbook", "text_file", "docx_file", "corrupt_zip",
    "zip_bomb", "xml_entities", "too_large", "too_many_rows", "too_many_columns", "unreadable",
})

WorkbookKind = Literal["xlsx", "xls"]


class InputRefused(Exception):
    """The file is refused before parsing; ``problem`` says why, in words a clerk can act on."""

    def __init__(self, message_zh: str, rule: str) -> None:
        super().__init__(rule)
        self.problem = Problem(message_zh, rule=rule)


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return head.startswith((b"\xff\xfe", b"\xfe\xff"))  # UTF-16 text files (Notepad's "Unicode")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            head.decode("gb18030")
        except UnicodeDecodeError:
            return False
    return True


def _check_ole(data: bytes) -> WorkbookKind:
    # Office puts an encrypted .xlsx into an OLE container with these two streams.
    names = data.replace(b"\x00", b"")
    if "EncryptionInfo".encode("utf-16-le") in data or b"EncryptedPackage" in names:
        raise InputRefused("工作簿设置了打开密码，请取消密码（文件→信息→保护工作簿）后重新报送", "encrypted")
    if b"WordDocument" in names:
        raise InputRefused("文件是 Word 文档（.doc），不是 Excel 工作簿，请报送 .xlsx 文件", "docx_file")
    if len(data) > MAX_XLS_BYTES:
        raise InputRefused(
            f"旧版 .xls 文件超过 {MAX_XLS_BYTES // (1024 * 1024)} MB，请删除多余内容后另存为 .xlsx 重新报送",
            "too_large",
        )
    return "xls"


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name's and the extra field's lengths
#: How much of a part is decompressed first: Excel's prolog is one line.
PROLOG_FIRST_BYTES = 1024


def part_chunks(data: bytes, entry: zipfile.ZipInfo, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """``entry``'s content in pieces of at most ``chunk_size``, inflated straight from ``data``.

    zipfile's own reader costs more per part than inflating a small one; sizes were checked against
    the central directory before any part is read.
    """
    signature, name_len, extra_len = _LOCAL_HEADER.unpack_from(data, entry.header_offset)
    if signature != b"PK\x03\x04" or entry.flag_bits & 1:
        raise zipfile.BadZipFile(f"bad local header or encrypted entry: {entry.filename}")
    start = entry.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    raw = memoryview(data)[start:start + entry.compress_size]
    if entry.compress_type == zipfile.ZIP_STORED:
        for at in range(0, len(raw), chunk_size):
            yield bytes(raw[at:at + chunk_size])
        return
    if entry.compress_type != zipfile.ZIP_DEFLATED:
        raise NotImplementedError(f"compression {entry.compress_type}")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    pending: bytes | memoryview = raw
    while chunk := inflate.decompress(pending, chunk_size):
        yield chunk
        pending = inflate.unconsumed_tail
    if rest := inflate.flush():
        yield rest


def _part_head(data: bytes, entry: zipfile.ZipInfo, size: int) -> bytes:
    return next(part_chunks(data, entry, size), b"")


def _prolog_declares(head: bytes) -> bool | None:
    """Whether the XML prolog in ``head`` holds a ``<!…>`` declaration (DOCTYPE, ENTITY); None if it runs past ``head``.

    A prolog is whitespace, ``<?…?>`` and ``<!--…-->`` up to the root element; a DTD can only stand there.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode()
    elif head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    pos = len(head) - len(head.lstrip())
    while pos < len(head):
        if head.startswith(b"<?", pos):
            end, step = head.find(b"?>", pos + 2), 2
        elif head.startswith(b"<!--", pos):
            end, step = head.find(b"-->", pos + 4), 3
        elif b"<!--".startswith(head[pos:]):
            return None  # cut inside "<!--": a comment or a declaration, the next bytes tell
        else:
            # A declaration (DOCTYPE, ENTITY); else the root element (or not XML: its parser refuses it).
            return head.startswith(b"<!", pos)
        if end < 0:
            return None
        rest = head[end + step:]
        pos = len(head) - len(rest.lstrip())
    return None


def _has_dtd(data: bytes, entry: zipfile.ZipInfo) -> bool:
    head = _part_head(data, entry, PROLOG_FIRST_BYTES)
    found = _prolog_declares(head)
    if found is None and len(head) == PROLOG_FIRST_BYTES:
        head = _part_head(data, entry, DTD_SCAN_BYTES)
        found = _prolog_declares(head)
        if found is None:  # a prolog longer than the scan: any declaration in what was read counts
            found = b"<!DOCTYPE" in head or b"<!ENTITY" in head
    return bool(found)


def check_workbook_bytes(name: str, data: bytes) -> WorkbookKind:
    """What ``data`` is (``xlsx`` covers ``.xlsm``); raise InputRefused unless it is a safe, bounded workbook."""
    if not data:
        raise InputRefused("文件为空（0 字节），请重新报送", "empty_file")
    if data.startswith(OLE_MAGIC):
        return _check_ole(data)
    if not data.startswith(b"PK"):
        if data.lstrip().startswith(b"%PDF"):
            raise InputRefused("文件是 PDF，不是 Excel 工作簿，请报送 .xlsx 文件", "not_a_workbook")
        if _looks_like_text(data):
            raise InputRefused(
                "文件是文本或 CSV 文件，只是改了扩展名，请用模板填写后另存为 .xlsx 重新报送", "text_file"
            )
        raise InputRefused("文件不是 Excel 工作簿，请用模板填写后另存为 .xlsx 重新报送", "not_a_workbook")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise InputRefused("文件已损坏或不完整（压缩包无法打开），请重新保存后报送", "corrupt_zip") from exc
    if len(entries) > MAX_ENTRIES:
        raise InputRefused(f"文件内部条目过多（{len(entries)} 个），不像正常的报表，请检查后重新报送", "zip_bomb")
    total = 0
    for entry in entries:
        total += entry.file_size
        if entry.compress_size and entry.file_size / entry.compress_size > MAX_RATIO and entry.file_size > 1 << 20:
            raise InputRefused("文件解压后异常膨胀，疑似压缩炸弹，已拒收", "zip_bomb")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise InputRefused(
            f"文件解压后超过 {MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB，超出报表允许的大小", "zip_bomb"
        )
    names = {e.filename for e in entries}
    if "word/document.xml" in names:
        raise InputRefused("文件是 Word 文档（.docx），不是 Excel 工作簿，请报送 .xlsx 文件", "docx_file")
    if "xl/workbook.xml" not in names:
        raise InputRefused("压缩包中没有 Excel 工作簿内容，请报送 .xlsx 文件", "not_a_workbook")
    for entry in entries:
        if entry.filename.lower().endswith("sharedstrings.xml") and entry.file_size > MAX_SHARED_STRINGS_BYTES:
            raise InputRefused(
                f"工作簿中的文字内容超过 {MAX_SHARED_STRINGS_BYTES // (1024 * 1024)} MB，不像正常的报表，"
                "请删除多余内容后重新报送", "too_large",
            )
    try:
        if any(_has_dtd(data, e) for e in entries if e.filename.lower().endswith((".xml", ".rels", ".vml"))):
            raise InputRefused("文件内部含有 XML 实体定义（DTD），正常的 Excel 文件不会有，疑似恶意文件，已拒收",
                               "xml_entities")
    except (zipfile.BadZipFile, zlib.error, struct.error, EOFError, ValueError, NotImplementedError) as exc:
        # struct.error: a local header cut off; NotImplementedError: a compression Excel never uses.
        raise InputRefused("文件已损坏或不完整（压缩包无法打开），请重新保存后报送", "corrupt_zip") from exc
    return "xlsx"
