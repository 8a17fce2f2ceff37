"""A deterministic sample year of monthly returns: one workbook per unit per month.

``sample_year_data(year)`` builds the year as plain data; ``write_sample_year`` writes it to an inbox.
For 2020 the data consolidate exactly to the figures of the 2020 report (``figures-2020.csv``);
other years get plausible targets drawn from a year-derived seed.
"""

from __future__ import annotations

import calendar
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pipeline.config import DEFAULT_TZ
from pipeline.forms import CLOSED, NO, PENDING, YES
from pipeline.outputs.workbook import write_return
from pipeline.registry import Unit, units

#: (unit code, ``YYYY-MM``) → form code → rows; an empty list is a nil return.
YearData = dict[tuple[str, str], dict[str, list[dict]]]

#: China has had no daylight saving since 1991, so a fixed offset is Asia/Shanghai without tzdata.
CHINA_TZ = timezone(timedelta(hours=8), DEFAULT_TZ)
RECEIVER = "常州市公安局钟楼分局"
#: Files nil inspection returns every month (the report counts 17 of the 18 units owing the form).
ALWAYS_QUIET = ("TJJ",)
#: 2020: few inspections in the Spring Festival and COVID-19 months, a push before year end.
MONTH_WEIGHTS = (3, 1, 3, 6, 7, 7, 7, 7, 8, 8, 9, 10)


@dataclass(frozen=True)
class Targets:
    """What a year's returns consolidate to."""

    inspection_units: int
    inspection_tasks: int
    inspection_entities: int
    joint_inspections: int
    transfers_filed: int
    transfers_refused: int
    transfers_pending: int
    exam_takers: int
    trained_officers: int


#: The 2020 report: 17 units, 104 tasks, 1976 entities, 14 joint inspections, 9 cases filed,
#: 607 exam takers, 150余 officers trained (156).
TARGETS_2020 = Targets(17, 104, 1976, 14, 9, 2, 2, 607, 156)

#: Non-joint inspection workload per unit (relative), and the unit's usual inspection topics.
INSPECTION_PROFILE: dict[str, tuple[float, tuple[str, ...]]] = {
    "SCJG": (10, ("食品经营单位双随机抽查", "特种设备安全监督检查", "价格监督检查", "产品质量监督抽查",
                  "网络交易监测检查", "广告发布监督检查")),
    "WJW": (6, ("公共场所卫生监督检查", "医疗机构依法执业检查", "生活饮用水卫生检查", "学校卫生监督检查",
                "职业卫生监督检查")),
    "CGJ": (7, ("市容环境秩序检查", "建筑垃圾运输检查", "户外广告设施检查", "餐饮油烟治理检查",
                "瓶装燃气经营检查")),
    "STHJ": (5, ("重点排污单位检查", "建设项目环评执行检查", "危险废物规范化管理检查", "扬尘污染防治检查")),
    "RSJ": (4, ("劳动用工情况检查", "工资支付情况检查", "人力资源市场秩序检查", "社会保险基金检查")),
    "YJJ": (6, ("危险化学品企业安全检查", "工贸企业安全生产检查", "有限空间作业检查", "烟花爆竹经营检查")),
    "ZJJ": (4, ("建筑施工安全检查", "物业服务质量检查", "房地产经纪机构检查", "商品房销售检查")),
    "SWJ": (2, ("成品油经营检查", "单用途预付卡检查", "报废机动车回收检查")),
    "JYJ": (2, ("校外培训机构检查", "民办学校办学行为检查", "幼儿园办园行为检查")),
    "WTL": (3, ("娱乐场所检查", "网吧经营检查", "出版物市场检查", "旅行社经营检查")),
    "MZJ": (1, ("宗教活动场所检查", "清真食品经营检查")),
    "NYJ": (3, ("农资经营门店检查", "兽药经营检查", "动物防疫检查", "农产品质量安全检查")),
    "FGJ": (1, ("价格收费检查", "粮食流通检查", "固定资产投资项目节能检查")),
    "JTJ": (2, ("道路运输企业检查", "机动车维修企业检查", "驾驶员培训机构检查")),
    "TJJ": (1, ("统计执法检查",)),
    "ZRZY": (2, ("土地利用检查", "矿产资源开发检查", "测绘地理信息检查")),
    "XFJY": (5, ("消防安全检查", "人员密集场所消防检查", "高层建筑消防检查")),
    "SWSJ": (3, ("发票使用检查", "税收专项检查", "纳税信用检查")),
}

#: Joint inspection themes and the units that usually take part (the first one leads).
JOINT_THEMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("校园周边食品安全联合抽查", ("SCJG", "JYJ", "WJW")),
    ("燃气安全联合检查", ("CGJ", "YJJ", "XFJY", "SCJG")),
    ("建筑工地扬尘联合抽查", ("ZJJ", "CGJ", "STHJ")),
    ("劳动用工联合检查", ("RSJ", "SWSJ", "SCJG")),
    ("养老机构消防安全联合检查", ("XFJY", "YJJ", "WJW")),
    ("娱乐场所联合检查", ("WTL", "XFJY", "WJW")),
    ("农资市场联合抽查", ("NYJ", "SCJG")),
    ("危险化学品联合检查", ("YJJ", "STHJ", "XFJY")),
    ("商贸企业联合抽查", ("SWJ", "SCJG", "FGJ")),
    ("道路运输安全联合检查", ("JTJ", "YJJ")),
    ("宗教活动场所安全联合检查", ("MZJ", "XFJY", "YJJ")),
    ("自然资源执法联合检查", ("ZRZY", "NYJ", "STHJ")),
    ("校外培训机构联合检查", ("JYJ", "SCJG", "XFJY")),
    ("医疗美容机构联合检查", ("WJW", "SCJG")),
    ("成品油市场联合检查", ("SWJ", "SCJG", "YJJ", "XFJY")),
)

#: Cases transferred to the police: relative share per unit and the unit's offences with their domain.
TRANSFER_PROFILE: dict[str, tuple[float, tuple[tuple[str, str], ...]]] = {
    "SCJG": (4, (("生产销售不符合安全标准的食品", "食品药品"), ("生产销售有毒有害食品", "食品药品"),
                 ("生产销售伪劣产品", "其他"), ("假冒注册商标", "其他"))),
    "RSJ": (2.5, (("拒不支付劳动报酬", "劳动保障"),)),
    "STHJ": (2, (("污染环境", "环境保护"),)),
    "YJJ": (1.5, (("重大责任事故", "安全生产"), ("危险作业", "安全生产"))),
    "WJW": (1, (("非法行医", "其他"), ("生产销售假药", "食品药品"))),
    "CGJ": (1, (("非法经营（烟花爆竹）", "安全生产"), ("污染环境", "环境保护"))),
    "NYJ": (0.7, (("生产销售伪劣农药", "其他"),)),
    "WTL": (0.5, (("侵犯著作权", "其他"),)),
}

#: Certified law-enforcement officers per unit at the start of 2020 (streets about a dozen each).
CERTIFIED_BASE: dict[str, int] = {
    "SCJG": 86, "WJW": 34, "CGJ": 72, "STHJ": 18, "RSJ": 15, "YJJ": 16, "ZJJ": 22, "SWJ": 6, "JYJ": 8,
    "WTL": 12, "MZJ": 4, "NYJ": 10, "SFJ": 14, "FGJ": 6, "CZJ": 5, "MZhJ": 6, "JTJ": 11, "TJJ": 4,
    "ZRZY": 14, "XFJY": 26, "GAFJ": 168, "SWSJ": 58,
}


def _rng(year: int, part: str) -> random.Random:
    """A generator per year and part; string seeds are hashed with SHA-512, so runs agree."""
    return random.Random(f"zhonglou-sample-{year}-{part}")


def year_targets(year: int) -> Targets:
    """The report's figures for 2020; plausible figures of the same size for any other year."""
    if year == 2020:
        return TARGETS_2020
    rng = _rng(year, "targets")
    return Targets(
        inspection_units=rng.randint(15, 17),
        inspection_tasks=rng.randint(90, 125),
        inspection_entities=rng.randint(1700, 2300),
        joint_inspections=rng.randint(10, 14),
        transfers_filed=rng.randint(6, 12),
        transfers_refused=rng.randint(1, 3),
        transfers_pending=rng.randint(1, 3),
        exam_takers=rng.randint(450, 700),
        trained_officers=rng.randint(120, 200),
    )


def allocate(
    total: int,
    weights: Sequence[float],
    *,
    minimum: int = 0,
    caps: Sequence[int | None] | None = None,
) -> list[int]:
    """Split ``total`` into integers proportional to ``weights``, each ≥ ``minimum`` and ≤ its cap.

    Largest-remainder rounding, so the parts add up to ``total`` exactly.
    """
    n = len(weights)
    if any(w <= 0 for w in weights):
        raise ValueError("weights must be positive")
    caps = list(caps) if caps is not None else [None] * n
    parts = [minimum] * n
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} out of {total}")
    while rest > 0:
        open_ = [i for i in range(n) if caps[i] is None or parts[i] < caps[i]]
        if not open_:
            raise ValueError(f"caps leave no room for {rest} more")
        wsum = sum(weights[i] for i in open_)
        exact = {i: rest * weights[i] / wsum for i in open_}
        share = {i: int(exact[i]) for i in open_}
        for i in sorted(open_, key=lambda i: (share[i] - exact[i], i))[: rest - sum(share.values())]:
            share[i] += 1
        for i in open_:
            room = rest if caps[i] is None else caps[i] - parts[i]
            step = min(share[i], room)
            parts[i] += step
            rest -= step
    return parts


def _month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _day_in(rng: random.Random, year: int, month: int, first: int = 1) -> date:
    """A working-ish day of the month, on or after day ``first``."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, rng.randint(min(first, last), last))


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _inspections(year: int, targets: Targets, inspection_units: Sequence[Unit]) -> dict[str, list[dict]]:
    """Rows of the inspection form per unit for the year, task ids numbered in date order."""
    rng = _rng(year, "inspection")
    owing = [u.code for u in inspection_units]
    quiet_pool = [c for c in owing if c not in ALWAYS_QUIET]
    extra_quiet = len(quiet_pool) - targets.inspection_units
    if extra_quiet < 0:
        raise ValueError(f"only {len(quiet_pool)} units can report inspections")
    # Quiet units are small ones: weight the draw by how little a unit usually inspects.
    quiet = set(ALWAYS_QUIET)
    for _ in range(extra_quiet):
        pool = [c for c in quiet_pool if c not in quiet]
        quiet.add(rng.choices(pool, weights=[1 / INSPECTION_PROFILE[c][0] for c in pool])[0])
    active = [c for c in owing if c not in quiet]

    # Joint inspections: a theme, 2–4 active participants, one month and day shared by all of them.
    themes = [(name, [c for c in pool if c in active]) for name, pool in JOINT_THEMES]
    themes = [(name, pool) for name, pool in themes if len(pool) >= 2]
    if len(themes) < targets.joint_inspections:
        raise ValueError("not enough joint inspection themes")
    chosen = rng.sample(themes, targets.joint_inspections)
    joints: list[tuple[date, str, list[str], int]] = []
    for name, pool in chosen:
        size = min(len(pool), rng.choices((2, 3, 4), weights=(5, 3, 2))[0])
        participants = [pool[0], *rng.sample(pool[1:], size - 1)]
        month = rng.choices(range(1, 13), weights=MONTH_WEIGHTS)[0]
        joints.append((_day_in(rng, year, month), name, participants, rng.randint(20, 80)))
    joints.sort(key=lambda j: (j[0], j[1]))

    rows: list[tuple[str, dict]] = []
    for number, (day, name, participants, entities) in enumerate(joints, start=1):
        # Participants may report only their own share; the lead reports the whole inspection.
        for position, code in enumerate(participants):
            reported = entities
            if position and rng.random() < 0.4:
                reported = rng.randint(max(1, entities // 3), entities - 1)
            rows.append((code, {
                "task_name": name, "method": "双随机", "entities_sampled": reported, "joint": YES,
                "joint_id": f"LH-{year}-{number:02d}", "completed_on": day,
            }))

    joint_units = {code for code, _ in rows}
    solo_count = targets.inspection_tasks - len(rows)
    seeded = [c for c in active if c not in joint_units]
    if solo_count < len(seeded):
        raise ValueError("too few task rows for every active unit to have one")
    weights = [INSPECTION_PROFILE[c][0] for c in active]
    solo_units = seeded + rng.choices(active, weights=weights, k=solo_count - len(seeded))
    methods = [rng.choices(("双随机", "专项检查", "日常检查"), weights=(4, 3.5, 2.5))[0] for _ in solo_units]
    # Entities left for non-joint rows, split by how big each kind of inspection usually is.
    solo_total = targets.inspection_entities - sum(j[3] for j in joints)
    scale = {"双随机": 25.0, "专项检查": 15.0, "日常检查": 8.0}
    sizes = allocate(solo_total, [rng.gammavariate(3, scale[m] / 3) + 0.5 for m in methods], minimum=1)
    for code, method, size in zip(solo_units, methods, sizes, strict=True):
        month = rng.choices(range(1, 13), weights=MONTH_WEIGHTS)[0]
        rows.append((code, {
            "task_name": rng.choice(INSPECTION_PROFILE[code][1]), "method": method,
            "entities_sampled": size, "joint": NO, "joint_id": None, "completed_on": _day_in(rng, year, month),
        }))

    by_unit: dict[str, list[dict]] = defaultdict(list)
    for code, row in rows:
        entities = row["entities_sampled"]
        row["issues_found"] = 0 if rng.random() < 0.3 else rng.randint(0, min(entities, 2 + entities // 15))
        by_unit[code].append(row)
    ordered: dict[str, list[dict]] = {}
    for code in owing:
        unit_rows = sorted(by_unit.get(code, []), key=lambda r: (r["completed_on"], r["task_name"]))
        # A topic a unit inspects more than once in the year gets a batch number, as clerks write it.
        batches: dict[str, int] = defaultdict(int)
        for row in unit_rows:
            if row["joint"] == NO:
                topic = row["task_name"]
                batches[topic] += 1
                if batches[topic] > 1:
                    row["task_name"] = f"{topic}（第{batches[topic]}批）"
        ordered[code] = [
            {"task_id": f"{code}-{year}-{n:03d}", **row} for n, row in enumerate(unit_rows, start=1)
        ]
    return ordered


def _transfers(year: int, targets: Targets, transfer_units: Sequence[Unit]) -> dict[tuple[str, int], list[dict]]:
    """Case reports per (unit, month): a case is listed when transferred and again when decided."""
    rng = _rng(year, "transfer")
    codes = [u.code for u in transfer_units]
    weights = [TRANSFER_PROFILE.get(c, (0.5, (("非法经营", "其他"),)))[0] for c in codes]
    n_filed = targets.transfers_filed
    # At least two of each way of reporting a filed case when there are enough cases to show both.
    two_step = rng.randint(min(2, n_filed), max(min(2, n_filed), n_filed - 2))
    outcomes = (
        ["filed_later"] * two_step + ["filed_direct"] * (n_filed - two_step)
        + ["refused"] * targets.transfers_refused + ["pending"] * targets.transfers_pending
    )
    rng.shuffle(outcomes)

    cases: list[tuple[str, date, str, str, list[tuple[int, str, date | None]]]] = []
    for outcome in outcomes:
        code = rng.choices(codes, weights=weights)[0]
        offence, domain = rng.choice(TRANSFER_PROFILE.get(code, (0, (("非法经营", "其他"),)))[1])
        if outcome == "pending":
            # Still undecided at year end: transferred late in the year.
            month = rng.randint(9, 12)
        elif outcome == "filed_later":
            month = rng.choices(range(1, 12), weights=MONTH_WEIGHTS[:11])[0]
        else:
            month = rng.choices(range(1, 13), weights=MONTH_WEIGHTS)[0]
        transferred = _day_in(rng, year, month)
        reports: list[tuple[int, str, date | None]] = []
        if outcome == "filed_direct":
            filed = min(transferred + timedelta(days=rng.randint(0, 12)), _month_end(year, month))
            reports.append((month, "已立案", filed))
        elif outcome == "filed_later":
            decided = min(12, month + rng.randint(1, 3))
            reports += [(month, "待定", None), (decided, "已立案", _day_in(rng, year, decided))]
        elif outcome == "refused":
            decided = min(12, month + rng.randint(0, 2))
            if decided > month:
                reports.append((month, "待定", None))
            reports.append((decided, "不予立案", None))
        else:
            reports.append((month, "待定", None))
        cases.append((code, transferred, offence, domain, reports))

    cases.sort(key=lambda c: (c[0], c[1], c[2]))
    by_month: dict[tuple[str, int], list[dict]] = defaultdict(list)
    serial: dict[str, int] = defaultdict(int)
    for code, transferred, offence, domain, reports in cases:
        serial[code] += 1
        # Each unit numbers its own cases, so ids repeat across units: a case is unit + id.
        transfer_id = f"YS-{year}-{serial[code]:02d}"
        for month, decision, filed in reports:
            by_month[(code, month)].append({
                "transfer_id": transfer_id, "offence": offence, "domain": domain,
                "transferred_on": transferred, "receiver": RECEIVER,
                "police_decision": decision, "filed_on": filed,
            })
    return by_month


def _training(year: int, targets: Targets, all_units: Sequence[Unit]) -> dict[tuple[str, int], dict]:
    """One aggregate training row per unit and month."""
    rng = _rng(year, "training")
    codes = [u.code for u in all_units]
    kinds = {u.code: u.kind for u in all_units}
    start = {
        c: CERTIFIED_BASE.get(c, 18 if kinds[c] == "town" else rng.randint(8, 14)) for c in codes
    }
    if year != 2020:
        start = {c: max(2, round(n * rng.uniform(0.85, 1.15))) for c, n in start.items()}

    # The qualification exam sits in two or three months; 2020's were postponed to the second half.
    exam_months = sorted(rng.sample((6, 7, 9, 10, 11, 12) if year == 2020 else (5, 6, 9, 10, 11), 2))
    # Streets and the town sent many new staff in 2020: the reform devolved enforcement powers to them.
    exam_weight = {
        c: 16.0 if kinds[c] in ("street", "town") else 8.0 if kinds[c] == "police" else 3 + start[c] * 0.3
        for c in codes
    }
    exam_slots = [
        (c, m) for c in codes for m in exam_months if rng.random() < (0.8 if kinds[c] != "department" else 0.5)
    ]
    takers = allocate(
        targets.exam_takers, [exam_weight[c] * rng.uniform(0.5, 1.5) for c, _ in exam_slots], minimum=1
    )
    exam = {slot: n for slot, n in zip(exam_slots, takers, strict=True)}

    # Topic trainings: a couple of dozen unit-months, none in February.
    months = [m for m in range(1, 13) if m != 2]
    slots = sorted(set(rng.choices(
        [(c, m) for c in codes for m in months],
        weights=[(start[c] + 10) * MONTH_WEIGHTS[m - 1] for c in codes for m in months],
        k=24,
    )))
    sessions = {slot: rng.choices((1, 2), weights=(4, 1))[0] for slot in slots}
    trained_parts = allocate(
        targets.trained_officers,
        [sessions[s] * (start[s[0]] + 5) ** 0.5 * rng.uniform(0.6, 1.4) for s in slots],
        minimum=2,
        caps=[max(start[c], 4) for c, _ in slots],
    )
    trained = dict(zip(slots, trained_parts, strict=True))

    rows: dict[tuple[str, int], dict] = {}
    for code in codes:
        certified = start[code]
        issued = [0] * 16
        for month in range(1, 13):
            certified += issued[month]
            # Staff retire or move now and then.
            roll = rng.random()
            certified += -1 if roll < 0.08 and certified > 1 else 1 if roll > 0.95 else 0
            n_takers = exam.get((code, month), 0)
            passed = round(n_takers * rng.uniform(0.72, 0.95)) if n_takers else 0
            # Some who pass are renewing a certificate they hold; new ones arrive over the next
            # three months, so the stock moves in steps rather than jumping.
            for later, n in enumerate(allocate(round(passed * 0.7), [1, 1, 1]) if passed else (), start=1):
                issued[month + later] += n
            n_sessions = sessions.get((code, month), 0)
            rows[(code, month)] = {
                "certified_officers": certified,
                "exam_takers": n_takers,
                "exam_passed": passed,
                "training_sessions": n_sessions,
                "trained_officers": trained.get((code, month), 0),
            }
    return rows


# --- the other returns: 综合, 合法性审查, 法律顾问, 调解与法律服务, 行政复议, 行政应诉, 法律援助, 信访 ---------


@dataclass(frozen=True)
class ServiceTargets:
    """What a year's other returns consolidate to (registers: what the year's own cases give)."""

    study_sessions: int
    devolved_powers: int
    registrations_total: int
    registrations_online: int
    documents_reviewed: int
    contracts_reviewed: int
    research_meetings: int
    adviser_matters: int
    adviser_opinions: int
    adviser_contracts: int
    adviser_meetings: int
    surveyed_enterprises: int
    enterprise_mediation_orgs: int
    health_check_reports: int
    family_studios_new: int
    service_teams: int
    grids_covered: int
    reconsideration_accepted: int
    reconsideration_closed: int
    suggestion_letters: int
    opinion_letters: int
    litigation_received: int
    legal_aid_workers: int
    legal_aid_wages_yuan: int
    petition_risks_found: int
    petition_risks_resolved: int


#: The 2020 report. Approximate figures get a value inside what the wording allows: 80余项 → 51 + 33
#: documents and contracts, 100余件 → 108, 70余份 → 74, 30余份 → 33, 30余次 → 36, 90%以上 → 3374 of
#: 3612 registrations fully online (93.4 %). 讨薪1475万 → 14,750,000 yuan.
SERVICE_TARGETS_2020 = ServiceTargets(
    study_sessions=6, devolved_powers=239, registrations_total=3612, registrations_online=3374,
    documents_reviewed=51, contracts_reviewed=33, research_meetings=3,
    adviser_matters=108, adviser_opinions=74, adviser_contracts=33, adviser_meetings=36,
    surveyed_enterprises=20, enterprise_mediation_orgs=10, health_check_reports=10, family_studios_new=7,
    service_teams=100, grids_covered=1062,
    reconsideration_accepted=27, reconsideration_closed=20, suggestion_letters=9, opinion_letters=1,
    litigation_received=8, legal_aid_workers=246, legal_aid_wages_yuan=14_750_000,
    petition_risks_found=521, petition_risks_resolved=497,
)

#: Who fills which items of the 综合 return; a unit not listed leaves every item blank.
GENERAL_ITEMS: dict[str, tuple[str, ...]] = {
    "SFJ": ("study_sessions", "devolved_powers"),
    "SCJG": ("registrations_total", "registrations_online"),
}
#: The 2020 report: 新闸街道 issued the enterprise health-check reports.
HEALTH_CHECK_UNITS_2020 = ("XZ",)
#: Agency heads appeared at every hearing up to 2020 (the report: 连续三年保持出庭应诉率100%).
FULL_APPEARANCE_UNTIL = 2020

RECONSIDERATION_CATEGORIES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("工伤认定", 40, ("区人力资源和社会保障局",)),
    ("举报投诉", 30, ("区市场监督管理局", "区卫生健康局", "区城市管理局")),
    ("政府信息公开", 15, ("区政府办公室", "区住房和城乡建设局")),
    ("行政处罚", 10, ("区城市管理局", "区市场监督管理局")),
    ("其他", 5, ("区民政局", "荷花池街道办事处")),
)
LITIGATION_CAUSES: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("政府信息公开", 35, ("钟楼区人民政府", "区住房和城乡建设局")),
    ("依法履职", 30, ("区市场监督管理局", "区城市管理局", "区人力资源和社会保障局")),
    ("行政处罚", 15, ("区城市管理局", "区市场监督管理局")),
    ("征收补偿", 10, ("钟楼区人民政府",)),
    ("工伤认定", 10, ("区人力资源和社会保障局",)),
)


def service_targets(year: int) -> ServiceTargets:
    """The 2020 report's figures for 2020; plausible figures of the same size for any other year."""
    if year == 2020:
        return SERVICE_TARGETS_2020
    rng = _rng(year, "service-targets")
    registrations = rng.randint(2800, 4200)
    surveyed = rng.randint(12, 24)
    accepted = rng.randint(18, 32)
    workers = rng.randint(150, 320)
    found = rng.randint(380, 600)
    return ServiceTargets(
        study_sessions=rng.randint(4, 8), devolved_powers=rng.randint(0, 260) if year > 2020 else 0,
        registrations_total=registrations,
        registrations_online=round(registrations * rng.uniform(0.7, 0.97)),
        documents_reviewed=rng.randint(40, 70), contracts_reviewed=rng.randint(20, 45),
        research_meetings=rng.randint(1, 5),
        adviser_matters=rng.randint(80, 130), adviser_opinions=rng.randint(50, 90),
        adviser_contracts=rng.randint(20, 45), adviser_meetings=rng.randint(20, 45),
        surveyed_enterprises=surveyed, enterprise_mediation_orgs=rng.randint(surveyed // 3, surveyed // 2),
        health_check_reports=rng.randint(4, 16), family_studios_new=rng.randint(2, 9),
        service_teams=rng.randint(60, 120) if year > 2020 else 0,
        grids_covered=rng.randint(700, 1100) if year > 2020 else 0,
        reconsideration_accepted=accepted, reconsideration_closed=0,
        suggestion_letters=rng.randint(3, 10), opinion_letters=rng.randint(0, 3),
        litigation_received=rng.randint(5, 10), legal_aid_workers=workers,
        legal_aid_wages_yuan=workers * rng.randint(40_000, 70_000),
        petition_risks_found=found, petition_risks_resolved=round(found * rng.uniform(0.9, 0.97)),
    )


def _spread(rng: random.Random, total: int, months: Sequence[int], *, jitter: float = 0.6) -> dict[int, int]:
    """``total`` split over ``months`` in proportion to the year's activity, with some noise."""
    weights = [MONTH_WEIGHTS[m - 1] * rng.uniform(1 - jitter / 2, 1 + jitter / 2) for m in months]
    return dict(zip(months, allocate(total, weights), strict=True))


def _distinct_months(rng: random.Random, count: int, months: Sequence[int]) -> set[int]:
    """``count`` different months, drawn with the year's activity as weights."""
    chosen: set[int] = set()
    while len(chosen) < min(count, len(months)):
        chosen.add(rng.choices(months, weights=[MONTH_WEIGHTS[m - 1] for m in months])[0])
    return chosen


def _stock_path(rng: random.Random, final: int, first: int, last: int) -> list[int]:
    """Month-end values of a stock that starts in month ``first`` and reaches ``final`` in ``last``."""
    path = [0] * 12
    if final == 0:
        return path
    steps = allocate(final, [rng.uniform(0.5, 1.5) for _ in range(first, last + 1)])
    running = 0
    for month in range(1, 13):
        if first <= month <= last:
            running += steps[month - first]
        path[month - 1] = running
    return path


def _split(total: int, owners: Sequence[str], rng: random.Random) -> dict[str, int]:
    """A district total split among the units that file it (one unit: all of it)."""
    return dict(zip(owners, allocate(total, [rng.uniform(0.6, 1.4) for _ in owners]), strict=True))


def _general(year: int, t: ServiceTargets, owners: Sequence[str]) -> dict[tuple[str, int], dict]:
    """综合: each unit fills only the items it owns (``GENERAL_ITEMS``), the rest stay blank."""
    rng = _rng(year, "general")
    blank = {"study_sessions": None, "devolved_powers": None, "registrations_total": None,
             "registrations_online": None}
    rows = {(code, m): dict(blank) for code in owners for m in range(1, 13)}
    study = [c for c in owners if "study_sessions" in GENERAL_ITEMS.get(c, ())]
    registering = [c for c in owners if "registrations_total" in GENERAL_ITEMS.get(c, ())]
    for code, n in _split(t.study_sessions, study, rng).items() if study else ():
        months = _distinct_months(rng, n, [m for m in range(1, 13) if m != 2])
        for m in range(1, 13):
            rows[(code, m)]["study_sessions"] = int(m in months)
    for code, n in _split(t.devolved_powers, study, rng).items() if study else ():
        # The street reform's list of devolved powers is compiled in the second half of the year.
        for m, value in enumerate(_stock_path(rng, n, 6, 9), start=1):
            rows[(code, m)]["devolved_powers"] = value
    if registering:
        totals = _split(t.registrations_total, registering, rng)
        onlines = _split(t.registrations_online, registering, rng)
        for code in registering:
            total, online = totals[code], min(onlines[code], totals[code])
            per_month = _spread(rng, total, range(1, 13), jitter=0.3)
            # The share registered fully online grows over the year.
            rates = [0.8 + 0.015 * m for m in range(1, 13)]
            online_months = allocate(online, [per_month[m] * rates[m - 1] + 0.01 for m in range(1, 13)],
                                     caps=[per_month[m] for m in range(1, 13)])
            for m in range(1, 13):
                rows[(code, m)]["registrations_total"] = per_month[m]
                rows[(code, m)]["registrations_online"] = online_months[m - 1]
    return rows


def _legality_and_adviser(
    year: int, t: ServiceTargets, review_owners: Sequence[str], adviser_owners: Sequence[str]
) -> tuple[dict[tuple[str, int], dict], dict[tuple[str, int], dict]]:
    """合法性审查 and 法律顾问: monthly flows of the justice bureau."""
    rng = _rng(year, "legality")
    review: dict[tuple[str, int], dict] = {}
    for code in review_owners:
        docs = _spread(rng, _split(t.documents_reviewed, review_owners, rng)[code], range(1, 13))
        contracts = _spread(rng, _split(t.contracts_reviewed, review_owners, rng)[code], range(1, 13))
        meetings = _distinct_months(rng, _split(t.research_meetings, review_owners, rng)[code],
                                    list(range(3, 12)))
        for m in range(1, 13):
            review[(code, m)] = {"documents_reviewed": docs[m], "contracts_reviewed": contracts[m],
                                 "research_meetings": int(m in meetings)}
    adviser: dict[tuple[str, int], dict] = {}
    for code in adviser_owners:
        columns = {
            "matters_handled": t.adviser_matters, "opinions_issued": t.adviser_opinions,
            "contracts_reviewed": t.adviser_contracts, "meetings_attended": t.adviser_meetings,
        }
        spreads = {col: _spread(rng, _split(n, adviser_owners, rng)[code], range(1, 13))
                   for col, n in columns.items()}
        for m in range(1, 13):
            adviser[(code, m)] = {col: spreads[col][m] for col in columns}
    return review, adviser


def _mediation(year: int, t: ServiceTargets, owners: Sequence[str]) -> dict[tuple[str, int], dict]:
    """调解与法律服务: stocks that build up over the year and flows, per street and town."""
    rng = _rng(year, "mediation")
    size = [rng.uniform(0.6, 1.6) for _ in owners]
    surveyed = allocate(t.surveyed_enterprises, size)
    orgs = allocate(t.enterprise_mediation_orgs, [s + 0.1 for s in surveyed], caps=surveyed)
    teams = allocate(t.service_teams, size)
    grids = allocate(t.grids_covered, size)
    checkers = [c for c in owners if c in HEALTH_CHECK_UNITS_2020] if year == 2020 else list(owners)
    checks = dict(zip(checkers, allocate(t.health_check_reports, [1.0] * len(checkers)), strict=True))
    studios = allocate(t.family_studios_new, size)
    rows: dict[tuple[str, int], dict] = {}
    for i, code in enumerate(owners):
        survey_path = _stock_path(rng, surveyed[i], 3, 6)
        org_path = _stock_path(rng, orgs[i], 6, 11)
        # 公共法律服务进网格 starts in spring; teams first, then the grids they take on.
        team_path = _stock_path(rng, teams[i], 4, 8)
        grid_path = _stock_path(rng, grids[i], 5, 10)
        check_months = _spread(rng, checks.get(code, 0), range(5, 12))
        studio_months = _spread(rng, studios[i], range(3, 13))
        for m in range(1, 13):
            rows[(code, m)] = {
                "surveyed_enterprises": survey_path[m - 1], "enterprise_mediation_orgs": org_path[m - 1],
                "health_check_reports": check_months.get(m, 0), "family_studios_new": studio_months.get(m, 0),
                "service_teams": team_path[m - 1], "grids_covered": grid_path[m - 1],
            }
    return rows


def _legal_aid(year: int, t: ServiceTargets, owners: Sequence[str]) -> dict[tuple[str, int], dict]:
    """法律援助: workers helped to recover wages, and the yuan recovered; more before Spring Festival."""
    rng = _rng(year, "legal-aid")
    rows: dict[tuple[str, int], dict] = {}
    workers_by_unit = _split(t.legal_aid_workers, owners, rng)
    wages_by_unit = _split(t.legal_aid_wages_yuan, owners, rng)
    for code in owners:
        weights = [(3.0 if m in (1, 12) else 1.0) * rng.uniform(0.3, 1.7) for m in range(1, 13)]
        workers = allocate(workers_by_unit[code], weights)
        active = [m for m in range(12) if workers[m]]
        wages = allocate(wages_by_unit[code], [workers[m] * rng.uniform(0.7, 1.3) for m in active])
        paid = dict(zip(active, wages, strict=True))
        for m in range(1, 13):
            rows[(code, m)] = {"workers_helped": workers[m - 1], "wages_recovered_yuan": paid.get(m - 1, 0)}
    return rows


def _petition(year: int, t: ServiceTargets, owners: Sequence[str]) -> dict[tuple[str, int], dict]:
    """信访: risks found and resolved per street and town and month."""
    rng = _rng(year, "petition")
    size = [rng.uniform(0.6, 1.6) for _ in owners]
    found = allocate(t.petition_risks_found, size)
    resolved = allocate(t.petition_risks_resolved, size, caps=found)
    rows: dict[tuple[str, int], dict] = {}
    for i, code in enumerate(owners):
        found_m = _spread(rng, found[i], range(1, 13))
        resolved_m = _spread(rng, resolved[i], range(1, 13))
        for m in range(1, 13):
            rows[(code, m)] = {"risks_found": found_m[m], "risks_resolved": resolved_m[m]}
    return rows


@dataclass(frozen=True)
class _Case:
    """A register case's timeline; dates may run into the next year."""

    case_id: str
    kind: str
    party: str
    opened: date
    closed: date
    outcome: str
    hearing: date | None = None
    suggestion_letters: int = 0
    opinion_letters: int = 0


def _pick(rng: random.Random, table: Sequence[tuple[str, float, tuple[str, ...]]]) -> tuple[str, str]:
    kind, _, parties = rng.choices(table, weights=[w for _, w, _ in table])[0]
    return kind, rng.choice(parties)


def _pending_at_year_end(kind: str, year: int) -> int:
    """How many of a year's cases are still open on 31 December (carried into the next year)."""
    if kind == "reconsideration" and year == 2020:
        # 27 accepted, 20 closed, counting the cases carried over from 2019.
        t = SERVICE_TARGETS_2020
        return t.reconsideration_accepted - t.reconsideration_closed + _pending_at_year_end(kind, 2019)
    if kind == "litigation" and year == 2020:
        # 8 received and 8 closed, the cases carried over from 2019 included.
        return _pending_at_year_end(kind, 2019)
    return _rng(year, f"{kind}-pending").randint(1, 2)


def _register_cases(kind: str, year: int) -> list[_Case]:
    """Cases opened in ``year``; the last ones opened stay open into the next year."""
    rng = _rng(year, f"{kind}-cases")
    t = service_targets(year)
    n = t.reconsideration_accepted if kind == "reconsideration" else t.litigation_received
    pending = _pending_at_year_end(kind, year)
    opened = sorted(
        _day_in(rng, year, rng.choices(range(1, 12), weights=MONTH_WEIGHTS[:11])[0]) for _ in range(n - pending)
    )
    opened += sorted(_day_in(rng, year, rng.choice((11, 12)), 10) for _ in range(pending))
    year_end = date(year, 12, 31)
    cases: list[_Case] = []
    for number, day in enumerate(opened, start=1):
        still_open = number > n - pending
        if kind == "reconsideration":
            category, party = _pick(rng, RECONSIDERATION_CATEGORIES)
            closed = day + timedelta(days=rng.randint(25, 60))
            closed = max(closed, date(year + 1, 1, 4)) if still_open else min(closed, year_end - timedelta(days=3))
            outcome = rng.choices(("维持", "驳回", "终止", "撤销", "确认违法"), weights=(10, 4, 3, 2, 1))[0]
            cases.append(_Case(f"FY-{year}-{number:02d}", category, party, day, closed, outcome))
        else:
            cause, party = _pick(rng, LITIGATION_CAUSES)
            withdrawn = rng.random() < 0.15
            if still_open:
                hearing = date(year + 1, rng.randint(1, 2), rng.randint(5, 25))
            else:
                latest = year_end - timedelta(days=10)
                hearing = min(day + timedelta(days=rng.randint(25, 70)), latest)
            closed = hearing + timedelta(days=rng.randint(0 if not still_open else 10, 40))
            if not still_open:
                closed = min(closed, year_end - timedelta(days=2))
            outcome = "原告撤诉" if withdrawn else rng.choices(
                ("驳回诉讼请求", "确认违法", "责令履行", "撤销"), weights=(12, 2, 2, 1))[0]
            cases.append(_Case(f"SS-{year}-{number:02d}", cause, party, day, closed, outcome,
                               hearing=None if withdrawn else hearing))
    return cases


def _with_letters(year: int, cases: list[_Case], t: ServiceTargets) -> list[_Case]:
    """Give the cases closed in ``year`` the year's suggestion and opinion letters."""
    rng = _rng(year, "letters")
    closed = [i for i, c in enumerate(cases) if c.closed.year == year]
    suggestions = set(rng.sample(closed, min(t.suggestion_letters, len(closed))))
    opinions = set(rng.sample(closed, min(t.opinion_letters, len(closed))))
    out = list(cases)
    for i in closed:
        out[i] = _Case(**{**cases[i].__dict__, "suggestion_letters": int(i in suggestions),
                          "opinion_letters": int(i in opinions)})
    return out


def _register_rows(kind: str, year: int) -> dict[int, list[dict]]:
    """Case reports per month of ``year``: one row per case and month it was opened, heard or closed."""
    cases = [c for c in _register_cases(kind, year - 1) if c.closed.year == year] + _register_cases(kind, year)
    if kind == "reconsideration":
        cases = _with_letters(year, cases, service_targets(year))
    rng = _rng(year, f"{kind}-rows")
    by_month: dict[int, list[dict]] = defaultdict(list)
    for case in cases:
        events = [d for d in (case.opened, case.hearing, case.closed) if d is not None and d.year == year]
        for month in sorted({d.month for d in events}):
            closed = case.closed.year == year and case.closed.month == month
            if kind == "reconsideration":
                row = {
                    "case_id": case.case_id, "category": case.kind, "respondent": case.party,
                    "accepted_on": case.opened, "status": CLOSED if closed else PENDING,
                    "closed_on": case.closed if closed else None, "outcome": case.outcome if closed else None,
                    "suggestion_letters": case.suggestion_letters if closed else None,
                    "opinion_letters": case.opinion_letters if closed else None,
                }
            else:
                heard = case.hearing is not None and (case.hearing.year, case.hearing.month) == (year, month)
                appeared = year <= FULL_APPEARANCE_UNTIL or rng.random() < 0.9
                row = {
                    "case_id": case.case_id, "cause": case.kind, "defendant": case.party,
                    "received_on": case.opened, "hearing_held": YES if heard else NO,
                    "hearing_on": case.hearing if heard else None,
                    "head_appeared": (YES if appeared else NO) if heard else None,
                    "status": CLOSED if closed else PENDING,
                    "closed_on": case.closed if closed else None, "outcome": case.outcome if closed else None,
                }
            by_month[month].append(row)
    return by_month


def _register_by_unit(kind: str, year: int, owners: Sequence[str]) -> dict[tuple[str, int], list[dict]]:
    """The district's register is kept by the unit that owns the form (the first, if several)."""
    if not owners:
        return {}
    return {(owners[0], m): rows for m, rows in _register_rows(kind, year).items()}


class NoSampleGenerator(LookupError):
    """A unit owes a form this module has no generator for."""


def sample_year_data(year: int) -> YearData:
    """Every unit's returns for every month of ``year``, as rows keyed by column code."""
    targets = year_targets(year)
    registry = units()
    inspections = _inspections(year, targets, [u for u in registry if "inspection" in u.forms])
    transfers = _transfers(year, targets, [u for u in registry if "transfer" in u.forms])
    training = _training(year, targets, [u for u in registry if "training" in u.forms])
    service = service_targets(year)

    def owners(form: str) -> list[str]:
        return [u.code for u in registry if form in u.forms]

    aggregates: dict[str, dict[tuple[str, int], dict]] = {
        "general": _general(year, service, owners("general")),
        "mediation": _mediation(year, service, owners("mediation")),
        "legal_aid": _legal_aid(year, service, owners("legal_aid")),
        "petition": _petition(year, service, owners("petition")),
    }
    aggregates["legality_review"], aggregates["legal_adviser"] = _legality_and_adviser(
        year, service, owners("legality_review"), owners("legal_adviser")
    )
    registers = {kind: _register_by_unit(kind, year, owners(kind)) for kind in ("reconsideration", "litigation")}

    data: YearData = {}
    for month in range(1, 13):
        key_month = _month_key(year, month)
        for unit in registry:
            sheets: dict[str, list[dict]] = {}
            for form in unit.forms:
                if form == "inspection":
                    sheets[form] = [
                        r for r in inspections[unit.code] if r["completed_on"].month == month
                    ]
                elif form == "transfer":
                    sheets[form] = sorted(
                        transfers.get((unit.code, month), []), key=lambda r: r["transfer_id"]
                    )
                elif form == "training":
                    sheets[form] = [training[(unit.code, month)]]
                elif form in aggregates:
                    sheets[form] = [aggregates[form][(unit.code, month)]]
                elif form in registers:
                    sheets[form] = sorted(registers[form].get((unit.code, month), []), key=lambda r: r["case_id"])
                else:
                    # A form with no generator would silently leave the sample year, and make demo, without it.
                    raise NoSampleGenerator(f"no sample generator for form {form!r} ({unit.code} owes it): "
                                            "add one to pipeline/samples/sample.py")
            data[(unit.code, key_month)] = sheets
    return data


def received_at(year: int, month: int, unit_code: str) -> datetime:
    """When a unit's return for the month reached the bureau: day 3–7 of the next month, office hours."""
    rng = _rng(year, f"received-{month:02d}-{unit_code}")
    nxt_year, nxt_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(
        nxt_year, nxt_month, rng.randint(3, 7), rng.randint(8, 17), rng.randint(0, 59), rng.randint(0, 59),
        tzinfo=CHINA_TZ,
    )


def return_path(inbox: Path, unit: Unit, year: int, month: int) -> Path:
    """``inbox/<YYYY-MM>/<unit name>_<YYYY>年<M>月报表.xlsx``."""
    return inbox / _month_key(year, month) / f"{unit.name}_{year}年{month}月报表.xlsx"


#: What an earlier year's inbox needs for a later year's figures: the three-year appearance rate
#: looks back on 行政应诉.
LOOKBACK_FORMS = ("litigation",)


def write_sample_year(year: int, inbox: Path, forms: Sequence[str] | None = None,
                      data: YearData | None = None) -> list[Path]:
    """Write every unit's workbook for every month of ``year`` into ``inbox``; same bytes every run.

    With ``forms``, only the units owing one of them send a workbook, holding only those sheets
    (``LOOKBACK_FORMS`` for the years before the one being reported on). ``data`` replaces the
    sample's rows (``sample_year_data`` changed by a test or a benchmark).
    Each file's mtime is its received time, so ordering by arrival is reproducible too.
    """
    data = sample_year_data(year) if data is None else data
    paths: list[Path] = []
    for unit in units():
        if forms is not None and not set(forms) & set(unit.forms):
            continue
        for month in range(1, 13):
            path = return_path(inbox, unit, year, month)
            stamp = received_at(year, month, unit.code)
            sheets = data[(unit.code, _month_key(year, month))]
            if forms is not None:
                sheets = {code: rows for code, rows in sheets.items() if code in forms}
            write_return(path, unit.name, _month_key(year, month), sheets, stamp=stamp)
            os.utime(path, (stamp.timestamp(), stamp.timestamp()))
            paths.append(path)
    return sorted(paths)
