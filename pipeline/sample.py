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

from pipeline.forms import NO, YES
from pipeline.registry import Unit, units
from pipeline.workbook import write_return

#: (unit code, ``YYYY-MM``) → form code → rows; an empty list is a nil return.
YearData = dict[tuple[str, str], dict[str, list[dict]]]

#: China has had no daylight saving since 1991, so a fixed offset is Asia/Shanghai without tzdata.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
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


def sample_year_data(year: int) -> YearData:
    """Every unit's returns for every month of ``year``, as rows keyed by column code."""
    targets = year_targets(year)
    registry = units()
    inspections = _inspections(year, targets, [u for u in registry if "inspection" in u.forms])
    transfers = _transfers(year, targets, [u for u in registry if "transfer" in u.forms])
    training = _training(year, targets, [u for u in registry if "training" in u.forms])

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


def write_sample_year(year: int, inbox: Path) -> list[Path]:
    """Write every unit's workbook for every month of ``year`` into ``inbox``; same bytes every run.

    Each file's mtime is its received time, so ordering by arrival is reproducible too.
    """
    data = sample_year_data(year)
    paths: list[Path] = []
    for unit in units():
        for month in range(1, 13):
            path = return_path(inbox, unit, year, month)
            stamp = received_at(year, month, unit.code)
            write_return(path, unit.name, _month_key(year, month), data[(unit.code, _month_key(year, month))],
                         stamp=stamp)
            os.utime(path, (stamp.timestamp(), stamp.timestamp()))
            paths.append(path)
    return sorted(paths)
