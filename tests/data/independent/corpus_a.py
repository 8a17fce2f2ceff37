"""corpus_a -- an independent acceptance corpus for the district's monthly returns (月报).

Written from the contract (forms.md, departments.csv, registry-forms.txt, figures.csv) alone.
`write_year(inbox, year, seed)` invents a full year of plausible activity for the 21 registered
units, writes it as the workbooks clerks would actually send (``inbox/<YYYY-MM>/<name>.xlsx``, one
workbook per unit and month, one sheet per form owed, nil returns where nothing happened), laid out
with every clerk habit and statistical-return layout the contract names, and returns the seven
figures of figures.csv computed from the generated rows (never by re-reading the files).
Every value is valid under the rules and every total written equals its data rows, so a correct
parser must accept every file and reproduce the figures exactly.

    python corpus_a.py OUTDIR [YEAR] [SEED]   -> writes the year, prints figures and a habit tally
"""
import calendar
import collections
import datetime as dt
import json
import os
import pathlib
import random
import sys

import openpyxl
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils.datetime import CALENDAR_MAC_1904

# ---------------------------------------------------------------- units (registry + aliases)
# name, code, aliases (departments.csv), forms owed (registry-forms.txt), inspection activity 0..3
UNITS = [
    ("区市场监督管理局", "SCJG", "市场监管局|区市场监管局|钟楼区市场监督管理局", "行政检查 案件移送 执法培训", 3),
    ("区卫生健康局", "WJW", "卫健局|区卫健局|区卫生健康委员会|钟楼区卫生健康局", "行政检查 案件移送 执法培训", 2),
    ("区城市管理局", "CGJ", "城管局|区城管局|区综合行政执法局|钟楼区城市管理局", "行政检查 案件移送 执法培训", 3),
    ("常州市钟楼生态环境局", "STHJ", "生态环境局|钟楼生态环境局|区生态环境局", "行政检查 案件移送 执法培训", 2),
    ("区人力资源和社会保障局", "RSJ", "人社局|区人社局|钟楼区人力资源和社会保障局", "行政检查 案件移送 执法培训", 2),
    ("区应急管理局", "YJJ", "应急局|区应急局|钟楼区应急管理局", "行政检查 案件移送 执法培训", 3),
    ("区住房和城乡建设局", "ZJJ", "住建局|区住建局|钟楼区住房和城乡建设局", "行政检查 执法培训", 2),
    ("区商务局", "SWJ", "商务局|钟楼区商务局", "行政检查 执法培训", 1),
    ("区教育局", "JYJ", "教育局|钟楼区教育局", "行政检查 执法培训", 1),
    ("区文化体育和旅游局", "WTL", "文体旅局|区文体旅局|钟楼区文化体育和旅游局", "行政检查 案件移送 执法培训", 2),
    ("区民族宗教事务局", "MZJ", "民宗局|区民宗局", "行政检查 执法培训", 1),
    ("区农业农村局", "NYJ", "农业农村局|区农业局", "行政检查 案件移送 执法培训", 1),
    ("区发展和改革局", "FGJ", "发改局|区发改局", "行政检查 执法培训", 1),
    ("区交通运输局", "JTJ", "交通局|区交通运输局", "行政检查 执法培训", 2),
    ("区统计局", "TJJ", "统计局", "行政检查 执法培训", 0),          # owes the form, never inspects
    ("常州市自然资源和规划局钟楼分局", "ZRZY", "自然资源分局|钟楼自然资源分局", "行政检查 执法培训", 1),
    ("区消防救援大队", "XFJY", "消防大队|钟楼消防救援大队", "行政检查 执法培训", 2),
    ("国家税务总局常州市钟楼区税务局", "SWSJ", "税务局|区税务局", "行政检查 执法培训", 1),
    ("区财政局", "CZJ", "财政局", "执法培训", 0),
    ("区民政局", "MZhJ", "民政局|区民政局", "执法培训", 0),
    ("常州市公安局钟楼分局", "GAFJ", "公安分局|钟楼公安分局|区公安分局", "执法培训", 0),
]

# ---------------------------------------------------------------- the three forms (forms.md)
# code, label, kind (text/enum/int/yesno/date), unit of measure, required
FORMS = {
    "行政检查": [("task_id", "任务编号", "text", "", 1), ("task_name", "任务名称", "text", "", 1),
             ("method", "检查方式", "enum", "", 1), ("entities_sampled", "抽取检查对象户数", "int", "户", 1),
             ("joint", "是否联合抽查", "yesno", "", 1), ("joint_id", "联合抽查编号", "text", "", 0),
             ("completed_on", "完成日期", "date", "", 1), ("issues_found", "发现问题数", "int", "个", 0)],
    "案件移送": [("transfer_id", "移送编号", "text", "", 1), ("offence", "案由", "text", "", 1),
             ("domain", "领域", "enum", "", 1), ("transferred_on", "移送日期", "date", "", 1),
             ("receiver", "接收机关", "text", "", 1), ("police_decision", "立案情况", "enum", "", 1),
             ("filed_on", "立案日期", "date", "", 0)],
    "执法培训": [("certified_officers", "持证执法人员数", "int", "人", 1), ("exam_takers", "参加执法资格考试人数", "int", "人", 1),
             ("exam_passed", "考试合格人数", "int", "人", 1), ("training_sessions", "专题培训场次", "int", "场", 1),
             ("trained_officers", "参加专题培训人数", "int", "人", 1)],
}
TITLES = {"行政检查": ["行政检查情况月报表", "行政执法检查任务完成情况月报表"],
          "案件移送": ["行政执法与刑事司法衔接案件移送情况月报表", "案件移送情况月报表"],
          "执法培训": ["执法人员资格考试及培训情况月报表", "执法培训情况月报表"]}
EXTRAS = {"行政检查": ["备注", "执法人员", "牵头科室"], "案件移送": ["备注", "承办科室"], "执法培训": ["备注"]}
EXTRA_VALUES = ["", "", "已整改", "跟踪回访", "张伟、李娜", "综合执法科", "按计划完成", "/"]
TOPICS = ["食品经营", "特种设备", "建筑工地扬尘", "危险化学品", "校外培训机构", "出租车运营", "娱乐场所",
          "用人单位劳动用工", "医疗机构", "燃气安全", "农资经营", "宗教活动场所", "价格收费", "耕地保护",
          "人员密集场所消防", "发票使用", "统计数据质量", "物业服务", "大气污染源", "餐饮油烟"]
OFFENCES = {"食品药品": ["生产销售不符合安全标准的食品", "销售假药"], "环境保护": ["污染环境"],
            "安全生产": ["重大责任事故", "非法经营危险化学品"], "劳动保障": ["拒不支付劳动报酬"],
            "其他": ["非法经营", "假冒注册商标"]}
TOTAL_LABELS = ["合计", "总计", "合 计", "小计", "合计数"]
PERIOD_SPELLINGS = {"period_cn": "{y}年{m}月", "period_dash": "{y}-{mm}", "period_dot": "{y}.{mm}",
                    "period_slash": "{y}/{m}"}
YN = [("是", "否"), ("Y", "N"), ("√", "×")]
FW = str.maketrans("0123456789", "０１２３４５６７８９")
LETTERS = "甲乙丙丁戊己庚辛壬癸"
POLICE = "常州市公安局钟楼分局"
BJT = dt.timezone(dt.timedelta(hours=8))
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)

# ---------------------------------------------------------------- the habit table
HABITS = {
    "title_merged": "title row merged across the table", "title_plain": "title row, not merged",
    "blank_rows_above": "blank rows above the header", "note_above": "a note (注/说明) above the header",
    "unit_note_above": "（单位：人） style note above the table",
    "unit_one_cell": "填报单位：X in one cell", "unit_label_value": "填报单位 label, value in next cell",
    "label_value_gap": "label, empty cell(s), then the value", "unit_alias": "unit written as an alias",
    "period_cn": "报告期 2021年3月", "period_dash": "报告期 2021-03", "period_dot": "报告期 2021.03",
    "period_slash": "报告期 2021/3", "table_no_block": "表号/制定机关/批准文号/有效期至 block top right",
    "label_space": "label with ASCII spaces", "label_fullwidth_space": "label with a full-width space",
    "label_linebreak": "label with a line break", "label_star": "* marking a required column",
    "label_unit_bracket": "unit in brackets after the label", "header_merged": "header cells merged down",
    "columns_shuffled": "columns in another order", "extra_column": "an extra column (备注…)",
    "seq_column": "序号 column on the left", "lanci_text": "栏次 row, numbers as text",
    "lanci_numbers": "栏次 row, numbers as numbers", "lanci_first_label": "栏次 row first cell 栏次/代码",
    "uom_row": "计量单位 row under the header", "num_text": "number typed as text",
    "num_fullwidth": "full-width digits", "num_thousands": "thousands separator", "num_with_unit": "number with a unit (12户)",
    "date_real": "real Excel date", "date_serial": "serial number (1900 system)",
    "date_serial_1904": "serial number counted on the 1904 epoch", "date_text_dash": "2021-03-05",
    "date_text_slash": "2021/3/5", "date_text_cn": "2021年3月5日", "date_text_dot": "2021.03.05",
    "yn_cn": "是/否", "yn_letter": "Y/N", "yn_tick": "√/×", "total_first": "total row right under the header",
    "total_last": "total row below the data", "total_合计": "合计", "total_总计": "总计", "total_合 计": "合 计",
    "total_小计": "小计", "total_合计数": "合计数", "total_in_seq_col": "total label in the 序号 column",
    "total_in_text_col": "total label in a text column", "total_in_number_col": "total label in a number column (left out)",
    "subtotals_then_total": "several 小计 rows then a 合计", "trailing_blank_formatted": "trailing blank rows with formatting",
    "footer": "填表人/联系电话/审核人 footer", "epoch_1904": "workbook saved with the 1904 date system",
    "nil_empty": "nil return: no data rows", "nil_本月无": "nil return: 本月无", "nil_无": "nil return: 无",
    "training_lanci_ambiguous": "执法培训: 栏次 row 1 2 3 4 5 then the data row",
    "joint_inspection": "joint inspection row", "case_relisted": "case listed again in a later month",
}
_TALLY = collections.Counter()


def tally(habit):
    assert habit in HABITS, habit
    _TALLY[habit] += 1


# ================================================================= the year's activity (rows)
def days(y, m):
    return calendar.monthrange(y, m)[1]


def gen_inspections(rng, year):
    """{(unit, month): [row]} -- task rows, joint inspections shared by 2-4 units."""
    out = collections.defaultdict(list)
    seq = collections.Counter()
    active = [u for u in UNITS if "行政检查" in u[3] and u[4] > 0]

    def row(u, m, method, n, joint_id=None, name=None):
        seq[u[0]] += 1
        d = dt.date(year, m, rng.randint(1, days(year, m)))
        issues = None if rng.random() < 0.25 else rng.randint(0, max(0, n // 2))
        out[(u[0], m)].append(dict(
            task_id=f"{u[1]}-{year}-{seq[u[0]]:03d}", task_name=name or f"{rng.choice(TOPICS)}{method}",
            method=method, entities_sampled=n, joint=joint_id is not None, joint_id=joint_id,
            completed_on=d, issues_found=issues))

    for k in range(1, rng.randint(12, 16) + 1):        # joint inspections
        m, base = rng.randint(1, 12), rng.randint(8, 40)
        name = f"{rng.choice(TOPICS)}部门联合双随机抽查"
        for u in rng.sample(active, rng.randint(2, 4)):
            row(u, m, "双随机", max(1, base - rng.choice([0, 0, 0, 1, 3, 6])), f"LH{year}-{k:02d}", name)
    for u in active:                                    # the unit's own tasks
        for m in range(1, 13):
            for _ in range(rng.choice({1: [0, 0, 1, 1, 2], 2: [0, 1, 2, 3, 4], 3: [0, 2, 3, 4, 6]}[u[4]])):
                method = rng.choice(["双随机", "专项检查", "日常检查"])
                row(u, m, method, rng.randint(*{"双随机": (3, 45), "专项检查": (2, 30), "日常检查": (1, 12)}[method]))
    for rows in out.values():
        rows.sort(key=lambda r: r["completed_on"])
    return out


def gen_transfers(rng, year):
    """{(unit, month): [row]} -- a case is listed when transferred and again when the police decide."""
    out = collections.defaultdict(list)
    units = [u for u in UNITS if "案件移送" in u[3]]

    def listing(u, m, case, decision, filed_on=None):
        out[(u[0], m)].append(dict(case, police_decision=decision, filed_on=filed_on))

    def case(u, tid, t_on):
        domain = rng.choice(list(OFFENCES))
        return dict(transfer_id=tid, offence=rng.choice(OFFENCES[domain]), domain=domain,
                    transferred_on=t_on, receiver=POLICE)

    for i, u in enumerate(units):
        for k in range(1, rng.randint(1, 4) + 1):
            m = rng.randint(1, 12)
            t_on = dt.date(year, m, rng.randint(1, days(year, m)))
            c = case(u, f"{u[1]}移{year}-{k:02d}", t_on)
            kind = rng.choice(["filed_now", "pending_then_filed", "pending_then_filed", "pending_then_refused", "refused_now"])
            if kind == "filed_now":
                listing(u, m, c, "已立案", dt.date(year, m, rng.randint(t_on.day, days(year, m))))
            elif kind == "refused_now":
                listing(u, m, c, "不予立案")
            else:
                listing(u, m, c, "待定")
                m2 = m + rng.randint(1, 3)
                if m2 + 1 < 13 and rng.random() < 0.3:        # listed again, still pending
                    listing(u, m2, c, "待定")
                    m2 += 1
                if m2 <= 12:                                  # otherwise still pending at year end
                    tally("case_relisted")
                    filed = dt.date(year, m2, rng.randint(1, days(year, m2)))
                    listing(u, m2, c, *(("已立案", filed) if kind == "pending_then_filed" else ("不予立案",)))
        if i < 2:   # a case transferred last December, decided this year (i=0) / decided last year (i=1)
            t_on = dt.date(year - 1, 12, rng.randint(1, 20))
            filed = dt.date(year, 1, rng.randint(5, 28)) if i == 0 else dt.date(year - 1, 12, 28)
            tally("case_relisted")
            listing(u, rng.randint(1, 2), case(u, f"{u[1]}移{year - 1}-09", t_on), "已立案", filed)
    return out


def gen_training(rng, year):
    """{(unit, month): row} -- one aggregate row per unit and month."""
    out = {}
    for u in UNITS:
        big = u[1] == "GAFJ"
        stock = rng.randint(1180, 1390) if big else rng.randint(8, 60)
        exam_months = set(rng.sample(range(1, 13), 2))
        for m in range(1, 13):
            stock = max(8, stock + rng.choice([0, 0, 0, 1, -1, 2, 3 if big else 0]))
            takers = rng.randint(3, 40 if big else 12) if m in exam_months else rng.choice([0] * 9 + [1, 2])
            sessions = rng.choices([0, 1, 2], [82, 15, 3])[0]
            out[(u[0], m)] = dict(certified_officers=stock, exam_takers=takers,
                                  exam_passed=rng.randint(takers * 6 // 10, takers), training_sessions=sessions,
                                  trained_officers=sum(rng.randint(3, 12) for _ in range(sessions)))
    return out


def compute_figures(insp, trans, train, year):
    """The seven figures, by our own reading of figures.csv's rules."""
    tasks = [(u, r) for (u, _m), rows in insp.items() for r in rows]
    joint = {}
    for _u, r in tasks:
        if r["joint"]:
            joint[r["joint_id"]] = max(joint.get(r["joint_id"], 0), r["entities_sampled"])
    latest = {}
    for (u, m) in sorted(trans, key=lambda k: k[1]):
        for r in trans[(u, m)]:
            latest[(u, r["transfer_id"])] = r
    return {
        "inspection_units": len({u for u, _r in tasks}),
        "inspection_tasks": len(tasks),
        "inspection_entities": sum(r["entities_sampled"] for _u, r in tasks if not r["joint"]) + sum(joint.values()),
        "joint_inspections": len(joint),
        "transfers_filed": sum(1 for r in latest.values()
                               if r["police_decision"] == "已立案" and r["filed_on"].year == year),
        "exam_takers": sum(r["exam_takers"] for r in train.values()),
        "trained_officers": sum(r["trained_officers"] for r in train.values()),
    }


# ================================================================= one small function per habit
class Sheet:
    """Per-sheet choices: columns, value styles, the 1904 flag."""

    def __init__(self, ws, form, rng, unit, year, month, e1904):
        self.ws, self.form, self.rng, self.unit, self.year, self.month, self.e1904 = ws, form, rng, unit, year, month, e1904
        self.cols = [dict(code=c, label=l, kind=k, uom=u, req=q) for c, l, k, u, q in FORMS[form]]
        self.num_style = rng.choice(["clean", "mixed"])
        self.date_style = rng.choice(["real", "mixed", "mixed"])
        self.yn = rng.randrange(3) if rng.random() < 0.85 else None
        self.plain = False

    @property
    def n(self):
        return len(self.cols)


def habit_columns(s, plain):
    """columns shuffled / extra column / 序号 column."""
    if plain:
        return
    if s.rng.random() < 0.3:
        s.rng.shuffle(s.cols); tally("columns_shuffled")
    if s.rng.random() < 0.3:
        s.cols.insert(s.rng.randint(1, s.n), dict(code=None, label=s.rng.choice(EXTRAS[s.form]), kind="extra", uom="", req=0))
        tally("extra_column")
    if s.rng.random() < 0.35:
        s.cols.insert(0, dict(code="#", label="序号", kind="seq", uom="", req=0)); tally("seq_column")


def habit_label(col, rng):
    """stray (full-width) spaces, line breaks, *, unit in brackets."""
    lab = col["label"]
    if col["kind"] in ("seq", "extra") or rng.random() < 0.45:
        return lab
    for habit in rng.sample(["label_space", "label_fullwidth_space", "label_linebreak", "label_star", "label_unit_bracket"], 2):
        cut = rng.randint(1, len(lab) - 1) if len(lab) > 1 else 1
        if habit == "label_space":
            lab = rng.choice([f" {lab} ", lab[:cut] + " " + lab[cut:], lab + "  "])
        elif habit == "label_fullwidth_space" and "\n" not in lab:
            lab = lab[:cut] + "\u3000" + lab[cut:]
        elif habit == "label_linebreak" and "\u3000" not in lab and " " not in lab:
            lab = lab[:cut] + "\n" + lab[cut:]
        elif habit == "label_star" and col["req"]:
            lab = "*" + lab if rng.random() < 0.8 else lab + "*"
        elif habit == "label_unit_bracket" and col["uom"]:
            lab += rng.choice(["（{}）", "({})"]).format(col["uom"])
        else:
            continue
        tally(habit)
    return lab


def habit_title(s, r):
    s.ws.cell(r, 1, s.rng.choice(TITLES[s.form])).font = Font(bold=True, size=16)
    if s.rng.random() < 0.7:
        s.ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=s.n); tally("title_merged")
        s.ws.cell(r, 1).alignment = Alignment(horizontal="center")
    else:
        tally("title_plain")
    return r + 1


def habit_table_no_block(s, r):
    """表号 block at the top right: not 填报单位, not 报告期."""
    for line in [f"表号：钟司统{list(FORMS).index(s.form) + 1}表", "制定机关：钟楼区司法局",
                 "批准文号：钟司〔2020〕18号", "有效期至：2022年12月"]:
        s.ws.cell(r, s.n, line).alignment = Alignment(horizontal="right"); r += 1
    tally("table_no_block")
    return r


def habit_unit_period(s, r):
    """填报单位 / 报告期 in one cell or label + value to the right (maybe after empty cells)."""
    name, _code, aliases, *_ = s.unit
    unit_name = name
    if s.rng.random() < 0.5:
        unit_name = s.rng.choice(aliases.split("|")); tally("unit_alias")
    key = s.rng.choice(list(PERIOD_SPELLINGS)); tally(key)
    period = PERIOD_SPELLINGS[key].format(y=s.year, m=s.month, mm=f"{s.month:02d}")
    same_row = s.rng.random() < 0.5
    col = 1
    for label, value in (("填报单位", unit_name), ("报告期", period)):
        colon = s.rng.choice(["：", "：", ":"])
        if s.rng.random() < 0.5:
            s.ws.cell(r, col, f"{label}{colon}{value}"); tally("unit_one_cell"); width = 1
        else:
            gap = 1 if s.rng.random() < 0.6 or same_row else 2
            s.ws.cell(r, col, label + s.rng.choice([colon, ""])); s.ws.cell(r, col + gap, value)
            tally("unit_label_value"); width = gap + 1
            if gap > 1:
                tally("label_value_gap")
        if same_row and label == "填报单位":
            col = max(col + width + 1, s.n - 1)
        else:
            r, col = r + 1, 1
    return r


def habit_notes(s, r):
    if s.rng.random() < 0.25:
        s.ws.cell(r, 1, s.rng.choice(["注：本表由各执法部门于次月8日前报送区司法局。", "说明：带*的为必填项。"]))
        tally("note_above"); r += 1
    if s.rng.random() < 0.25:
        note = {"行政检查": "（单位：户）", "案件移送": "（单位：件）", "执法培训": "（单位：人）"}[s.form]
        s.ws.cell(r, s.rng.choice([1, s.n]), note); tally("unit_note_above"); r += 1
    return r


def habit_blank_rows(s, r):
    if s.rng.random() < 0.3:
        tally("blank_rows_above"); return r + s.rng.randint(1, 2)
    return r


def lanci_values(s, numbers_as_int, first_label):
    """栏次 row: 甲乙丙… for descriptive columns, 1 2 3… for number columns."""
    vals, letters, nums = [], iter(LETTERS), iter(range(1, 20))
    for i, c in enumerate(s.cols):
        if i == 0 and first_label:
            vals.append(first_label)
        elif c["kind"] == "int":
            k = next(nums); vals.append(k if numbers_as_int else str(k))
        else:
            vals.append(next(letters))
    return vals


def habit_subrows(s, r, header_row, ambiguous):
    """栏次 and/or 计量单位 rows under the header (order random); header merged down into the unit row."""
    if ambiguous:
        for i in range(s.n):
            s.ws.cell(r, i + 1, i + 1).border = BOX
        tally("training_lanci_ambiguous"); tally("lanci_numbers")
        return r + 1
    has_numbers = any(c["kind"] == "int" for c in s.cols)          # 案件移送 has no unit to show
    kinds = [k for k, p in (("lanci", 0.4), ("uom", 0.3 if has_numbers else 0)) if s.rng.random() < p]
    s.rng.shuffle(kinds)
    for k in kinds:
        if k == "lanci":
            first = s.rng.choice(["栏次", "代码"]) if s.rng.random() < 0.35 else None
            as_int = s.rng.random() < 0.5
            tally("lanci_numbers" if as_int else "lanci_text")
            if first:
                tally("lanci_first_label")
            vals = lanci_values(s, as_int, first)
        else:
            tally("uom_row")
            vals = [c["uom"] if c["kind"] == "int" else "" for c in s.cols]
            if s.cols[0]["kind"] != "int" and s.rng.random() < 0.4:
                vals[0] = "计量单位"
            if r == header_row + 1 and s.rng.random() < 0.5:
                merged = False
                for i, v in enumerate(vals):
                    if v == "":
                        s.ws.merge_cells(start_row=header_row, start_column=i + 1, end_row=r, end_column=i + 1)
                        merged = True
                if merged:
                    tally("header_merged")
            else:
                vals = [v or s.rng.choice(["", "—"]) for v in vals]
        for i, v in enumerate(vals):
            if v != "":
                s.ws.cell(r, i + 1, v)
            s.ws.cell(r, i + 1).border = BOX
        r += 1
    return r


def enc_int(s, v, uom):
    """numbers as text, full-width digits, thousands separators, with a unit."""
    if v is None:
        return None
    style = "int" if s.num_style == "clean" else s.rng.choice(["int", "int", "num_text", "num_fullwidth", "num_with_unit", "num_thousands"])
    if v >= 1000 and s.num_style == "mixed" and s.rng.random() < 0.5:
        style = "num_thousands"
    if style == "num_thousands" and v < 1000 or style == "num_with_unit" and not uom:
        style = "num_text"
    if style != "int":
        tally(style)
    return {"int": v, "num_text": str(v), "num_fullwidth": str(v).translate(FW),
            "num_with_unit": f"{v}{uom}", "num_thousands": f"{v:,}"}[style]


def enc_date(s, d):
    """(value, number_format): real date, serial (1900 or 1904 epoch), or a text spelling."""
    if d is None:
        return None, None
    style = "date_real" if s.date_style == "real" else s.rng.choice(
        ["date_real", "date_serial", "date_text_dash", "date_text_slash", "date_text_cn", "date_text_dot"])
    if style == "date_serial":
        style = "date_serial_1904" if s.e1904 else "date_serial"
        tally(style)
        return (d - (dt.date(1904, 1, 1) if s.e1904 else dt.date(1899, 12, 30))).days, "General"
    tally(style)
    return {"date_real": (d, s.rng.choice(["yyyy-mm-dd", "yyyy/m/d", 'yyyy"年"m"月"d"日"'])),
            "date_text_dash": (d.strftime("%Y-%m-%d"), None), "date_text_slash": (f"{d.year}/{d.month}/{d.day}", None),
            "date_text_cn": (f"{d.year}年{d.month}月{d.day}日", None), "date_text_dot": (d.strftime("%Y.%m.%d"), None)}[style]


def enc_yesno(s, b):
    k = s.yn if s.yn is not None else s.rng.randrange(3)
    tally(["yn_cn", "yn_letter", "yn_tick"][k])
    return YN[k][0 if b else 1]


def write_row(s, r, cells):
    for i, (v, fmt) in enumerate(cells):
        c = s.ws.cell(r, i + 1)
        if v is not None and v != "":
            c.value = v
        if fmt:
            c.number_format = fmt
        c.border = BOX


def data_cells(s, row, seq_no):
    cells = []
    for c in s.cols:
        if c["kind"] == "seq":
            cells.append((seq_no, None))
        elif c["kind"] == "extra":
            cells.append((s.rng.choice(EXTRA_VALUES), None))
        elif c["kind"] == "int":
            cells.append((enc_int(s, row[c["code"]], c["uom"]), None))
        elif c["kind"] == "date":
            cells.append(enc_date(s, row[c["code"]]))
        elif c["kind"] == "yesno":
            cells.append((enc_yesno(s, row[c["code"]]), None))
        else:
            cells.append((row[c["code"]], None))
    if s.form == "行政检查" and row["joint"]:
        tally("joint_inspection")
    return cells


def total_cells(s, label, rows):
    """The label in the first column whatever it is; a number column holding it loses its total."""
    tally("total_" + label)
    tally({"seq": "total_in_seq_col", "int": "total_in_number_col"}.get(s.cols[0]["kind"], "total_in_text_col"))
    cells = [(label, None)]
    for c in s.cols[1:]:
        vals = [row[c["code"]] for row in rows if row[c["code"]] is not None] if c["kind"] == "int" else []
        cells.append((enc_int(s, sum(vals), c["uom"]) if vals else None, None))
    return cells


def habit_body(s, r, rows):
    """Data rows with a total first or last, or several 小计 (one per 检查方式) then maybe a 合计."""
    items = [("data", row) for row in rows]
    roll = s.rng.random()
    if s.plain:                                   # nothing between the 栏次 row and the data row
        pass
    elif s.form == "行政检查" and len(rows) >= 3 and roll < 0.2:
        items, groups = [], collections.OrderedDict()
        for row in rows:
            groups.setdefault(row["method"], []).append(row)
        for g in groups.values():
            items += [("data", row) for row in g] + [("total", ("小计", g))]
        tally("total_last")
        if len(groups) > 1 and s.rng.random() < 0.8:
            items.append(("total", ("合计", rows))); tally("subtotals_then_total")
    elif roll < 0.6:
        total = ("total", (s.rng.choice(TOTAL_LABELS), rows))
        first = s.rng.random() < 0.5
        items = [total] + items if first else items + [total]
        tally("total_first" if first else "total_last")
    seq_no = 0
    for kind, payload in items:
        if kind == "data":
            seq_no += 1
            write_row(s, r, data_cells(s, payload, seq_no))
        else:
            write_row(s, r, total_cells(s, *payload))
            for i in range(s.n):
                s.ws.cell(r, i + 1).font = Font(bold=True)
        r += 1
    return r


def habit_nil(s, r):
    """A nil return: header only, or 本月无 / 无 in the first data cell."""
    kind = s.rng.choice(["nil_empty", "nil_本月无", "nil_无"])
    tally(kind)
    if kind != "nil_empty":
        s.ws.cell(r, 1, kind[4:])
        if s.rng.random() < 0.4:
            s.ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=s.n)
        r += 1
    return r


def habit_trailing(s, r):
    if s.rng.random() < 0.35:
        fill = PatternFill("solid", fgColor="FFF2CC") if s.rng.random() < 0.4 else None
        for rr in range(r, r + s.rng.randint(2, 15)):
            for i in range(s.n):
                s.ws.cell(rr, i + 1).border = BOX
                if fill:
                    s.ws.cell(rr, i + 1).fill = fill
        tally("trailing_blank_formatted")
        return rr + 1
    return r


def habit_footer(s, r):
    if s.rng.random() < 0.55:
        who, chk = s.rng.choice(["王芳", "陈静", "刘洋", "周敏"]), s.rng.choice(["李强", "赵刚", "孙丽"])
        tel = s.rng.choice(["0519-8681%04d" % s.rng.randint(0, 9999), "139%08d" % s.rng.randint(0, 99999999)])
        parts = [f"填表人：{who}", f"联系电话：{tel}", f"审核人：{chk}"]
        if s.rng.random() < 0.5:
            s.ws.cell(r + 1, 1, "　　".join(parts))
        else:
            for i, p in enumerate(parts):
                s.ws.cell(r + 1, min(1 + 2 * i, s.n), p)
        tally("footer")
        return r + 2
    return r


# ================================================================= sheets, workbooks, the year
def write_sheet(wb, form, rows, unit, year, month, rng, e1904):
    ws = wb.create_sheet(form)
    s = Sheet(ws, form, rng, unit, year, month, e1904)
    ambiguous = form == "执法培训" and rng.random() < 0.1     # 栏次 1 2 3 4 5, then the data row
    s.plain = ambiguous
    if ambiguous:
        s.num_style = "clean"
    habit_columns(s, plain=ambiguous)
    r = habit_blank_rows(s, 1)
    block_first = rng.random() < 0.5
    if block_first and rng.random() < 0.4:
        r = habit_table_no_block(s, r)
    r = habit_title(s, r)
    if not block_first and rng.random() < 0.4:
        r = habit_table_no_block(s, r)
    r = habit_blank_rows(s, r)
    r = habit_unit_period(s, r)
    r = habit_notes(s, r)
    header = r
    for i, c in enumerate(s.cols):
        cell = ws.cell(r, i + 1, habit_label(c, rng))
        cell.font, cell.border = Font(bold=True), BOX
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
        ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width = 16
    r = habit_subrows(s, r + 1, header, ambiguous)
    r = habit_body(s, r, rows) if rows else habit_nil(s, r)
    r = habit_trailing(s, r)
    habit_footer(s, r)


def file_name(rng, unit, year, month):
    alias = rng.choice([unit[0]] + unit[2].split("|"))
    return rng.choice([f"{alias}{month}月报表.xlsx", f"{year}年{month}月{alias}月报.xlsx",
                       f"钟楼{unit[0].lstrip('区')}_{year}{month:02d}.xlsx", f"月报-{alias}（{month}月）.xlsx"])


def write_year(inbox: pathlib.Path, year: int = 2021, seed: int = 1101) -> dict:
    """Write the year's workbooks under inbox/<YYYY-MM>/ and return the seven figures."""
    rng = random.Random(seed)
    _TALLY.clear()
    insp, trans, train = gen_inspections(rng, year), gen_transfers(rng, year), gen_training(rng, year)
    inbox = pathlib.Path(inbox)
    for month in range(1, 13):
        folder = inbox / f"{year}-{month:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        used = set()
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        for idx, unit in enumerate(UNITS):
            wb = openpyxl.Workbook()
            wb.remove(wb.active)
            e1904 = rng.random() < 0.15
            if e1904:
                wb.epoch = CALENDAR_MAC_1904; tally("epoch_1904")
            for form in unit[3].split():
                rows = {"行政检查": insp.get((unit[0], month), []), "案件移送": trans.get((unit[0], month), []),
                        "执法培训": [train[(unit[0], month)]]}[form]
                write_sheet(wb, form, rows, unit, year, month, rng, e1904)
            wb.properties.creator = rng.choice(["Administrator", "user", "WPS_1612345678"])
            wb.properties.created = dt.datetime(ny, nm, 2, 16, 30)
            path = folder / file_name(rng, unit, year, month)
            while path.name in used:                       # two clerks chose the same name
                path = path.with_name(path.stem + "(1).xlsx")
            used.add(path.name)
            wb.save(path)
            stamp = dt.datetime(ny, nm, 3, 9, idx, tzinfo=BJT).timestamp()   # on time: before the 8th 06:00
            os.utime(path, (stamp, stamp))
    return compute_figures(insp, trans, train, year)


def habit_counts() -> collections.Counter:
    """Tally of the habits used by the last write_year(); every habit of the table is listed."""
    return collections.Counter({h: _TALLY.get(h, 0) for h in HABITS})


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "inbox")
    year = int(sys.argv[2]) if len(sys.argv) > 2 else 2021
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1101
    figures = write_year(out, year, seed)
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    counts = habit_counts()
    for h, n in counts.items():
        print(f"{n:6d}  {h:28s} {HABITS[h]}", file=sys.stderr)
    missing = [h for h, n in counts.items() if n == 0]
    print("MISSING HABITS: " + ", ".join(missing) if missing else "all habits used", file=sys.stderr)
