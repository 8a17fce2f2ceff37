"""Files that are not what they claim, and hostile ones: each refused with its own reason, the rest of
the month still loads, the archive keeps every byte and the inbox is never touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hostile_files import (
    DATA,
    PERIOD,
    RECEIVED,
    absurd_dimension,
    billion_laughs,
    changed_entities,
    clean_bytes,
    docx_file,
    edited,
    encrypted,
    far_right_cell,
    first_sheet_part,
    many_entries,
    million_rows,
    no_form_sheet,
    ratio_bomb,
    set_header,
    to_xls,
    to_xlsm,
    total_size_bomb,
    training_cell,
    with_formula,
    with_prolog,
)
from openpyxl import load_workbook

from pipeline.config import settings as make_settings_
from pipeline.ingest import run_month
from pipeline.intake.archive import archive_path
from pipeline.intake.reader import MAX_ROWS, OpenpyxlReader, default_reader
from pipeline.intake.safety import InputRefused, check_workbook_bytes
from pipeline.operations.problems_report import month_problems_text
from pipeline.outputs.feedback import write_month_feedback
from pipeline.samples.messy import mess_up
from pipeline.warehouse.connect import make_engine
from pipeline.warehouse.schema import FACT_TABLES, problem, return_file, submission

#: file name → (bytes factory, rule, exact message) for the refused; rule None for the accepted.
REFUSED = {
    "空文件.xlsx": (lambda: b"", "empty_file", "文件为空（0 字节），请重新报送"),
    "传了一半.xlsx": (lambda: clean_bytes("XZ")[:3000], "corrupt_zip",
                   "文件已损坏或不完整（压缩包无法打开），请重新保存后报送"),
    "改名的word.xlsx": (docx_file, "docx_file", "文件是 Word 文档（.docx），不是 Excel 工作簿，请报送 .xlsx 文件"),
    "导出的表.xlsx": (lambda: "持证执法人员数,参加执法资格考试人数\n12,0\n".encode("gbk"), "text_file",
                  "文件是文本或 CSV 文件，只是改了扩展名，请用模板填写后另存为 .xlsx 重新报送"),
    "说明.txt.xlsx": (lambda: "本月无数据".encode(), "text_file",
                    "文件是文本或 CSV 文件，只是改了扩展名，请用模板填写后另存为 .xlsx 重新报送"),
    "扫描件.xlsx": (lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "not_a_workbook",
                 "文件是 PDF，不是 Excel 工作簿，请报送 .xlsx 文件"),
    "加密.xlsx": (encrypted, "encrypted", "工作簿设置了打开密码，请取消密码（文件→信息→保护工作簿）后重新报送"),
    "坏的.xls": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8, "legacy_xls_unreadable",
               "旧版 .xls 文件无法读取，请在 Excel 或 WPS 中打开，另存为 .xlsx 后重新报送"),
    "公式.xlsx": (lambda: with_formula(cached=False), "formula_uncached",
                "单元格含公式，但文件中没有保存公式的计算结果（常见于程序生成或未在 Excel 中保存过的文件），"
                "请在 Excel 或 WPS 中打开、保存后重新报送"),
    "总结.xlsx": (no_form_sheet, "no_form_sheet",
                re.compile(r"工作簿中没有可识别的月报表（工作表应为：行政检查、案件移送、执法培训.*）")),
    "外单位.xlsx": (lambda: set_header("WX", "填报单位", "区不存在局"), "unit_unknown",
                 "填报单位“区不存在局”不在单位名录中，请填写单位全称"),
    "上月的.xlsx": (lambda: set_header("YH", "报告期", "2020年11月"), "period_mismatch",
                 "报告期为2020年11月，与报送月份2020年12月不符"),
    "炸弹.xlsx": (billion_laughs, "xml_entities",
                "文件内部含有 XML 实体定义（DTD），正常的 Excel 文件不会有，疑似恶意文件，已拒收"),
    "压缩炸弹.xlsx": (ratio_bomb, "zip_bomb", "文件解压后异常膨胀，疑似压缩炸弹，已拒收"),
    "很大.xlsx": (total_size_bomb, "zip_bomb", "文件解压后超过 256 MB，超出报表允许的大小"),
    "条目多.xlsx": (many_entries, "zip_bomb",
                 re.compile(r"文件内部条目过多（20\d\d 个），不像正常的报表，请检查后重新报送")),
    "一百万行.xlsx": (million_rows, "too_many_rows",
                  f"工作表“行政检查”第 {MAX_ROWS + 1} 行仍有内容，超过每张表 {MAX_ROWS:,} 行的上限，"
                  "请删除多余内容后重新报送"),
    "很宽.xlsx": (far_right_cell, "too_many_columns",
                "工作表“执法培训”第 5 行在第 256 列（IV 列）之后仍有内容，超过上限，请删除多余内容后重新报送"),
}
#: file name → (bytes factory, unit code, warning rules): workbooks that load.
ACCEPTED = {
    "新闸街道12月.xls": (lambda: to_xls(clean_bytes("NDJ")), "NDJ", {"legacy_xls"}),
    "住建局 带宏.xlsm": (lambda: to_xlsm(clean_bytes("ZJJ")), "ZJJ", {"macros_ignored"}),
    "邹区镇 公式.xlsx": (lambda: with_formula(cached=True), "ZQ", set()),
    "五星 尺寸.xlsx": (lambda: absurd_dimension("BG"), "BG", set()),
    "市场监管局_2020年12月.xlsx": (lambda: clean_bytes("SCJG"), "SCJG", set()),
    "统计局.xlsx": (lambda: clean_bytes("TJJ"), "TJJ", set()),
    "荷花池.xlsx": (lambda: clean_bytes("HHC"), "HHC", set()),
}
#: Names no path may be built from.
ODD_NAMES = ("a..b ..xlsx", "含 空格 的 文件 名.xlsx", "名" * 80 + ".xlsx", "x;rm -rf ~.xlsx", "%2e%2e%2fetc.xlsx")


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """One inbox month holding the whole corpus, run once; returns (settings, report, inbox snapshot)."""
    root = tmp_path_factory.mktemp("hostile")
    inbox = root / "inbox"
    folder = inbox / PERIOD
    folder.mkdir(parents=True)
    stamp = RECEIVED.timestamp()
    for name, (factory, *_) in {**REFUSED, **ACCEPTED}.items():
        (folder / name).write_bytes(factory())
        os.utime(folder / name, (stamp, stamp))
    for i, name in enumerate(ODD_NAMES):
        data = changed_entities("WJW") if i == 0 else set_header("HHC", "填报单位", "无名氏" + name)
        (folder / name).write_bytes(data)
        os.utime(folder / name, (stamp + 60 * i, stamp + 60 * i))
    # One unit, two valid workbooks with different content: the later received is in force.
    (folder / "卫健局.xlsx").write_bytes(clean_bytes("WJW"))
    os.utime(folder / "卫健局.xlsx", (stamp - 3600, stamp - 3600))
    snapshot = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTRICT_DATA", str(root / "data"))
        mp.setenv("DISTRICT_INBOX", str(inbox))
        settings = make_settings_(f"sqlite:///{root / 'warehouse.sqlite'}")
    started = time.monotonic()
    report = run_month(PERIOD, settings)
    feedback = write_month_feedback(PERIOD, settings)
    elapsed = time.monotonic() - started
    return settings, report, snapshot, feedback, elapsed


def _file(settings, name):
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(return_file).where(return_file.c.file_name == name)).one()
        probs = conn.execute(sa.select(problem).where(problem.c.file_id == row.file_id)
                             .order_by(problem.c.seq)).all()
        subs = conn.execute(sa.select(submission).where(submission.c.file_id == row.file_id)).all()
    return row, probs, subs


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_its_own_reason(month, name):
    settings, report, *_ = month
    _, rule, message = REFUSED[name]
    row, probs, _ = _file(settings, name)
    assert row.status == "refused"
    errors = [(p.rule, p.message_zh) for p in probs if p.severity == "error"]
    assert errors and {r for r, _ in errors} == {rule}, errors
    if isinstance(message, re.Pattern):
        assert message.fullmatch(errors[0][1]), errors[0][1]
    else:
        assert errors[0][1] == message
    assert name in [n for n, _ in report.refused_files]


@pytest.mark.integration
def test_uncached_formula_points_at_its_cell(month):
    settings, *_ = month
    _, probs, _ = _file(settings, "公式.xlsx")
    wb = load_workbook(io.BytesIO(REFUSED["公式.xlsx"][0]()))
    cell = training_cell(wb, "持证执法人员数")
    assert [(p.sheet, p.cell, p.column_label) for p in probs] == [("执法培训", cell.coordinate, "持证执法人员数")]


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_and_loaded(month, name):
    settings, *_ = month
    _, unit, warnings = ACCEPTED[name]
    row, probs, subs = _file(settings, name)
    assert row.status == "accepted" and row.unit_code == unit
    assert {p.rule for p in probs} == warnings
    assert subs and {s.status for s in subs} == {"loaded"}


@pytest.mark.integration
def test_xls_and_xlsm_give_the_rows_of_the_xlsx(month):
    settings, *_ = month
    engine = make_engine(settings.warehouse_url)
    table = FACT_TABLES["training"]
    with engine.connect() as conn:
        got = {r.unit_code: r for r in conn.execute(sa.select(table).where(table.c.unit_code.in_(["NDJ", "ZJJ"])))}
    for code in ("NDJ", "ZJJ"):
        expected = DATA[(code, PERIOD)]["training"][0]
        assert {k: getattr(got[code], k) for k in expected} == expected


@pytest.mark.integration
def test_the_rest_of_the_month_loaded(month):
    settings, report, snapshot, *_ = month
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        files = dict(conn.execute(sa.select(return_file.c.file_name, return_file.c.status)).all())
    assert set(files) == set(snapshot)
    assert {n for n, s in files.items() if s == "refused"} == set(REFUSED) | set(ODD_NAMES[1:])
    assert report.loaded > 0 and report.files == len(snapshot)


@pytest.mark.integration
def test_two_workbooks_of_one_unit_later_wins_both_kept_operator_told(month):
    settings, report, *_ = month
    later, earlier = ODD_NAMES[0], "卫健局.xlsx"
    _, _, later_subs = _file(settings, later)
    _, _, earlier_subs = _file(settings, earlier)
    assert {s.status for s in later_subs} == {"loaded"} and {s.status for s in earlier_subs} == {"superseded"}
    message = dict(report.warnings)[later]
    assert any(f"以最后收到的“{later}”为准，“{earlier}”已被取代" in m for m in message)
    text = month_problems_text(make_engine(settings.warehouse_url), PERIOD)
    assert f"以最后收到的“{later}”为准" in text and "[区卫生健康局]" in text


@pytest.mark.integration
def test_archive_holds_every_byte_and_inbox_is_untouched(month):
    settings, _, snapshot, *_ = month
    folder = settings.inbox / PERIOD
    assert {p.name for p in folder.iterdir()} == set(snapshot)
    for name, (data, mtime_ns) in snapshot.items():
        path = folder / name
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime_ns
        assert archive_path(settings.archive, hashlib.sha256(data).hexdigest()).read_bytes() == data


@pytest.mark.integration
def test_no_path_built_outside_the_pipeline_folders(month):
    settings, _, _, feedback, _ = month
    archived = [p for p in settings.archive.rglob("*") if p.is_file()]
    assert archived and all(re.fullmatch(r"[0-9a-f]{64}", p.name) and p.parent.parent == settings.archive
                            for p in archived)
    root = (settings.feedback / PERIOD).resolve()
    assert feedback and all(Path(p).resolve().is_relative_to(root) for p in feedback)
    every = [p for p in settings.data.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(settings.data.resolve()) for p in every)
    assert all(len(p.name.encode()) <= 255 for p in every)


@pytest.mark.integration
def test_the_whole_corpus_runs_in_bounded_time(month):
    *_, elapsed = month
    assert elapsed < 240, elapsed


# --- each hostile file on its own, timed ------------------------------------------------------------------


@pytest.mark.unit
def test_openpyxl_parses_with_defusedxml():
    import defusedxml.common
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True
    started = time.monotonic()
    with pytest.raises(Exception) as caught:  # openpyxl wraps the parser's error in its own
        OpenpyxlReader().read(io.BytesIO(billion_laughs()))
    assert time.monotonic() - started < 3
    chain, exc = [], caught.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, defusedxml.common.EntitiesForbidden) for e in chain), chain


@pytest.mark.unit
@pytest.mark.parametrize(("factory", "rule"), [(billion_laughs, "xml_entities"), (ratio_bomb, "zip_bomb"),
                                              (total_size_bomb, "zip_bomb"), (many_entries, "zip_bomb")])
def test_bombs_refused_before_parsing_and_quickly(factory, rule):
    data = factory()
    started = time.monotonic()
    with pytest.raises(InputRefused) as caught:
        check_workbook_bytes("x.xlsx", data)
    assert time.monotonic() - started < 3
    assert caught.value.problem.rule == rule


@pytest.mark.unit
def test_a_million_rows_bounded_time_and_memory():
    data = million_rows()
    check_workbook_bytes("x.xlsx", data)  # a legal package: it is the reader that must stop
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(InputRefused) as caught:
            default_reader().read(io.BytesIO(data))
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.problem.rule == "too_many_rows"
    assert f"第 {MAX_ROWS + 1} 行" in caught.value.problem.message_zh
    assert elapsed < 20, elapsed
    assert peak < 64 * 1024 * 1024, peak


@pytest.mark.unit
def test_a_sheet_claiming_a_million_rows_reads_only_what_is_there():
    started = time.monotonic()
    wb = OpenpyxlReader().read(io.BytesIO(absurd_dimension()))
    assert time.monotonic() - started < 3
    rows = next(iter(wb.sheets.values())).rows
    assert len(rows) < 20 and max(len(r) for r in rows) <= 8


@pytest.mark.unit
def test_formatted_empty_rows_far_below_do_not_refuse():
    """Borders left down to row 20,000 (past MAX_ROWS) hold no content: the return still reads."""
    def edit(wb):
        from openpyxl.styles import PatternFill

        ws = wb["执法培训"]
        for r in range(10, 20_001, 7):
            ws.cell(r, 2).fill = PatternFill("solid", fgColor="FFFF00")
    data = edited("HHC", edit)
    rows = OpenpyxlReader().read(io.BytesIO(data)).sheets["执法培训"].rows
    assert len(rows) < 20


@pytest.mark.unit
def test_too_many_cells_even_if_empty(monkeypatch):
    import pipeline.intake.reader

    monkeypatch.setattr(pipeline.intake.reader, "MAX_CELLS", 5_000)
    def edit(wb):
        ws = wb["执法培训"]
        for r in range(10, 1_000):
            for c in range(1, 10):
                ws.cell(r, c).number_format = "0.00"
    with pytest.raises(InputRefused) as caught:
        OpenpyxlReader().read(io.BytesIO(edited("HHC", edit)))
    assert caught.value.problem.rule == "too_large"


@pytest.mark.unit
def test_messy_xls_reads_like_messy_xlsx():
    wb = load_workbook(io.BytesIO(clean_bytes("SCJG")))
    mess_up(wb, random.Random(3), ["numbers_as_text", "dates_as_typed", "rows_above", "label_variants"])
    out = io.BytesIO()
    wb.save(out)
    from pipeline.intake.parse import parse_workbook
    from pipeline.intake.reader import default_reader

    xlsx = parse_workbook(default_reader().read(io.BytesIO(out.getvalue())), PERIOD)
    xls = parse_workbook(default_reader().read(io.BytesIO(to_xls(out.getvalue()))), PERIOD)
    assert [[r.values for r in s.rows] for s in xls.sheets] == [[r.values for r in s.rows] for s in xlsx.sheets]
    assert all(not s.problems for s in xls.sheets)


@pytest.mark.unit
def test_corrupt_entry_inside_a_valid_zip():
    data = bytearray(clean_bytes("HHC"))
    name = first_sheet_part(bytes(data))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 5, start + min(info.compress_size, 200)):
        data[i] ^= 0x5A
    with pytest.raises(InputRefused) as caught:
        check_workbook_bytes("x.xlsx", bytes(data))
    assert caught.value.problem.rule == "corrupt_zip"


# --- warehouse writes are parameterised ----------------------------------------------------------------------

INJECTIONS = ("Robert'); DROP TABLE submission;--", "1' OR '1'='1", '"; DELETE FROM problem; --', "%s %(x)s :name ?")


@pytest.mark.integration
def test_sql_looking_values_round_trip(tmp_path, warehouse_url, make_settings):
    folder = tmp_path / "inbox" / PERIOD
    folder.mkdir(parents=True)

    def good(wb):
        ws = wb["行政检查"]
        for i, text in enumerate(INJECTIONS[:2]):
            ws.cell(5 + i, 2).value = text
        wb["案件移送"].cell(5, 2).value = INJECTIONS[3]

    def bad(wb):
        ws = wb["行政检查"]
        ws.cell(5, 7).value = INJECTIONS[2]
        ws.cell(5, 2).value = INJECTIONS[3]

    (folder / "ok.xlsx").write_bytes(edited("SCJG", good))
    (folder / "bad.xlsx").write_bytes(edited("YJJ", bad))
    settings = make_settings(tmp_path / "inbox", warehouse_url)
    report = run_month(PERIOD, settings)
    assert [n for n, _ in report.refused_files] == ["bad.xlsx"]
    engine = make_engine(warehouse_url)
    table = FACT_TABLES["inspection"]
    with engine.connect() as conn:
        names = conn.execute(sa.select(table.c.task_name).where(table.c.unit_code == "SCJG")
                             .order_by(table.c.excel_row)).scalars().all()
        values = conn.execute(sa.select(problem.c.value)).scalars().all()
        offences = conn.execute(sa.select(FACT_TABLES["transfer"].c.offence)).scalars().all()
        assert conn.execute(sa.select(sa.func.count()).select_from(submission)).scalar() > 0
    assert names[:2] == list(INJECTIONS[:2])
    assert INJECTIONS[3] in offences
    assert INJECTIONS[2] in values
    assert sa.inspect(engine).has_table("submission") and sa.inspect(engine).has_table("problem")


# --- exported cells never run ------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "=HYPERLINK(\"http://x\",\"y\")", "\t=1"])
def test_outputs_neutralise_formula_text(text, tmp_path):
    from pipeline.outputs.figure_files import figures_csv, write_outputs
    from pipeline.sanitise import cell as neutralise

    assert neutralise(text) == "'" + text
    assert neutralise("正常文本") == "正常文本" and neutralise(12) == 12
    fig = {"code": "c1", "label_zh": text, "value": 3.0, "unit_zh": "件", "display_zh": text, "year": 2020,
           "as_of_utc": None, "contributing_submissions": 1, "section": "一", "approx": False}
    import csv

    header, row = list(csv.reader(io.StringIO(figures_csv([fig]))))
    assert row[header.index("指标")] == "'" + text and row[header.index("报告表述")] == "'" + text
    folder = write_outputs(2020, [fig], [{"code": "c1", "unit_code": "SCJG", "value": 3.0, "note_zh": text}],
                           tmp_path)
    wb = load_workbook(folder / "figures.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert all(not c.value.startswith(("=", "+", "-", "@", "\t")) for c in cells)
    assert all(c.data_type != "f" for c in cells)
    assert any(c.value == "'" + text for c in cells)



@pytest.mark.unit
@pytest.mark.parametrize("chunk_size", [7, 64, 1 << 20])
def test_uncached_formula_scan_across_chunks_and_prefixes(chunk_size):
    from pipeline.intake.reader import uncached_formula_cells

    xml = (b'<x:worksheet><x:sheetData><x:row r="2"><x:c r="B2"><x:f>1+1</x:f></x:c>'
           b'<x:c r="C2"><x:f>1+1</x:f><x:v>2</x:v></x:c></x:row>'
           b'<row r="3"><c r="A3" s="1"/><c r="AB3"><f t="shared" si="0"/></c><c r="D3"><f>A1</f><v></v></c>'
           b'<c r="E3" t="s"><v>0</v></c></row><dataValidation><formula1>"a,b"</formula1></dataValidation>'
           b'</x:sheetData></x:worksheet>')
    assert uncached_formula_cells(io.BytesIO(xml), chunk_size) == [(2, 2), (3, 28), (3, 4)]




DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
DTD = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>'


@pytest.mark.unit
@pytest.mark.parametrize("stored", [False, True])
@pytest.mark.parametrize(("prolog", "refused"), [
    (DECL, False),
    (b"\xef\xbb\xbf" + DECL, False),
    (DECL + b"<!-- a comment with <root> and ?> in it -->\n", False),
    (DECL + DTD, True),
    (b"\xef\xbb\xbf" + DECL + b"\n\n" + DTD, True),
    # A comment holding something that looks like the root element does not end the prolog.
    (DECL + b"<!-- <worksheet> -->" + DTD, True),
    (DECL + b"<?pi <worksheet>?>" + DTD, True),
    # A prolog longer than the first read: the scan reads on.
    (DECL + b"<!--" + b" " * 5000 + b"-->" + DTD, True),
    (DECL + b" " * 3000 + DTD, True),
    (DECL + b"<!--" + b" " * 5000 + b"-->", False),
    # The first read (1,024 bytes) ends inside "<!--" or "<!DOCTYPE": the scan reads on before judging.
    (DECL + b" " * (1022 - len(DECL)) + b"<!-- a comment cut by the first read -->", False),
    (DECL + b" " * (1023 - len(DECL)) + b"<!-- a comment cut by the first read -->", False),
    (DECL + b" " * (1022 - len(DECL)) + DTD, True),
])
def test_dtd_anywhere_in_a_parts_prolog_is_refused(prolog, refused, stored):
    data = with_prolog(prolog, stored=stored)
    if refused:
        with pytest.raises(InputRefused) as caught:
            check_workbook_bytes("r.xlsx", data)
        assert caught.value.problem.rule == "xml_entities"
    else:
        assert check_workbook_bytes("r.xlsx", data) == "xlsx"
        assert default_reader().read(io.BytesIO(data)).sheets


@pytest.mark.unit
def test_dtd_in_a_utf16_part_is_refused():
    data = with_prolog(("\ufeff" + '<?xml version="1.0" encoding="UTF-16"?>' + DTD.decode()).encode("utf-16-le"))
    with pytest.raises(InputRefused) as caught:
        check_workbook_bytes("r.xlsx", data)
    assert caught.value.problem.rule == "xml_entities"


@pytest.mark.unit
def test_zip_entry_whose_local_header_lies_is_refused_as_corrupt():
    data = bytearray(clean_bytes("HHC"))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        offset = z.getinfo(first_sheet_part(bytes(data))).header_offset
    data[offset:offset + 4] = b"XXXX"
    with pytest.raises(InputRefused) as caught:
        check_workbook_bytes("r.xlsx", bytes(data))
    assert caught.value.problem.rule == "corrupt_zip"
