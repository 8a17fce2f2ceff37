"""Checks on a file's bytes before any parser sees them: what it really is, and whether it is safe.

Limits (documented in README): a workbook may hold at most ``MAX_ENTRIES`` zip entries and
``MAX_UNCOMPRESSED_BYTES`` once unpacked, and no entry may expand more than ``MAX_RATIO`` times.
"""

from __future__ import annotations

import io
import zipfile

from pipeline.problems import Problem

MAX_ENTRIES = 2_000
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class InputRefused(Exception):
    """The file is refused before parsing; ``problem`` says why, in words a clerk can act on."""

    def __init__(self, message_zh: str, rule: str) -> None:
        super().__init__(rule)
        self.problem = Problem(message_zh, rule=rule)


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            head.decode("gb18030")
        except UnicodeDecodeError:
            return False
    return True


def check_workbook_bytes(name: str, data: bytes) -> None:
    """Raise InputRefused unless ``data`` is a plausible, bounded .xlsx/.xlsm package."""
    if not data:
        raise InputRefused("文件为空（0 字节），请重新报送", "empty_file")
    if data.startswith(_OLE_MAGIC):
        if "EncryptionInfo".encode("utf-16-le") in data or b"EncryptedPackage" in data.replace(b"\x00", b""):
            raise InputRefused("工作簿设置了打开密码，请取消密码（文件→信息→保护工作簿）后重新报送", "encrypted")
        raise InputRefused("文件是旧版 .xls 格式，请另存为 .xlsx 后重新报送", "legacy_xls")
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
