"""The templates clerks fill in, rendered through LibreOffice: every instruction whole, few pages."""

from __future__ import annotations

import pytest
from rendering import render

from pipeline.forms import FORMS
from pipeline.outputs.workbook import column_rule, write_template
from pipeline.registry import unit_by_code, units

pytestmark = pytest.mark.integration


def _whole(text: str) -> str:
    return "".join(text.split())


def test_generic_template_prints_every_instruction_whole(tmp_path) -> None:
    out = render(write_template(tmp_path), tmp_path / "pdf")
    # 25 pages before (instruction lines ran past the page edge); 15 in LibreOffice 7.4 now.
    assert len(out.pages) <= 16
    text = out.squeezed()
    for form in FORMS.values():
        assert _whole(form.title) in text
        assert all(_whole(line) in text for line in form.instructions), form.code
        assert all(_whole(column_rule(form, col)) in text for col in form.columns), form.code
    # The registry's names, the 填报单位 dropdown's source, are listed in the guide.
    assert "附：各单位应报报表" in text and all(unit.name in text for unit in units())
    # The guide prints at a readable scale on A4 portrait.
    assert out.word_heights[1] >= 8


def test_unit_template_prints_only_its_sheets(tmp_path) -> None:
    unit = unit_by_code("SCJG")
    out = render(write_template(tmp_path, unit.code), tmp_path / "pdf")
    owed = [FORMS[f] for f in FORMS if f in unit.forms]
    # The guide (2 pages) and one page per sheet owed.
    assert len(out.pages) <= 2 + len(owed)
    text = out.squeezed()
    assert all(_whole(form.title) in text for form in owed)
    assert not any(_whole(form.title) in text for form in FORMS.values() if form not in owed)
    assert text.count("区市场监督管理局") >= len(owed)
