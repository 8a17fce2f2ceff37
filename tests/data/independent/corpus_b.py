#!/usr/bin/env python3
"""corpus_b — an independent acceptance corpus for the district's monthly returns (月报).

Written from the contract alone (forms.md, departments.csv, registry-forms.txt, figures.csv).
It writes a full year of monthly workbooks the way district clerks actually fill them in, and
returns the seven report figures computed from the generated data model (never by reading the
files back).

    write_year(inbox: pathlib.Path, year: int = 2022, seed: int = 2207) -> dict[str, int]

    python corpus_b.py OUT_DIR [--year 2022] [--seed 2207] [--tally]

Only the standard library and openpyxl are used.  Everything is deterministic for a given
(year, seed): the data model comes from random.Random(seed); each workbook's layout comes from
random.Random(f"{seed}|{unit}|{month}") so that layouts are stable too.  File mtimes are fixed
(between the 1st and the 7th of the following month, Beijing time, before the 8th 06:00 deadline).

check_corpus_b.py (same folder) reads a generated inbox back, validates every rule and total and
recomputes the figures.  After write_year() returns, LAST_TALLY holds a Counter of the clerk habits / house-style features
that were used (REQUIRED_HABITS lists the ones the contract asks for).
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import pathlib
import random
import sys
from collections import Counter, defaultdict

import openpyxl
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904

BJ = dt.timezone(dt.timedelta(hours=8))

# --------------------------------------------------------------------------------------------
# Contract data (copied from forms.md / departments.csv / registry-forms.txt)
# --------------------------------------------------------------------------------------------

F_INSP, F_CASE, F_TRAIN = "行政检查", "案件移送", "执法培训"
FORM_ORDER = (F_INSP, F_CASE, F_TRAIN)
TABLE_NO = {F_INSP: "钟司统1表", F_CASE: "钟司统2表", F_TRAIN: "钟司统3表"}

# (code, label, kind, required, unit-of-measure)
FORMS = {
    F_INSP: [
        ("task_id", "任务编号", "text", True, None),
        ("task_name", "任务名称", "text", True, None),
        ("method", "检查方式", "enum", True, None),
        ("entities_sampled", "抽取检查对象户数", "int", True, "户"),
        ("joint", "是否联合抽查", "yesno", True, None),
        ("joint_id", "联合抽查编号", "text", False, None),
        ("completed_on", "完成日期", "date", True, None),
        ("issues_found", "发现问题数", "int", False, "个"),
    ],
    F_CASE: [
        ("transfer_id", "移送编号", "text", True, None),
        ("offence", "案由", "text", True, None),
        ("domain", "领域", "enum", True, None),
        ("transferred_on", "移送日期", "date", True, None),
        ("receiver", "接收机关", "text", True, None),
        ("police_decision", "立案情况", "enum", True, None),
        ("filed_on", "立案日期", "date", False, None),
    ],
    F_TRAIN: [
        ("certified_officers", "持证执法人员数", "int", True, "人"),
        ("exam_takers", "参加执法资格考试人数", "int", True, "人"),
        ("exam_passed", "考试合格人数", "int", True, "人"),
        ("training_sessions", "专题培训场次", "int", True, "场"),
        ("trained_officers", "参加专题培训人数", "int", True, "人次"),
    ],
}

# code, official name, aliases, forms owed (registry-forms.txt)
UNITS = [
    ("SCJG", "区市场监督管理局", ["市场监管局", "区市场监管局", "钟楼区市场监督管理局"], (F_INSP, F_CASE, F_TRAIN)),
    ("WJW", "区卫生健康局", ["卫健局", "区卫健局", "区卫生健康委员会", "钟楼区卫生健康局"], (F_INSP, F_CASE, F_TRAIN)),
    ("CGJ", "区城市管理局", ["城管局", "区城管局", "区综合行政执法局", "钟楼区城市管理局"], (F_INSP, F_CASE, F_TRAIN)),
    ("STHJ", "常州市钟楼生态环境局", ["生态环境局", "钟楼生态环境局", "区生态环境局"], (F_INSP, F_CASE, F_TRAIN)),
    ("RSJ", "区人力资源和社会保障局", ["人社局", "区人社局", "钟楼区人力资源和社会保障局"], (F_INSP, F_CASE, F_TRAIN)),
    ("YJJ", "区应急管理局", ["应急局", "区应急局", "钟楼区应急管理局"], (F_INSP, F_CASE, F_TRAIN)),
    ("ZJJ", "区住房和城乡建设局", ["住建局", "区住建局", "钟楼区住房和城乡建设局"], (F_INSP, F_TRAIN)),
    ("SWJ", "区商务局", ["商务局", "钟楼区商务局"], (F_INSP, F_TRAIN)),
    ("JYJ", "区教育局", ["教育局", "钟楼区教育局"], (F_INSP, F_TRAIN)),
    ("WTL", "区文化体育和旅游局", ["文体旅局", "区文体旅局", "钟楼区文化体育和旅游局"], (F_INSP, F_CASE, F_TRAIN)),
    ("MZJ", "区民族宗教事务局", ["民宗局", "区民宗局"], (F_INSP, F_TRAIN)),
    ("NYJ", "区农业农村局", ["农业农村局", "区农业局"], (F_INSP, F_CASE, F_TRAIN)),
    ("FGJ", "区发展和改革局", ["发改局", "区发改局"], (F_INSP, F_TRAIN)),
    ("JTJ", "区交通运输局", ["交通局", "区交通运输局"], (F_INSP, F_TRAIN)),
    ("TJJ", "区统计局", ["统计局"], (F_INSP, F_TRAIN)),
    ("ZRZY", "常州市自然资源和规划局钟楼分局", ["自然资源分局", "钟楼自然资源分局"], (F_INSP, F_TRAIN)),
    ("XFJY", "区消防救援大队", ["消防大队", "钟楼消防救援大队"], (F_INSP, F_TRAIN)),
    ("SWSJ", "国家税务总局常州市钟楼区税务局", ["税务局", "区税务局"], (F_INSP, F_TRAIN)),
    ("CZJ", "区财政局", ["财政局"], (F_TRAIN,)),
    ("MZhJ", "区民政局", ["民政局", "区民政局"], (F_TRAIN,)),
    ("GAFJ", "常州市公安局钟楼分局", ["公安分局", "钟楼公安分局", "区公安分局"], (F_TRAIN,)),
]
UNIT_BY_CODE = {u[0]: u for u in UNITS}

FIGURE_CODES = ["inspection_units", "inspection_tasks", "inspection_entities", "joint_inspections",
                "transfers_filed", "exam_takers", "trained_officers"]

# --------------------------------------------------------------------------------------------
# Domain flavour for the data model
# --------------------------------------------------------------------------------------------

TASKS = {
    "SCJG": [("食品生产企业双随机抽查", "双随机"), ("特种设备使用单位专项检查", "专项检查"), ("农贸市场日常巡查", "日常检查"),
             ("药品零售企业双随机抽查", "双随机"), ("校园周边食品安全专项检查", "专项检查"), ("价格行为日常检查", "日常检查"),
             ("市场主体年报公示信息双随机抽查", "双随机")],
    "WJW": [("医疗机构依法执业双随机抽查", "双随机"), ("公共场所卫生专项检查", "专项检查"), ("生活饮用水卫生日常监督", "日常检查"),
            ("职业卫生专项检查", "专项检查"), ("学校卫生双随机抽查", "双随机")],
    "CGJ": [("渣土运输专项整治检查", "专项检查"), ("户外广告设施日常巡查", "日常检查"), ("燃气经营企业双随机抽查", "双随机"),
            ("市容环境卫生日常检查", "日常检查"), ("建筑垃圾处置双随机抽查", "双随机")],
    "STHJ": [("排污单位双随机抽查", "双随机"), ("危险废物规范化管理专项检查", "专项检查"), ("重点排污单位日常监管", "日常检查"),
             ("建设项目环评执行情况双随机抽查", "双随机")],
    "RSJ": [("用人单位劳动用工双随机抽查", "双随机"), ("根治欠薪专项检查", "专项检查"), ("人力资源服务机构双随机抽查", "双随机"),
            ("社会保险费缴纳日常检查", "日常检查")],
    "YJJ": [("工贸企业安全生产双随机抽查", "双随机"), ("危险化学品经营单位专项检查", "专项检查"), ("有限空间作业专项检查", "专项检查"),
            ("安全生产日常检查", "日常检查")],
    "ZJJ": [("建筑施工安全双随机抽查", "双随机"), ("物业服务企业日常检查", "日常检查"), ("房地产开发企业专项检查", "专项检查")],
    "SWJ": [("成品油经营企业双随机抽查", "双随机"), ("单用途预付卡专项检查", "专项检查"), ("再生资源回收日常检查", "日常检查")],
    "JYJ": [("校外培训机构双随机抽查", "双随机"), ("民办学校办学行为专项检查", "专项检查"), ("校外培训机构日常巡查", "日常检查")],
    "WTL": [("文化市场经营场所双随机抽查", "双随机"), ("旅行社经营行为专项检查", "专项检查"), ("网吧歌舞娱乐场所日常检查", "日常检查"),
            ("体育经营场所双随机抽查", "双随机")],
    "MZJ": [("宗教活动场所安全专项检查", "专项检查"), ("宗教活动场所日常检查", "日常检查")],
    "NYJ": [("农资经营门店双随机抽查", "双随机"), ("农产品质量安全专项检查", "专项检查"), ("动物诊疗机构日常检查", "日常检查"),
            ("种子市场双随机抽查", "双随机")],
    "FGJ": [("价格收费专项检查", "专项检查"), ("粮食流通双随机抽查", "双随机")],
    "JTJ": [("道路运输企业双随机抽查", "双随机"), ("机动车维修企业日常检查", "日常检查"), ("客运站场专项检查", "专项检查")],
    "TJJ": [("统计执法双随机抽查", "双随机")],
    "ZRZY": [("土地利用动态巡查", "日常检查"), ("测绘资质单位双随机抽查", "双随机"), ("违法用地专项检查", "专项检查")],
    "XFJY": [("消防安全重点单位双随机抽查", "双随机"), ("高层建筑消防安全专项检查", "专项检查"), ("人员密集场所日常消防检查", "日常检查")],
    "SWSJ": [("纳税人双随机抽查", "双随机"), ("发票使用专项检查", "专项检查")],
}
# p(nil month), min tasks, max tasks
ACTIVITY = {"SCJG": (0.0, 2, 6), "WJW": (0.1, 1, 4), "CGJ": (0.05, 2, 5), "STHJ": (0.1, 1, 4), "RSJ": (0.15, 1, 3),
            "YJJ": (0.1, 1, 4), "ZJJ": (0.25, 1, 3), "SWJ": (0.4, 1, 2), "JYJ": (0.3, 1, 3), "WTL": (0.25, 1, 3),
            "MZJ": (0.6, 1, 1), "NYJ": (0.3, 1, 3), "FGJ": (0.6, 1, 2), "JTJ": (0.35, 1, 2), "TJJ": (1.0, 0, 0),
            "ZRZY": (0.35, 1, 2), "XFJY": (0.15, 1, 4), "SWSJ": (0.4, 1, 2)}
TASK_ID_STYLE = {"SCJG": "SJ{y}-{n:03d}", "WJW": "钟卫监〔{y}〕{n}号", "CGJ": "CG-{yy}-{m:02d}-{n:02d}",
                 "STHJ": "HJJC{y}{n:03d}", "RSJ": "RS{y}-{n:02d}", "YJJ": "钟应急检〔{y}〕{n}号", "ZJJ": "ZJ-{y}-{n:03d}",
                 "SWJ": "SW{y}-{n:02d}", "JYJ": "JY{y}{m:02d}-{n:02d}", "WTL": "WTL-{y}-{n:03d}", "MZJ": "MZ{y}-{n:02d}",
                 "NYJ": "NY{y}-{n:03d}", "FGJ": "FG-{y}-{n:02d}", "JTJ": "JT{y}-{n:03d}", "TJJ": "TJ{y}-{n:02d}",
                 "ZRZY": "ZRZY-{y}-{n:03d}", "XFJY": "钟消检〔{y}〕{n}号", "SWSJ": "SWJC-{y}-{n:03d}"}
JOINT_NAMES = ["餐饮场所消防与食品安全部门联合双随机抽查", "建筑工地扬尘治理部门联合抽查", "危险化学品经营单位部门联合抽查",
               "校外培训机构部门联合检查", "农资市场部门联合抽查", "文化娱乐场所部门联合双随机抽查", "用人单位劳动用工部门联合抽查",
               "燃气经营企业部门联合抽查", "医疗美容机构部门联合双随机抽查", "旅游市场部门联合检查", "成品油经营企业部门联合抽查",
               "宗教活动场所消防安全部门联合检查", "加油站安全生产部门联合抽查", "大型商业综合体部门联合检查",
               "养老机构部门联合双随机抽查", "物流寄递企业部门联合抽查"]

CASE_UNITS = ["SCJG", "WJW", "CGJ", "STHJ", "RSJ", "YJJ", "WTL", "NYJ"]
OFFENCES = {
    "SCJG": [("生产销售不符合安全标准的食品", "食品药品"), ("生产销售有毒有害食品", "食品药品"), ("销售假冒注册商标的商品", "其他"),
             ("生产销售伪劣产品", "其他")],
    "WJW": [("非法行医", "其他"), ("生产销售假药", "食品药品"), ("非法组织卖血", "其他")],
    "CGJ": [("非法经营燃气", "安全生产"), ("非法处置建筑垃圾污染环境", "环境保护")],
    "STHJ": [("污染环境", "环境保护"), ("非法处置危险废物", "环境保护")],
    "RSJ": [("拒不支付劳动报酬", "劳动保障")],
    "YJJ": [("危险作业", "安全生产"), ("重大责任事故", "安全生产"), ("非法经营危险化学品", "安全生产")],
    "WTL": [("侵犯著作权", "其他"), ("非法经营出版物", "其他")],
    "NYJ": [("生产销售伪劣农药", "食品药品"), ("非法捕捞水产品", "环境保护")],
}
TRANSFER_ID_STYLE = {"SCJG": "钟市监移〔{y}〕{n}号", "WJW": "YS{y}-{n:02d}", "CGJ": "CGYS-{y}-{n:03d}", "STHJ": "HJYS{y}{n:02d}",
                     "RSJ": "钟人社移〔{y}〕{n}号", "YJJ": "{y}-YJ-{n:03d}", "WTL": "WTLYS-{y}-{n:02d}", "NYJ": "NYYS{y}-{n:02d}"}
RECEIVER = "常州市公安局钟楼分局"
TRAIN_SIZE = {"SCJG": 168, "WJW": 64, "CGJ": 132, "STHJ": 41, "RSJ": 36, "YJJ": 45, "ZJJ": 38, "SWJ": 17, "JYJ": 22,
              "WTL": 29, "MZJ": 8, "NYJ": 33, "FGJ": 14, "JTJ": 52, "TJJ": 9, "ZRZY": 47, "XFJY": 58, "SWSJ": 96,
              "CZJ": 12, "MZhJ": 15, "GAFJ": 1046}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹熊白孟秦邱侯江尹薛闫段雷黎史龙陶贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平",
         "刚", "桂英", "建华", "晓东", "海燕", "志强", "文", "婷", "琳", "晨"]

# --------------------------------------------------------------------------------------------
# Habits the contract asks to see (tally keys)
# --------------------------------------------------------------------------------------------

REQUIRED_HABITS = [
    # What clerks do
    "title_row", "title_merged", "blank_rows_above_header", "note_above_header", "header_merged_horizontal",
    "header_merged_vertical",
    "label_ascii_space", "label_fullwidth_space", "label_line_break", "label_star", "label_unit_in_brackets",
    "columns_shuffled", "extra_columns",
    "num_as_text", "num_fullwidth_digits", "num_thousands_separator", "num_with_unit", "num_real_with_format",
    "date_real_excel", "date_serial_1900", "date_serial_1904", "date_real_1904",
    "date_text_2020-12-03", "date_text_2020/12/3", "date_text_2020年12月3日", "date_text_2020.12.03",
    "yn_是", "yn_否", "yn_Y", "yn_N", "yn_√", "yn_×",
    "total_below_data", "total_under_header",
    "trailing_formatted_blank_rows", "footer",
    "unit_alias", "unit_official_name", "workbook_date1904",
    "unit_one_cell", "unit_label_value", "period_one_cell", "period_label_value",
    "period_2020年12月", "period_2020-12", "period_2020.12", "period_2020/12",
    "nil_no_data_rows", "nil_本月无", "nil_无", "nil_no_data_rows_with_zero_total",
    # house style of statistical returns
    "table_no_block", "seq_column", "lanci_row", "lanci_as_text", "lanci_as_numbers", "lanci_first_栏次",
    "lanci_first_代码", "unit_row", "unit_note_above",
    "total_label_合计", "total_label_总计", "total_label_合 计", "total_label_总 计", "total_label_小计",
    "total_label_合计数", "total_label_in_seq_column", "total_label_in_text_column",
    "total_label_in_number_column", "subtotals_then_total",
    "ambiguous_12345_lanci_training",
    # data realism
    "joint_inspection_rows", "joint_entities_differ", "case_pending_then_decided", "case_not_filed",
    "case_filed_prior_year",
]

LAST_TALLY: Counter = Counter()

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

FW = {ord(str(i)): chr(0xFF10 + i) for i in range(10)}
CN_LETTERS = "甲乙丙丁戊己庚辛壬癸子丑寅卯"


def month_end(y: int, m: int) -> dt.date:
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def rand_day(rng: random.Random, y: int, m: int, lo: dt.date | None = None, hi: dt.date | None = None) -> dt.date:
    a = dt.date(y, m, 1) if lo is None else lo
    b = month_end(y, m) if hi is None else hi
    return a + dt.timedelta(days=rng.randint(0, (b - a).days))


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "0519-8%07d" % rng.randint(0, 9999999)
    return "1%d%d%08d" % (rng.choice([3, 5, 8]), rng.randint(0, 9), rng.randint(0, 99999999))


# --------------------------------------------------------------------------------------------
# 1. The data model of the year
# --------------------------------------------------------------------------------------------

def build_model(year: int, seed: int):
    rng = random.Random(seed)
    T = LAST_TALLY
    insp_units = [u[0] for u in UNITS if F_INSP in u[3]]
    # ---- 行政检查 -------------------------------------------------------------------------
    raw = {u: {m: [] for m in range(1, 13)} for u in insp_units}
    for u in insp_units:
        p_nil, lo, hi = ACTIVITY[u]
        for m in range(1, 13):
            if rng.random() < p_nil:
                continue
            for _ in range(rng.randint(lo, hi)):
                name, method = rng.choice(TASKS[u])
                if method == "双随机":
                    ent = rng.randint(5, 40)
                elif method == "专项检查":
                    ent = rng.randint(8, 75)
                else:
                    ent = rng.randint(3, 30)
                raw[u][m].append(dict(task_name=rng.choice(["", f"{m}月", f"{year}年"]) + name, method=method,
                                      entities_sampled=ent, joint=False, joint_id=None,
                                      completed_on=rand_day(rng, year, m)))
    # two very large sampling exercises (thousands separators get a real workout)
    for u, m, nm in (("SCJG", rng.randint(3, 6), "市场主体年报公示信息双随机抽查"),
                     ("SWSJ", rng.randint(7, 11), "纳税人信用等级双随机抽查")):
        raw[u][m].append(dict(task_name=f"{year}年度{nm}", method="双随机", entities_sampled=rng.randint(1001, 1480),
                              joint=False, joint_id=None, completed_on=rand_day(rng, year, m)))
    # joint inspections (联合抽查)
    joints = []
    n_joint = rng.randint(12, 16)
    eligible = [u for u in insp_units if u != "TJJ"]
    names = rng.sample(JOINT_NAMES, n_joint)
    for k in range(1, n_joint + 1):
        m = rng.randint(1, 12)
        parts = rng.sample(eligible, rng.choice([2, 2, 3, 3, 4]))
        jid = f"钟联查〔{year}〕{k}号" if k % 3 else f"LHCC-{year}-{k:02d}"
        base = rng.randint(10, 60)
        day0 = rand_day(rng, year, m)
        counts = []
        for i, u in enumerate(parts):
            ent = base if (i == 0 or rng.random() < 0.4) else max(1, base - rng.randint(1, base // 2 + 1))
            counts.append(ent)
            d = day0 if rng.random() < 0.6 else rand_day(rng, year, m)
            raw[u][m].append(dict(task_name=names[k - 1], method=rng.choice(["双随机", "双随机", "专项检查"]),
                                  entities_sampled=ent, joint=True, joint_id=jid, completed_on=d))
        joints.append(dict(joint_id=jid, month=m, units=parts, counts=counts))
        T["joint_inspection_rows"] += len(parts)
        if len(set(counts)) > 1:
            T["joint_entities_differ"] += 1
    # task ids (chronological per unit) and issues found
    insp = {u: {m: [] for m in range(1, 13)} for u in insp_units}
    for u in insp_units:
        n = 0
        for m in range(1, 13):
            rows = sorted(raw[u][m], key=lambda r: r["completed_on"])
            for r in rows:
                n += 1
                r["task_id"] = TASK_ID_STYLE[u].format(y=year, yy=year % 100, m=m, n=n)
                r["issues_found"] = None if rng.random() < 0.18 else rng.randint(0, max(1, r["entities_sampled"] // 3))
                insp[u][m].append(r)
    # ---- 案件移送 -------------------------------------------------------------------------
    cases = {u: {m: [] for m in range(1, 13)} for u in CASE_UNITS}
    case_final = {}  # (unit, transfer_id) -> latest report
    for u in CASE_UNITS:
        carry = rng.random() < 0.4  # this clerk re-lists pending cases every month
        n_cases = rng.randint(3, 5) if u == "SCJG" else rng.randint(1, 4)
        plan = []
        for i in range(n_cases):
            m0 = rng.randint(1, 12)
            plan.append((m0, rand_day(rng, year, m0)))
        plan.sort()
        extra = []
        if u == "SCJG":   # transferred last year, filed last year, unit learns it in January: not counted
            extra.append(dict(transfer_id=f"钟市监移〔{year - 1}〕9号", offence="生产销售不符合安全标准的食品",
                              domain="食品药品", transferred_on=dt.date(year - 1, 12, 14),
                              months={1: ("已立案", dt.date(year - 1, 12, 29))}))
        if u == "RSJ":    # transferred last year, still pending in January, filed in January: counted
            extra.append(dict(transfer_id=f"钟人社移〔{year - 1}〕6号", offence="拒不支付劳动报酬", domain="劳动保障",
                              transferred_on=dt.date(year - 1, 11, 23),
                              months={1: ("待定", None), 2: ("已立案", dt.date(year, 1, 20))}))
        for i, (m0, t_on) in enumerate(plan, start=1):
            offence, domain = rng.choice(OFFENCES[u])
            tid = TRANSFER_ID_STYLE[u].format(y=year, n=i)
            outcome = rng.choices(["已立案", "不予立案", "待定"], [0.6, 0.2, 0.2])[0]
            lag = rng.choice([0, 1, 1, 2, 2, 3])
            md = m0 + lag
            months = {}
            if outcome == "待定" or md > 12:
                months[m0] = ("待定", None)
                if carry:
                    for mm in range(m0 + 1, 13):
                        months[mm] = ("待定", None)
            else:
                if md > m0:
                    months[m0] = ("待定", None)
                    if carry:
                        for mm in range(m0 + 1, md):
                            months[mm] = ("待定", None)
                filed = None
                if outcome == "已立案":
                    lo = max(t_on, dt.date(year, md, 1) - dt.timedelta(days=20))
                    filed = rand_day(rng, year, md, lo=lo)
                months[md] = (outcome, filed)
                if md < 12 and rng.random() < 0.2:
                    months[md + 1] = (outcome, filed)   # carried once more, same values
            extra.append(dict(transfer_id=tid, offence=offence, domain=domain, transferred_on=t_on, months=months))
        for c in extra:
            for m, (dec, filed) in sorted(c["months"].items()):
                rec = dict(transfer_id=c["transfer_id"], offence=c["offence"], domain=c["domain"],
                           transferred_on=c["transferred_on"],
                           receiver=RECEIVER if rng.random() < 0.85 else "钟楼公安分局",
                           police_decision=dec, filed_on=filed)
                cases[u][m].append(rec)
                case_final[(u, c["transfer_id"])] = (m, rec)
            seq = [c["months"][m][0] for m in sorted(c["months"])]
            if seq[0] == "待定" and seq[-1] != "待定":
                T["case_pending_then_decided"] += 1
            if seq[-1] == "不予立案":
                T["case_not_filed"] += 1
            last = c["months"][max(c["months"])]
            if last[0] == "已立案" and last[1].year < year:
                T["case_filed_prior_year"] += 1
        for m in range(1, 13):
            cases[u][m].sort(key=lambda r: (r["transferred_on"], r["transfer_id"]))
    # ---- 执法培训 -------------------------------------------------------------------------
    train = {}
    exam_months = sorted(rng.sample(range(3, 12), 2))
    for code, _, _, forms in UNITS:
        stock = TRAIN_SIZE[code]
        pending = 0
        train[code] = {}
        own_exam = rng.randint(1, 12) if rng.random() < 0.3 else None
        for m in range(1, 13):
            stock = max(0, stock + pending - (rng.randint(0, 2) if rng.random() < 0.3 else 0))
            pending = 0
            takers = passed = 0
            if m in exam_months or m == own_exam:
                takers = max(0, int(TRAIN_SIZE[code] * rng.uniform(0.02, 0.14)) + rng.randint(0, 3))
                if code == "GAFJ":
                    takers = min(takers, 60)
                passed = takers - rng.randint(0, takers // 4) if takers else 0
                pending = passed
            sessions = rng.choice([1, 1, 1, 2, 3]) if rng.random() < 0.22 else 0
            cap = min(TRAIN_SIZE[code], 45)
            trained = sum(rng.randint(max(1, cap // 3), cap) for _ in range(sessions))
            train[code][m] = dict(certified_officers=stock, exam_takers=takers, exam_passed=passed,
                                  training_sessions=sessions, trained_officers=trained)
    # ---- figures (my own reading of figures.csv rules) ----------------------------------
    all_rows = [r for u in insp for m in insp[u] for r in insp[u][m]]
    units_with_tasks = {u for u in insp for m in insp[u] if insp[u][m]}
    joint_max = {}
    ent = 0
    for r in all_rows:
        if r["joint"]:
            joint_max[r["joint_id"]] = max(joint_max.get(r["joint_id"], 0), r["entities_sampled"])
        else:
            ent += r["entities_sampled"]
    ent += sum(joint_max.values())
    latest = {}
    for u in cases:
        for m in range(1, 13):
            for r in cases[u][m]:
                latest[(u, r["transfer_id"])] = r     # later months overwrite earlier ones
    filed = sum(1 for r in latest.values()
                if r["police_decision"] == "已立案" and r["filed_on"] is not None and r["filed_on"].year == year)
    figures = {
        "inspection_units": len(units_with_tasks),
        "inspection_tasks": len(all_rows),
        "inspection_entities": ent,
        "joint_inspections": len(joint_max),
        "transfers_filed": filed,
        "exam_takers": sum(train[u][m]["exam_takers"] for u in train for m in train[u]),
        "trained_officers": sum(train[u][m]["trained_officers"] for u in train for m in train[u]),
    }
    return insp, cases, train, figures


# --------------------------------------------------------------------------------------------
# 2. Clerk styles
# --------------------------------------------------------------------------------------------

class Clerk:
    """Per unit house preferences, re-rolled now and then from month to month."""

    def __init__(self, seed: int, unit: str, month: int, form: str | None = None):
        self.seed, self.unit = seed, unit
        self.rng = random.Random(f"{seed}|{unit}|{month}|{form}")

    def pick(self, key, options, weights=None, stick=0.6):
        base = random.Random(f"{self.seed}|{self.unit}|pref|{key}").choices(options, weights)[0]
        if self.rng.random() < stick:
            return base
        return self.rng.choices(options, weights)[0]

    def chance(self, key, p, stick=0.5):
        return self.pick(key, [True, False], [p, 1 - p], stick)


THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEAD_FILL = PatternFill("solid", fgColor="D9E1F2")
LEFTOVER_FILL = PatternFill("solid", fgColor="FFF2CC")


class Col:
    def __init__(self, key, label, kind, required=False, unit=None, span=1, gen=None):
        self.key, self.label, self.kind, self.required, self.unit, self.span, self.gen = \
            key, label, kind, required, unit, span, gen

    @property
    def is_number(self):
        return self.kind in ("int", "num")


EXTRAS = {
    F_INSP: [
        ("备注", "text", None, lambda r: r.choice([None, None, None, "已责令整改", "立案查处1起", "移交属地街道", "无"])),
        ("检查科室", "text", None, lambda r: r.choice(["执法大队", "监督科", "一中队", "二中队", "法规科"])),
        ("出动执法人员", "int", "人次", lambda r: r.randint(2, 24)),
        ("检查人员", "text", None, lambda r: person(r) + "、" + person(r)),
    ],
    F_CASE: [
        ("备注", "text", None, lambda r: r.choice([None, None, "已函询公安", "补充材料后再移送"])),
        ("涉案金额", "num", "万元", lambda r: round(r.uniform(0.5, 80), 2)),
        ("承办人", "text", None, lambda r: person(r)),
    ],
    F_TRAIN: [
        ("备注", "text", None, lambda r: r.choice([None, None, "含新录用人员", "培训内容：民法典"])),
    ],
}


def noisy_label(label, unit, required, st, rng, T):
    s = label
    if unit and st["unit_brackets"] and rng.random() < 0.85:
        s += rng.choice(["（{}）", "（{}）", "({})"]).format(unit)
        T["label_unit_in_brackets"] += 1
    if rng.random() < st["noise_p"]:
        kind = rng.choice(["space", "fwspace", "newline"])
        pos = rng.randint(1, max(1, len(label) - 1))
        if kind == "space":
            s = rng.choice([" " + s, s + " ", " " + s + "  ", s[:pos] + " " + s[pos:]])
            T["label_ascii_space"] += 1
        elif kind == "fwspace":
            fill = "\u3000\u3000" if len(label) == 2 else "\u3000"
            s = s[:pos] + fill + s[pos:] if rng.random() < 0.7 else "\u3000" + s
            T["label_fullwidth_space"] += 1
        else:
            s = s[:pos] + "\n" + s[pos:]
            T["label_line_break"] += 1
    if required and st["star"]:
        s = "*" + s if rng.random() < 0.75 else s + "*"
        T["label_star"] += 1
    return s


def render_int(v, unit, st, rng, T):
    if v is None:
        return None, None
    style = st["int_style"] if rng.random() < 0.7 else rng.choice(["int", "int", "text", "fullwidth", "unit", "int_fmt"])
    if v >= 1000 and rng.random() < 0.7:
        style = rng.choice(["thousands", "int_fmt"])
    if style == "thousands" and v < 1000:
        style = "text"
    if style == "unit" and not unit:
        style = "text"
    if style == "int":
        return v, None
    if style == "int_fmt":
        T["num_real_with_format"] += 1
        return v, "#,##0"
    if style == "text":
        T["num_as_text"] += 1
        return str(v), "@"
    if style == "fullwidth":
        T["num_fullwidth_digits"] += 1
        return str(v).translate(FW), "@"
    if style == "thousands":
        T["num_thousands_separator"] += 1
        return f"{v:,}", "@"
    T["num_with_unit"] += 1
    return f"{v}{unit}", "@"


DATE_FORMATS = ["yyyy-mm-dd", "yyyy/m/d", 'yyyy"年"m"月"d"日"', "yyyy.mm.dd", "m/d/yyyy"]


def render_date(d, st, rng, T, epoch1904):
    if d is None:
        return None, None
    style = st["date_style"] if rng.random() < 0.75 else rng.choice(["real", "serial", "dash", "slash", "cn", "dot"])
    if style == "real":
        T["date_real_1904" if epoch1904 else "date_real_excel"] += 1
        return d, st["date_fmt"]
    if style == "serial":
        if epoch1904:
            T["date_serial_1904"] += 1
            return (d - dt.date(1904, 1, 1)).days, None
        T["date_serial_1900"] += 1
        return (d - dt.date(1899, 12, 30)).days, None
    if style == "dash":
        T["date_text_2020-12-03"] += 1
        return f"{d.year}-{d.month:02d}-{d.day:02d}", "@"
    if style == "slash":
        T["date_text_2020/12/3"] += 1
        return f"{d.year}/{d.month}/{d.day}", "@"
    if style == "cn":
        T["date_text_2020年12月3日"] += 1
        return f"{d.year}年{d.month}月{d.day}日", "@"
    T["date_text_2020.12.03"] += 1
    return f"{d.year}.{d.month:02d}.{d.day:02d}", "@"


YN = {"cn": ("是", "否"), "yn": ("Y", "N"), "tick": ("√", "×")}


def render_yn(b, st, rng, T):
    pair = YN[st["yn"] if rng.random() < 0.85 else rng.choice(list(YN))]
    v = pair[0] if b else pair[1]
    T["yn_" + v] += 1
    return v, None


def period_text(year, month, spelling, rng, T):
    T["period_" + {"cn": "2020年12月", "dash": "2020-12", "dot": "2020.12", "slash": "2020/12"}[spelling]] += 1
    if spelling == "cn":
        return f"{year}年{month}月" if rng.random() < 0.75 else f"{year}年{month:02d}月"
    if spelling == "dash":
        return f"{year}-{month:02d}"
    if spelling == "dot":
        return f"{year}.{month:02d}"
    return f"{year}/{month}" if rng.random() < 0.5 else f"{year}/{month:02d}"


# --------------------------------------------------------------------------------------------
# 3. Writing one sheet
# --------------------------------------------------------------------------------------------

class Grid:
    """Collects values, formats and merges, then writes them into a worksheet."""

    def __init__(self):
        self.cells = {}     # (r, c) -> (value, number_format, role)
        self.merges = []
        self.styled = set()

    def put(self, r, c, v, fmt=None, role="data"):
        if v is None and fmt is None:
            self.cells.setdefault((r, c), (None, None, role))
            return
        self.cells[(r, c)] = (v, fmt, role)

    def flush(self, ws):
        for (r, c), (v, fmt, role) in sorted(self.cells.items()):
            cell = ws.cell(row=r, column=c)
            if v is not None:
                cell.value = v
            if fmt:
                cell.number_format = fmt
            if role in ("head", "comp", "data", "total", "leftover"):
                cell.border = BORDER
            if role == "head":
                cell.font = Font(name="宋体", bold=True, size=10)
                cell.fill = HEAD_FILL
                cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            elif role == "title":
                cell.font = Font(name="黑体", size=16, bold=True)
                cell.alignment = Alignment(horizontal="center", vertical="center")
            elif role == "comp":
                cell.alignment = Alignment(horizontal="center")
            elif role == "total":
                cell.font = Font(name="宋体", bold=True, size=10)
            elif role == "leftover":
                cell.fill = LEFTOVER_FILL
        for (r1, c1, r2, c2) in self.merges:
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)


def build_columns(form, st, rng, T):
    cols = [Col(code, label, kind, req, unit) for code, label, kind, req, unit in FORMS[form]]
    if st["shuffle"]:
        while True:
            new = cols[:]
            rng.shuffle(new)
            if [c.key for c in new] != [c.key for c in cols]:
                break
        cols = new
        T["columns_shuffled"] += 1
    if st["extras"]:
        pool = EXTRAS[form][:]
        rng.shuffle(pool)
        for label, kind, unit, gen in pool[:st["extras"]]:
            c = Col("extra:" + label, label, kind, False, unit, gen=gen)
            if label == "备注" or rng.random() < 0.4:
                cols.append(c)
            else:
                cols.insert(rng.randint(1, len(cols)), c)
            T["extra_columns"] += 1
    if st["span_col"]:
        for c in cols:
            if c.key == st["span_col"]:
                c.span = 2
    if st["seq"]:
        cols.insert(0, Col("seq", "序号", "seq"))
        T["seq_column"] += 1
    return cols


def header_block(form, year, month, unit_display, W, st, rng, T):
    """Rows above the table header: list of dicts {cells:{col:(val,role)}, merge:(c1,c2)|None, kind}."""
    rows = []
    title = rng.choice([f"{form}情况月报表", f"{form}情况月报表", f"{year}年{month}月{form}情况月报表",
                        f"钟楼区{form}情况统计月报表", f"{form}情况统计表"])
    T["title_row"] += 1
    rows.append(dict(kind="title", cells={1: (title, "title")}, merge=st["title_merged"]))
    if st["title_merged"]:
        T["title_merged"] += 1
    if st["blank_after_title"]:
        rows.append(dict(kind="blank", cells={}, merge=False))
        T["blank_rows_above_header"] += 1
    if st["note"]:
        note = rng.choice(["说明：本表由承担行政执法职能的部门填报，每月8日前报送区司法局。",
                           "注：请如实填写，不得擅自改动表式。",
                           "填报说明：各栏数据应与台账一致，合计栏须与分项之和相等。",
                           "（本表数据报区司法局行政执法监督科）"])
        rows.append(dict(kind="note", cells={1: (note, "note")}, merge=rng.random() < 0.3))
        T["note_above_header"] += 1
    # 填报单位 / 报告期
    ptxt = period_text(year, month, st["period_spelling"], rng, T)
    lay = st["unit_period_layout"]
    u_lab = rng.choice(["填报单位：", "填报单位：", "填报单位"])
    p_lab = rng.choice(["报告期：", "报告期：", "报告期"])
    if lay == "one_cell_same_row":
        pc = rng.randint(max(3, W // 2), max(3, W - 1)) if W > 3 else 2
        rows.append(dict(kind="up", cells={1: ("填报单位：" + rng.choice(["", "", " "]) + unit_display, None),
                                           pc: ("报告期：" + ptxt, None)}, merge=False))
        T["unit_one_cell"] += 1
        T["period_one_cell"] += 1
    elif lay == "one_cell_two_rows":
        a = dict(kind="up", cells={1: ("填报单位：" + unit_display, None)}, merge=False)
        b = dict(kind="up", cells={1: ("报告期：" + ptxt, None)}, merge=False)
        rows.extend([a, b] if rng.random() < 0.7 else [b, a])
        T["unit_one_cell"] += 1
        T["period_one_cell"] += 1
    elif lay == "label_value_same_row":
        # four increasing columns inside 1..W
        cands = [c for c in range(2, W + 1)]
        vc, plc, pvc = sorted(rng.sample(cands, 3)) if len(cands) >= 3 else (2, 3, 4)
        rows.append(dict(kind="up", cells={1: (u_lab, None), vc: (unit_display, None), plc: (p_lab, None),
                                           pvc: (ptxt, None)}, merge=False))
        T["unit_label_value"] += 1
        T["period_label_value"] += 1
    elif lay == "label_value_two_rows":
        rows.append(dict(kind="up", cells={1: (u_lab, None), rng.choice([2, 2, 3]): (unit_display, None)}, merge=False))
        rows.append(dict(kind="up", cells={1: (p_lab, None), rng.choice([2, 2, 3]): (ptxt, None)}, merge=False))
        T["unit_label_value"] += 1
        T["period_label_value"] += 1
    else:  # mixed: unit in one cell, period as label + value further right
        plc = rng.randint(max(2, W // 2), max(2, W - 2))
        rows.append(dict(kind="up", cells={1: ("填报单位：" + unit_display, None), plc: (p_lab, None),
                                           min(W, plc + rng.choice([1, 2])): (ptxt, None)}, merge=False))
        T["unit_one_cell"] += 1
        T["period_label_value"] += 1
    if st["unit_note"]:
        txt = {F_INSP: rng.choice(["（单位：户）", "单位：户、个", "（计量单位：户）"]),
               F_CASE: rng.choice(["（单位：件）", "单位：件"]),
               F_TRAIN: rng.choice(["（单位：人）", "单位：人、场", "（单位：人、场、人次）"])}[form]
        rows.append(dict(kind="unote", cells={rng.choice([1, W]): (txt, None)}, merge=False))
        T["unit_note_above"] += 1
    if st["blank_before_header"]:
        for _ in range(rng.randint(1, 2)):
            rows.append(dict(kind="blank", cells={}, merge=False))
        T["blank_rows_above_header"] += 1
    # 表号 block at the top right
    if st["table_no"]:
        T["table_no_block"] += 1
        lines = [("表号：", TABLE_NO[form]), ("制定机关：", "钟楼区司法局"),
                 ("批准文号：", rng.choice(["钟司〔2021〕8号", "钟司发〔2021〕15号"])),
                 ("有效期至：", rng.choice(["2023年12月", "2024年12月31日", "2023年12月31日"]))]
        split = st["table_no_split"] and W >= 6
        tb_first = W - 1 if split else W
        out = []
        queue = list(lines)
        if st["table_no_on_top"]:
            for lab, val in queue:
                cells = {W - 1: (lab, None), W: (val, None)} if split else {W: (lab + val, None)}
                out.append(dict(kind="tb", cells=cells, merge=False))
            queue = []
        for row in rows:
            used = max(list(row["cells"]) or [0])
            ok = queue and (row["kind"] in ("title", "blank", "note") or used < tb_first) and \
                (row["kind"] != "note" or not row["merge"])
            if queue and not ok:
                while queue:
                    lab, val = queue.pop(0)
                    cells = {W - 1: (lab, None), W: (val, None)} if split else {W: (lab + val, None)}
                    out.append(dict(kind="tb", cells=cells, merge=False))
            if queue and ok:
                lab, val = queue.pop(0)
                row = dict(row, cells=dict(row["cells"]))
                if split:
                    row["cells"][W - 1] = (lab, None)
                    row["cells"][W] = (val, None)
                else:
                    row["cells"][W] = (lab + val, None)
                row["tb_first"] = tb_first
                if row["kind"] == "blank":
                    row["kind"] = "tb"
            out.append(row)
        while queue:
            lab, val = queue.pop(0)
            cells = {W - 1: (lab, None), W: (val, None)} if split else {W: (lab + val, None)}
            out.append(dict(kind="tb", cells=cells, merge=False))
        rows = out
    return rows


def sheet_style(clerk: Clerk, form, rec_count, nil):
    r = clerk.rng
    st = dict(
        seq=clerk.chance(form + "seq", 0.5),
        shuffle=clerk.chance(form + "shuffle", 0.25, stick=0.7),
        extras=clerk.pick(form + "extras", [0, 0, 1, 2]),
        span_col=None,
        noise_p=clerk.pick("noise", [0.0, 0.15, 0.35, 0.6]),
        star=clerk.chance("star", 0.25),
        unit_brackets=clerk.chance("ubr", 0.35),
        lanci=clerk.chance(form + "lanci", 0.35),
        lanci_text=clerk.chance("lanci_text", 0.5),
        lanci_first=clerk.pick("lanci_first", ["code", "栏次", "代码"], [0.5, 0.3, 0.2]),
        unit_row=clerk.chance(form + "unit_row", 0.3),
        unit_row_first=clerk.chance("unit_row_first", 0.5),
        comp_order=clerk.pick("comp_order", ["lanci_first", "unit_first"]),
        vmerge=r.random() < 0.5,
        total=clerk.pick(form + "total", [None, "first", "last"], [0.45, 0.27, 0.28]),
        total_label=clerk.pick("total_label", ["合计", "总计", "合 计", "总 计", "合计数", "合\u3000计"],
                               [0.35, 0.15, 0.15, 0.1, 0.15, 0.1]),
        groups=r.random() < 0.4,
        title_merged=clerk.chance("title_merged", 0.75),
        blank_after_title=clerk.chance("blank_after_title", 0.35),
        note=clerk.chance("note", 0.25),
        period_spelling=clerk.pick("period", ["cn", "dash", "dot", "slash"], [0.4, 0.2, 0.2, 0.2]),
        unit_period_layout=clerk.pick("uplayout", ["one_cell_same_row", "one_cell_two_rows", "label_value_same_row",
                                                   "label_value_two_rows", "mixed"]),
        unit_note=clerk.chance(form + "unote", 0.2),
        blank_before_header=clerk.chance("blank_before_header", 0.3),
        table_no=clerk.chance("table_no", 0.4),
        table_no_split=clerk.chance("table_no_split", 0.35),
        table_no_on_top=clerk.chance("table_no_top", 0.4),
        int_style=clerk.pick("int_style", ["int", "text", "fullwidth", "unit", "int_fmt"], [0.45, 0.2, 0.1, 0.15, 0.1]),
        date_style=clerk.pick("date_style", ["real", "serial", "dash", "slash", "cn", "dot"],
                              [0.35, 0.15, 0.15, 0.1, 0.15, 0.1]),
        date_fmt=clerk.pick("date_fmt", DATE_FORMATS),
        yn=clerk.pick("yn", ["cn", "yn", "tick"], [0.5, 0.25, 0.25]),
        footer=clerk.chance("footer", 0.6),
        footer_gap=clerk.pick("footer_gap", [0, 1, 1, 2]),
        footer_split=clerk.chance("footer_split", 0.5),
        trailing=clerk.chance("trailing", 0.35),
        nil_style=clerk.pick(form + "nil", ["empty", "本月无", "无", "empty_total0"], [0.35, 0.3, 0.25, 0.1]),
        nil_merge=r.random() < 0.4,
        span_data_merge=r.random() < 0.6,
        ambiguous=False,
    )
    if form in (F_INSP, F_CASE) and r.random() < 0.12:
        st["span_col"] = "task_name" if form == F_INSP else "offence"
    if form == F_CASE:
        st["total"] = None          # a register: no numeric columns to total
        st["unit_brackets"] = False
        st["unit_row"] = False      # nothing to measure: the row would be blank and end the table
    if form == F_TRAIN and r.random() < 0.08:
        st["ambiguous"] = True
    return st


def write_sheet(ws, form, unit, year, month, recs, clerk: Clerk, epoch1904, forced, T):
    rng = clerk.rng
    nil = not recs
    st = sheet_style(clerk, form, len(recs), nil)
    st.update(forced.get(form, {}))
    if st["ambiguous"]:
        # a one-row all-number return with a `1 2 3 4 5` 栏次 row directly under the header
        st.update(seq=False, shuffle=False, extras=0, lanci=True, unit_row=False, total=None, span_col=None,
                  lanci_first="code")
        T["ambiguous_12345_lanci_training"] += 1
    if epoch1904 and forced.get("_serial"):
        st["date_style"] = "serial"
    cols = build_columns(form, st, rng, T)
    W = sum(c.span for c in cols)
    pos, c = [], 1
    for col in cols:
        pos.append(c)
        c += col.span
    code, name, aliases, _ = UNIT_BY_CODE[unit]
    if rng.random() < 0.55:
        unit_display = rng.choice(aliases)
        T["unit_alias"] += 1
    else:
        unit_display = name
        T["unit_official_name"] += 1

    g = Grid()
    r = 1
    for row in header_block(form, year, month, unit_display, W, st, rng, T):
        for cc, (v, role) in row["cells"].items():
            g.put(r, cc, v, None, role or "meta")
        if row.get("merge") and row["kind"] in ("title", "note"):
            end = row.get("tb_first", W + 1) - 1
            if end > 1:
                g.merges.append((r, 1, r, end))
        r += 1
    # ---- header row
    head_r = r
    for col, p in zip(cols, pos):
        lab = col.label if col.key == "seq" else noisy_label(col.label, col.unit, col.required, st, rng, T)
        g.put(r, p, lab, None, "head")
        for k in range(1, col.span):
            g.put(r, p + k, None, None, "head")
        if col.span > 1:
            g.merges.append((r, p, r, p + col.span - 1))
            T["header_merged_horizontal"] += 1
    r += 1
    # ---- companion rows
    comps = []
    if st["lanci"]:
        comps.append("lanci")
    if st["unit_row"]:
        comps.append("unit")
    if len(comps) == 2 and st["comp_order"] == "unit_first":
        comps.reverse()
    vmerge_cols = set()
    if comps == ["unit"] and st["vmerge"]:
        for i, col in enumerate(cols):
            if not col.is_number and col.span == 1 and not (i == 0 and st["unit_row_first"]):
                vmerge_cols.add(i)
    for comp in comps:
        if comp == "lanci":
            T["lanci_row"] += 1
            li = ni = 0
            for i, (col, p) in enumerate(zip(cols, pos)):
                if col.is_number:
                    ni += 1
                    v = str(ni) if st["lanci_text"] else ni
                else:
                    v = CN_LETTERS[li]
                    li += 1
                if i == 0 and not col.is_number and st["lanci_first"] != "code":
                    v = st["lanci_first"]
                    T["lanci_first_" + v] += 1
                g.put(r, p, v, "@" if isinstance(v, str) else None, "comp")
                if col.span > 1:
                    g.put(r, p + 1, None, None, "comp")
                    g.merges.append((r, p, r, p + col.span - 1))
            T["lanci_as_text" if st["lanci_text"] else "lanci_as_numbers"] += 1
        else:
            T["unit_row"] += 1
            for i, (col, p) in enumerate(zip(cols, pos)):
                v = col.unit if col.is_number else None
                if i == 0 and not col.is_number and st["unit_row_first"]:
                    v = "计量单位"
                if i in vmerge_cols:
                    g.merges.append((head_r, p, r, p + col.span - 1))
                    T["header_merged_vertical"] += 1
                else:
                    g.put(r, p, v, None, "comp")
                    if col.span > 1:
                        g.put(r, p + 1, None, None, "comp")
                        g.merges.append((r, p, r, p + col.span - 1))
        r += 1

    # ---- body
    def put_row(kind, values, label=None):
        nonlocal r
        for i, (col, p) in enumerate(zip(cols, pos)):
            if i == 0 and label is not None:
                g.put(r, p, label, "@", "total")
            else:
                v, fmt = values[i]
                g.put(r, p, v, fmt, "total" if label else "data")
            for k in range(1, col.span):
                g.put(r, p + k, None, None, "total" if label else "data")
            if col.span > 1 and (label or st["span_data_merge"]):
                g.merges.append((r, p, r, p + col.span - 1))
        r += 1

    def total_values(rows_vals, label):
        vals = []
        for i, col in enumerate(cols):
            if col.kind == "int":
                xs = [rv[i] for rv in rows_vals if rv[i] is not None]
                s = sum(xs) if xs else None
                if s is not None and rng.random() < 0.2:
                    vals.append(render_int(s, col.unit, dict(st, int_style="text"), rng, T))
                else:
                    vals.append((s, None))
            else:
                vals.append((None, None))
        first = cols[0]
        if first.key == "seq":
            T["total_label_in_seq_column"] += 1
        elif first.is_number:
            T["total_label_in_number_column"] += 1
        else:
            T["total_label_in_text_column"] += 1
        T["total_label_" + label] += 1
        return vals

    # raw per-row column values (python values) and rendered cells
    raw_rows, cell_rows = [], []
    for n, rec in enumerate(recs, start=1):
        raw, cells = [], []
        for col in cols:
            if col.key == "seq":
                raw.append(None)
                cells.append((n if rng.random() < 0.9 else str(n), None))
            elif col.key.startswith("extra:"):
                v = col.gen(rng)
                raw.append(v if col.kind == "int" else None)
                if col.kind == "int":
                    cells.append(render_int(v, col.unit, st, rng, T))
                elif col.kind == "num":
                    cells.append((v, "0.00"))
                else:
                    cells.append((v, None))
            else:
                v = rec[col.key]
                raw.append(v if col.kind == "int" else None)
                if col.kind == "int":
                    cells.append(render_int(v, col.unit, st, rng, T))
                elif col.kind == "date":
                    cells.append(render_date(v, st, rng, T, epoch1904))
                elif col.kind == "yesno":
                    cells.append(render_yn(v, st, rng, T))
                else:
                    cells.append((v, None))
        raw_rows.append(raw)
        cell_rows.append(cells)

    if nil:
        ns = st["nil_style"]
        if ns in ("本月无", "无"):
            T["nil_" + ns] += 1
            g.put(r, 1, ns, None, "data")
            for cc in range(2, W + 1):
                g.put(r, cc, None, None, "data")
            if st["nil_merge"] and W > 1:
                g.merges.append((r, 1, r, W))
            r += 1
        elif ns == "empty_total0" and any(c.kind == "int" for c in cols[1:]):
            T["nil_no_data_rows_with_zero_total"] += 1
            label = st["total_label"]
            vals = [(0, None) if c.kind == "int" else (None, None) for c in cols]
            T["total_label_" + label] += 1
            put_row("total", vals, label)
        else:
            T["nil_no_data_rows"] += 1
    else:
        total = st["total"] if any(c.kind == "int" for c in cols[1:]) else None
        if total and len(recs) == 1 and form != F_TRAIN and rng.random() < 0.5:
            total = None
        order = list(range(len(recs)))
        grouped = (form == F_INSP and total == "last" and st["groups"] and len(recs) >= 3
                   and len({rec["method"] for rec in recs}) >= 2)
        if grouped:
            order.sort(key=lambda i: (["双随机", "专项检查", "日常检查"].index(recs[i]["method"]), i))
        if total == "first":
            label = st["total_label"]
            put_row("total", total_values(raw_rows, label), label)
            T["total_under_header"] += 1
        seqn = 0
        group = []
        for k, i in enumerate(order):
            cells = list(cell_rows[i])
            if cols[0].key == "seq":
                seqn += 1
                cells[0] = (seqn if not isinstance(cells[0][0], str) else str(seqn), None)
            put_row("data", cells)
            group.append(i)
            if grouped and (k == len(order) - 1 or recs[order[k + 1]]["method"] != recs[i]["method"]):
                put_row("total", total_values([raw_rows[j] for j in group], "小计"), "小计")
                group = []
        if total == "last":
            if grouped:
                label = rng.choice(["合计", "总计", "合 计", "合计数"])
                T["subtotals_then_total"] += 1
            else:
                label = st["total_label"] if rng.random() < 0.8 else "小计"
            put_row("total", total_values(raw_rows, label), label)
            T["total_below_data"] += 1
    table_end = r
    # ---- footer
    if st["footer"]:
        r += st["footer_gap"]
        who, rev = person(rng), person(rng)
        tel = phone(rng)
        T["footer"] += 1
        if st["footer_split"] and W >= 4:
            g.put(r, 1, "填表人：" + who, None, "meta")
            g.put(r, max(2, W // 2), "联系电话：" + tel, None, "meta")
            g.put(r, W, "审核人：" + rev, None, "meta")
        else:
            extra = rng.choice(["", "　　单位负责人：" + person(rng),
                                f"　　报出日期：{year if month < 12 else year + 1}年{month % 12 + 1}月{rng.randint(1, 7)}日"])
            g.put(r, 1, f"填表人：{who}　　联系电话：{tel}　　审核人：{rev}{extra}", None, "meta")
        r += 1
    # ---- trailing blank rows with leftover formatting
    if st["trailing"]:
        T["trailing_formatted_blank_rows"] += 1
        for k in range(rng.randint(3, 25)):
            for cc in range(1, W + 1):
                g.put(r + k, cc, None, None, "leftover")
    g.flush(ws)
    for i, col in enumerate(cols):
        ws.column_dimensions[get_column_letter(pos[i])].width = 6 if col.key == "seq" else rng.choice([10, 12, 14, 18])
    ws.row_dimensions[head_r].height = 36
    return st


# --------------------------------------------------------------------------------------------
# 4. Workbooks
# --------------------------------------------------------------------------------------------

def file_name(unit, year, month, rng, used):
    code, name, aliases, _ = UNIT_BY_CODE[unit]
    who = rng.choice([name] + aliases)
    pats = [f"{who}{year}年{month}月执法统计月报", f"附件{rng.randint(1, 3)}：{month}月份行政执法统计报表（{who}）",
            f"{month}月报表-{who}", f"{who}-{year}{month:02d}", f"{who}月报{year}.{month}", "月报表",
            "新建 Microsoft Excel 工作表", f"{who}{(month - 2) % 12 + 1}月月报（已更新）", f"{who}报司法局"]
    base = rng.choice(pats)
    fname, k = base, 1
    while fname in used:
        k += 1
        fname = f"{base} ({k})"
    used.add(fname)
    return fname + ".xlsx"


def write_year(inbox: pathlib.Path, year: int = 2022, seed: int = 2207) -> dict[str, int]:
    inbox = pathlib.Path(inbox)
    LAST_TALLY.clear()
    T = LAST_TALLY
    insp, cases, train, figures = build_model(year, seed)
    # a few deliberate placements so every habit of the contract shows up whatever the draw
    written = set()
    forced = defaultdict(dict)
    forced[("SCJG", 5)] = {"_1904": True, "_serial": True}
    forced[("CGJ", 9)] = {"_1904": True}
    forced[("CZJ", 6)] = {F_TRAIN: {"ambiguous": True}}
    forced[("GAFJ", 11)] = {F_TRAIN: {"ambiguous": True, "lanci_text": True}}
    forced[("WJW", 3)] = {F_INSP: {"total": "last", "groups": True}}
    forced[("XFJY", 7)] = {F_INSP: {"total": "first", "seq": False, "shuffle": False}}
    forced[("TJJ", 2)] = {F_INSP: {"nil_style": "本月无"}}
    forced[("TJJ", 4)] = {F_INSP: {"nil_style": "无"}}
    forced[("TJJ", 8)] = {F_INSP: {"nil_style": "empty_total0", "extras": 0}}
    forced[("TJJ", 10)] = {F_INSP: {"nil_style": "empty"}}
    forced[("YJJ", 6)] = {F_INSP: {"shuffle": True, "seq": False, "total": "last"}}
    for m in range(1, 13):
        mdir = inbox / f"{year}-{m:02d}"
        mdir.mkdir(parents=True, exist_ok=True)
        used = set()
        for code, name, aliases, forms in UNITS:
            frc = forced.get((code, m), {})
            wrng = random.Random(f"{seed}|{code}|{m}|wb")
            wb = openpyxl.Workbook()
            epoch1904 = frc.get("_1904", False) or wrng.random() < 0.07
            if epoch1904:
                wb.epoch = CALENDAR_MAC_1904
                T["workbook_date1904"] += 1
            order = list(forms)
            if wrng.random() < 0.25:
                wrng.shuffle(order)
            first = True
            for form in order:
                ws = wb.active if first else wb.create_sheet()
                ws.title = form
                first = False
                recs = {F_INSP: lambda: insp[code][m], F_CASE: lambda: cases[code][m],
                        F_TRAIN: lambda: [train[code][m]]}[form]()
                clerk = Clerk(seed, code, m, form)
                write_sheet(ws, form, code, year, m, recs, clerk, epoch1904, frc, T)
            wb.properties.creator = wrng.choice(["Administrator", "user", "WPS_1589342781", person(wrng), "lenovo"])
            path = mdir / file_name(code, year, m, wrng, used)
            wb.save(path)
            written.add(path)
            ny, nm = (year, m + 1) if m < 12 else (year + 1, 1)
            ts = dt.datetime(ny, nm, wrng.randint(1, 7), wrng.randint(8, 21), wrng.randint(0, 59),
                             wrng.randint(0, 59), tzinfo=BJ).timestamp()
            os.utime(path, (ts, ts))
    stale = sorted(p for m in range(1, 13) for p in (inbox / f"{year}-{m:02d}").glob("*.xlsx") if p not in written)
    if stale:
        print(f"corpus_b: warning: {len(stale)} workbook(s) in {inbox} were not written by this run "
              f"(e.g. {stale[0].name}); the figures refer only to the files written now", file=sys.stderr)
    return dict(figures)


def missing_habits() -> list[str]:
    return [h for h in REQUIRED_HABITS if LAST_TALLY.get(h, 0) == 0]


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--year", type=int, default=2022)
    ap.add_argument("--seed", type=int, default=2207)
    ap.add_argument("--tally", action="store_true", help="also print the habit tally (to stderr)")
    a = ap.parse_args(argv)
    figs = write_year(pathlib.Path(a.out_dir), a.year, a.seed)
    print(json.dumps(figs, ensure_ascii=False, indent=1))
    if a.tally:
        print(json.dumps(dict(sorted(LAST_TALLY.items())), ensure_ascii=False, indent=1), file=sys.stderr)
        miss = missing_habits()
        print("missing habits:", miss or "none", file=sys.stderr)


if __name__ == "__main__":
    main()
