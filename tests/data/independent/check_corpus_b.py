#!/usr/bin/env python3
"""Self-check for corpus_b (NOT the project's parser): reads a generated inbox back with a plain
reading of forms.md, validates every rule and total, and recomputes the seven figures.

    python check_corpus_b.py INBOX [--year 2022] [--seed 2207]

Exit status 0 when every file is valid and the read-back figures equal write_year()'s figures
(which it recomputes from the model by calling corpus_b.build_model)."""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import pathlib
import re
import sys
from collections import Counter, defaultdict

import openpyxl

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus_b as cb  # noqa: E402

BJ = dt.timezone(dt.timedelta(hours=8))
FWD = {0xFF10 + i: str(i) for i in range(10)}
UNITS_OF_MEASURE = {"人", "户", "个", "场", "人次", "件", "万元", "计量单位"}
TOTAL_LABELS = {"合计", "总计", "小计", "合计数"}
YES, NO = {"是", "Y", "√"}, {"否", "N", "×"}


def norm_label(s):
    s = re.sub(r"[\s\u3000*]", "", str(s))
    return re.sub(r"[（(][^）)]*[）)]$", "", s)


def squash(s):
    return re.sub(r"[\s\u3000]", "", str(s))


def load_units():
    names = {}
    with open(HERE / "departments.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names[row["name"]] = row["name"]
            for a in row["aliases"].split("|"):
                names[a] = row["name"]
    owed = {}
    for line in (HERE / "registry-forms.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        n, fs = (x.strip() for x in line.split("|"))
        owed[n] = set(fs.split())
    return names, owed


def as_int(v):
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError(f"bool {v!r}")
    if isinstance(v, (int, float)):
        if v != int(v):
            raise ValueError(f"not integer {v!r}")
        return int(v)
    s = str(v).translate(FWD).replace(",", "").strip()
    s = re.sub(r"(人次|户|个|人|场|件)$", "", s)
    if not re.fullmatch(r"\d+", s):
        raise ValueError(f"not an integer: {v!r}")
    return int(s)


def as_date(v, epoch1904):
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)):
        base = dt.date(1904, 1, 1) if epoch1904 else dt.date(1899, 12, 30)
        return base + dt.timedelta(days=int(v))
    s = str(v).strip()
    for pat in (r"(\d{4})-(\d{2})-(\d{2})", r"(\d{4})/(\d{1,2})/(\d{1,2})", r"(\d{4})年(\d{1,2})月(\d{1,2})日",
                r"(\d{4})\.(\d{2})\.(\d{2})"):
        m = re.fullmatch(pat, s)
        if m:
            return dt.date(*map(int, m.groups()))
    raise ValueError(f"not a date: {v!r}")


def as_yn(v):
    s = str(v).strip()
    if s in YES:
        return True
    if s in NO:
        return False
    raise ValueError(f"not 是/否: {v!r}")


def label_value(ws, label):
    """填报单位 / 报告期: one cell `label：value`, or label cell + next non-empty cell to the right."""
    found = []
    for row in ws.iter_rows(max_row=20):
        for i, c in enumerate(row):
            if isinstance(c.value, str) and squash(c.value).startswith(label):
                rest = squash(c.value)[len(label):].lstrip("：:")
                if rest:
                    found.append(rest)
                else:
                    for c2 in row[i + 1:]:
                        if c2.value not in (None, ""):
                            found.append(squash(c2.value))
                            break
    return found


def read_sheet(ws, form, epoch1904, errs, where):
    spec = {label: (code, kind, req) for code, label, kind, req, _ in cb.FORMS[form]}
    head_r, colmap, tcols = None, {}, []
    for row in ws.iter_rows(max_row=40):
        labs = {norm_label(c.value): c.column for c in row if c.value is not None}
        hits = [l for l in labs if l in spec]
        if len(hits) >= 4:
            head_r = row[0].row
            colmap = {spec[l][0]: labs[l] for l in hits}
            tcols = sorted(c.column for c in row if c.value is not None)
            break
    if head_r is None or len(colmap) != len(spec):
        errs.append(f"{where}: header not found / incomplete {sorted(colmap)}")
        return None
    first, last = tcols[0], max(tcols) + 1
    rows, totals = [], []
    seen_body = False
    group = []
    nil = False
    for r in range(head_r + 1, ws.max_row + 1):
        vals = [ws.cell(r, c).value for c in range(first, last + 1)]
        ne = [v for v in vals if v not in (None, "")]
        if not ne:
            break
        v0 = vals[0]
        if isinstance(v0, str) and squash(v0).startswith(("填表人", "单位负责人", "审核人")):
            break
        if not seen_body:
            sv = [squash(v) for v in ne]
            if all(s in cb.CN_LETTERS or s in ("栏次", "代码") or re.fullmatch(r"\d+", s) for s in sv):
                nums = [int(s) for s in sv if re.fullmatch(r"\d+", s)]
                if nums == list(range(1, len(nums) + 1)):
                    continue
            if all(s in UNITS_OF_MEASURE for s in sv):
                continue
        seen_body = True
        if isinstance(v0, str) and squash(v0) in ("本月无", "无"):
            nil = True
            continue
        if isinstance(v0, str) and squash(v0) in TOTAL_LABELS:
            totals.append((squash(v0), r, list(group)))
            if squash(v0) == "小计":
                group = []
            continue
        rec = {}
        try:
            for code, c in colmap.items():
                kind = next(k for cc, _, k, _, _ in cb.FORMS[form] if cc == code)
                v = ws.cell(r, c).value
                if kind == "int":
                    rec[code] = as_int(v)
                elif kind == "date":
                    rec[code] = as_date(v, epoch1904)
                elif kind == "yesno":
                    rec[code] = as_yn(v)
                else:
                    rec[code] = None if v in (None, "") else str(v)
        except ValueError as e:
            errs.append(f"{where} row {r}: {e}")
            continue
        rec["_row"] = r
        rows.append(rec)
        group.append(r)
    # totals: every numeric cell of a total row must equal the sum over its data rows
    rowset = {rec["_row"]: rec for rec in rows}
    for lab, tr, grp in totals:
        members = grp if lab == "小计" else list(rowset)
        for c in range(first + 1, last + 1):
            tv = ws.cell(tr, c).value
            if tv in (None, ""):
                continue
            s = 0
            for m in members:
                try:
                    s += as_int(ws.cell(m, c).value) or 0
                except ValueError:
                    errs.append(f"{where}: total over non-integer column {c}")
            if as_int(tv) != s:
                errs.append(f"{where}: {lab} row {tr} col {c}: {tv!r} != {s}")
    if nil and rows:
        errs.append(f"{where}: 本月无 and rows")
    return rows, [t[0] for t in totals]


def main(argv):
    inbox = pathlib.Path(argv[0])
    year = int(argv[argv.index("--year") + 1]) if "--year" in argv else 2022
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 2207
    names, owed = load_units()
    errs = []
    insp, cases, train = defaultdict(list), defaultdict(dict), defaultdict(dict)
    per_month = Counter()
    n_files = 0
    for m in range(1, 13):
        mdir = inbox / f"{year}-{m:02d}"
        for p in sorted(mdir.glob("*.xlsx")):
            n_files += 1
            where0 = f"{p.parent.name}/{p.name}"
            mt = dt.datetime.fromtimestamp(p.stat().st_mtime, BJ)
            ny, nm = (year, m + 1) if m < 12 else (year + 1, 1)
            if not (dt.datetime(ny, nm, 1, tzinfo=BJ) <= mt < dt.datetime(ny, nm, 8, 6, tzinfo=BJ)):
                errs.append(f"{where0}: mtime {mt}")
            wb = openpyxl.load_workbook(p)
            e1904 = wb.epoch.year == 1904
            unit = None
            for ws in wb.worksheets:
                where = f"{where0}::{ws.title}"
                us = label_value(ws, "填报单位")
                ps = label_value(ws, "报告期")
                if len(us) != 1 or us[0] not in names:
                    errs.append(f"{where}: 填报单位 {us}")
                    continue
                u = names[us[0]]
                unit = unit or u
                if u != unit:
                    errs.append(f"{where}: unit differs between sheets")
                pm = re.fullmatch(r"(\d{4})(?:年|-|\.|/)(\d{1,2})月?", ps[0]) if len(ps) == 1 else None
                if not pm or (int(pm[1]), int(pm[2])) != (year, m):
                    errs.append(f"{where}: 报告期 {ps}")
                if ws.title not in cb.FORMS:
                    errs.append(f"{where}: unknown sheet")
                    continue
                got = read_sheet(ws, ws.title, e1904, errs, where)
                if got is None:
                    continue
                rows, _ = got
                lo, hi = dt.date(year, m, 1), dt.date(year, m, calendar.monthrange(year, m)[1])
                for r in rows:
                    w = f"{where} row {r['_row']}"
                    if ws.title == cb.F_INSP:
                        for k in ("task_id", "task_name", "method", "entities_sampled", "joint", "completed_on"):
                            if r[k] is None:
                                errs.append(f"{w}: missing {k}")
                        if r["method"] not in ("双随机", "专项检查", "日常检查"):
                            errs.append(f"{w}: method {r['method']}")
                        if bool(r["joint"]) != bool(r["joint_id"]):
                            errs.append(f"{w}: joint/joint_id")
                        if not (lo <= r["completed_on"] <= hi):
                            errs.append(f"{w}: completed_on {r['completed_on']}")
                        insp[u].append(r)
                    elif ws.title == cb.F_CASE:
                        if r["domain"] not in ("食品药品", "环境保护", "安全生产", "劳动保障", "其他"):
                            errs.append(f"{w}: domain")
                        if r["police_decision"] not in ("已立案", "不予立案", "待定"):
                            errs.append(f"{w}: decision")
                        if (r["police_decision"] == "已立案") != (r["filed_on"] is not None):
                            errs.append(f"{w}: filed_on presence")
                        if r["transferred_on"] > hi:
                            errs.append(f"{w}: transferred after month")
                        if r["filed_on"] and r["filed_on"] < r["transferred_on"]:
                            errs.append(f"{w}: filed before transfer")
                        cases[u][(m, r["transfer_id"])] = r
                    else:
                        if r["exam_passed"] > r["exam_takers"] or (r["training_sessions"] == 0 and r["trained_officers"]):
                            errs.append(f"{w}: training rule")
                        train[u][m] = r
                if ws.title == cb.F_TRAIN and len(rows) != 1:
                    errs.append(f"{where}: {len(rows)} training rows")
            if unit:
                per_month[(unit, m)] += 1
                sheets = {ws.title for ws in wb.worksheets}
                if sheets != owed[unit]:
                    errs.append(f"{where0}: sheets {sheets} != owed {owed[unit]}")
    for (u, m), k in per_month.items():
        if k != 1:
            errs.append(f"{u} {m}: {k} workbooks")
    if len(per_month) != 12 * len(owed):
        errs.append(f"{len(per_month)} unit-months, expected {12 * len(owed)}")
    for u, rs in insp.items():
        c = Counter(r["task_id"] for r in rs)
        dup = [k for k, v in c.items() if v > 1]
        if dup:
            errs.append(f"{u}: duplicate task ids {dup}")
    # figures from the files
    jmax = {}
    ent = 0
    for u, rs in insp.items():
        for r in rs:
            if r["joint"]:
                jmax[r["joint_id"]] = max(jmax.get(r["joint_id"], 0), r["entities_sampled"])
            else:
                ent += r["entities_sampled"]
    latest = {}
    for u, d in cases.items():
        for (m, tid), r in sorted(d.items()):
            latest[(u, tid)] = r
    figs = {
        "inspection_units": sum(1 for u in insp if insp[u]),
        "inspection_tasks": sum(len(v) for v in insp.values()),
        "inspection_entities": ent + sum(jmax.values()),
        "joint_inspections": len(jmax),
        "transfers_filed": sum(1 for r in latest.values() if r["police_decision"] == "已立案" and r["filed_on"].year == year),
        "exam_takers": sum(r["exam_takers"] for u in train for r in train[u].values()),
        "trained_officers": sum(r["trained_officers"] for u in train for r in train[u].values()),
    }
    model = cb.build_model(year, seed)[3]
    print(f"files: {n_files}  errors: {len(errs)}")
    for e in errs[:40]:
        print("  ERR", e)
    print("read back:", figs)
    print("model    :", model)
    ok = not errs and figs == model
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
