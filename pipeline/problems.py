"""A problem found in a return: where it is, what was found, and what the clerk should do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding. ``error`` refuses the return it belongs to; ``warning`` is only reported."""

    message_zh: str
    rule: str
    severity: Severity = "error"
    sheet: str | None = None
    cell: str | None = None
    excel_row: int | None = None
    column_label: str | None = None
    value: str | None = None

    def location_zh(self) -> str:
        """``工作表“行政检查” D7（抽取检查对象户数）``, as much of it as is known."""
        parts = []
        if self.sheet:
            parts.append(f"工作表“{self.sheet}”")
        if self.cell:
            parts.append(self.cell)
        elif self.excel_row:
            parts.append(f"第{self.excel_row}行")
        if self.column_label:
            parts.append(f"（{self.column_label}）")
        return " ".join(parts) if parts else "整个文件"

    def describe_zh(self) -> str:
        found = f"，填写内容“{self.value}”" if self.value not in (None, "") else ""
        return f"{self.location_zh()}{found}：{self.message_zh}"


def show_value(value: object) -> str | None:
    """How a cell value is quoted back to a clerk."""
    if value is None:
        return None
    # A number cell read as 20.0 was typed as 20: quote it back as the clerk sees it.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"
