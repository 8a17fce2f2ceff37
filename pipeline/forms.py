"""The monthly returns (月报) as data: one definition per form drives the template, the parser,
the expectation suite and the warehouse table.

The reference docs/forms-reference.md is generated from these (``python -m pipeline.outputs.forms_doc``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "int", "enum", "yesno", "date"]
Measure = Literal["stock", "flow"]
CheckKind = Literal["jump", "robust_range", "last_year", "unit_outlier", "joint_agree", "ratio"]

YES = "是"
NO = "否"


@dataclass(frozen=True)
class Column:
    """One column of a form: its Chinese label on the sheet and its code in the warehouse."""

    code: str
    label: str
    type: ColumnType
    required: bool = False
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    #: (other column code, value): this column is required when the other column holds the value,
    #: and must be empty otherwise.
    required_when: tuple[str, str] | None = None
    #: "in_period": the date lies inside the reporting month; "not_after_period": not after its end.
    date_rule: Literal["in_period", "not_after_period"] | None = None
    #: This date is not before the date in the named column.
    not_before: str | None = None
    #: This number is not greater than the number in the named column.
    not_above: str | None = None
    #: This number is 0 when the named column is 0.
    zero_when_zero: str | None = None
    #: Aggregate forms only: a stock (value at month end) or a flow (summed over months).
    measure: Measure | None = None
    note: str = ""

    @property
    def sql_name(self) -> str:
        """Warehouse column name; counts carry their unit, as the warehouse's naming rule says."""
        return self.code


@dataclass(frozen=True)
class Check:
    """A verification rule (核实性审核): a hit asks the unit to confirm or explain, it never refuses.

    ``pipeline/validation/verification.py`` turns each into per-row bounds and GX expectations of severity warning.
    Thresholds are per form: each form declares its own. ``slack`` is an absolute allowance: a value
    within ``slack`` of the reference never hits (small counts move a lot in relative terms).
    """

    kind: CheckKind
    column: str
    #: jump, last_year: the value may be this many times larger or smaller than the reference;
    #: unit_outlier: this many times the largest value of the other units; joint_agree: of the partners'.
    factor: float = 0.0
    #: robust_range: median ± k · 1.4826 · MAD of the unit's last 12 months.
    k: float = 0.0
    #: robust_range: values needed in the window before the rule applies; unit_outlier: other units.
    min_history: int = 6
    slack: float = 0.0
    #: ratio: the denominator column, and the allowed value per unit of it.
    per: str | None = None
    min_per: float | None = None
    max_per: float | None = None

    @property
    def rule(self) -> str:
        return f"verify_{self.kind}"


#: The column every form carries for the clerk's answer to a verification hit.
VERIFY_NOTE = "verify_note"
VERIFY_NOTE_LABEL = "核实说明"


def verify_note_column() -> Column:
    return Column(
        VERIFY_NOTE, VERIFY_NOTE_LABEL, "text",
        note="数据经核实无误但与以往差异较大时，在此填写原因；填写后该行的核实提示视为已确认",
    )


@dataclass(frozen=True)
class Form:
    """A return: one sheet per unit per month."""

    code: str
    sheet: str
    title: str
    table: str
    grain: str
    kind: Literal["register", "aggregate"]
    columns: tuple[Column, ...]
    #: Columns whose combination is unique within one submission.
    unique_key: tuple[str, ...] = ()
    instructions: tuple[str, ...] = field(default_factory=tuple)
    #: Verification rules (核实性审核); the hard rules are on the columns.
    checks: tuple[Check, ...] = ()

    def column(self, code: str) -> Column:
        for col in self.columns:
            if col.code == code:
                return col
        raise KeyError(code)

    @property
    def labels(self) -> dict[str, str]:
        """Column code → Chinese label."""
        return {c.code: c.label for c in self.columns}

    @property
    def numeric_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.type == "int")


INSPECTION = Form(
    code="inspection",
    sheet="行政检查",
    title="行政检查情况月报表",
    table="fact_inspection",
    grain="one row per inspection task row of a submission (unit × month × task_id × file)",
    kind="register",
    columns=(
        Column("task_id", "任务编号", "text", required=True),
        Column("task_name", "任务名称", "text", required=True),
        Column("method", "检查方式", "enum", required=True, choices=("双随机", "专项检查", "日常检查")),
        Column("entities_sampled", "抽取检查对象户数", "int", required=True, min_value=0),
        Column("joint", "是否联合抽查", "yesno", required=True),
        Column("joint_id", "联合抽查编号", "text", required_when=("joint", YES)),
        Column("completed_on", "完成日期", "date", required=True, date_rule="in_period"),
        Column("issues_found", "发现问题数", "int", min_value=0),
        verify_note_column(),
    ),
    unique_key=("task_id",),
    instructions=(
        "每完成一项检查任务填一行；本月没有完成的检查任务时，在第一行“任务编号”处填写“本月无”。",
        "任务编号在本单位本年度内唯一。",
        "联合抽查：各参与单位填写同一个联合抽查编号，抽取检查对象户数按本次联合抽查实际户数填写。",
        "完成日期须在报告期所属月份内。",
    ),
    checks=(
        Check("robust_range", "entities_sampled", k=8, min_history=8, slack=80),
        Check("joint_agree", "entities_sampled", factor=4, slack=5),
    ),
)

TRANSFER = Form(
    code="transfer",
    sheet="案件移送",
    title="行政执法机关移送涉嫌犯罪案件情况月报表",
    table="fact_transfer",
    grain="one row per case report of a submission (unit × month × transfer_id × file)",
    kind="register",
    columns=(
        Column("transfer_id", "移送编号", "text", required=True),
        Column("offence", "案由", "text", required=True),
        Column(
            "domain", "领域", "enum", required=True,
            choices=("食品药品", "环境保护", "安全生产", "劳动保障", "其他"),
        ),
        Column("transferred_on", "移送日期", "date", required=True, date_rule="not_after_period"),
        Column("receiver", "接收机关", "text", required=True),
        Column("police_decision", "立案情况", "enum", required=True, choices=("已立案", "不予立案", "待定")),
        Column(
            "filed_on", "立案日期", "date", required_when=("police_decision", "已立案"),
            date_rule="not_after_period", not_before="transferred_on",
        ),
        verify_note_column(),
    ),
    unique_key=("transfer_id",),
    instructions=(
        "本月移送公安机关的案件，以及以前月份移送、本月公安机关作出立案决定的案件，各填一行。",
        "同一案件在以后月份再次填报时，移送编号保持不变；以最近一次填报为准。",
        "立案情况为“已立案”时必须填写立案日期，其他情况立案日期留空。",
    ),
)

TRAINING = Form(
    code="training",
    sheet="执法培训",
    title="行政执法人员培训考试情况月报表",
    table="fact_training",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column("certified_officers", "持证执法人员数", "int", required=True, min_value=0, measure="stock"),
        Column("exam_takers", "参加执法资格考试人数", "int", required=True, min_value=0, measure="flow"),
        Column(
            "exam_passed", "考试合格人数", "int", required=True, min_value=0,
            not_above="exam_takers", measure="flow",
        ),
        Column("training_sessions", "专题培训场次", "int", required=True, min_value=0, measure="flow"),
        Column(
            "trained_officers", "参加专题培训人数", "int", required=True, min_value=0,
            zero_when_zero="training_sessions", measure="flow",
        ),
        verify_note_column(),
    ),
    instructions=(
        "每月填一行。持证执法人员数填月末人数；其余各项填本月发生数。",
        "考试合格人数不得大于参加考试人数；本月未开展专题培训时，参加专题培训人数填 0。",
    ),
    checks=(
        Check("jump", "certified_officers", factor=5, slack=10),
        Check("robust_range", "exam_takers", k=8, slack=6),
        Check("robust_range", "training_sessions", k=8, slack=3),
        Check("robust_range", "trained_officers", k=8, slack=40),
        # Not on certified officers: a police sub-bureau has a thousand and more, ten times any other
        # unit, every month (both independent corpora); trained officers are comparable across units.
        Check("unit_outlier", "trained_officers", factor=4, min_history=5, slack=40),
        Check("ratio", "trained_officers", per="training_sessions", max_per=150),
    ),
)

CLOSED = "已结案"
PENDING = "审理中"

RECONSIDERATION = Form(
    code="reconsideration",
    sheet="行政复议",
    title="行政复议案件情况月报表",
    table="fact_reconsideration",
    grain="one row per case report of a submission (unit × month × case_id × file)",
    kind="register",
    columns=(
        Column("case_id", "案件编号", "text", required=True),
        Column(
            "category", "案件类别", "enum", required=True,
            choices=("工伤认定", "举报投诉", "政府信息公开", "行政处罚", "行政强制", "行政许可", "其他"),
        ),
        Column("respondent", "被申请人", "text", required=True),
        Column("accepted_on", "受理日期", "date", required=True, date_rule="not_after_period"),
        Column("status", "办理状态", "enum", required=True, choices=(PENDING, CLOSED)),
        Column(
            "closed_on", "结案日期", "date", required_when=("status", CLOSED),
            date_rule="not_after_period", not_before="accepted_on",
        ),
        Column(
            "outcome", "结案方式", "enum", required_when=("status", CLOSED),
            choices=("维持", "撤销", "变更", "确认违法", "责令履行", "驳回", "终止", "调解"),
        ),
        Column(
            "suggestion_letters", "制发复议建议书份数", "int", required_when=("status", CLOSED), min_value=0,
            note="随结案制发的行政复议建议书份数，没有填0",
        ),
        Column(
            "opinion_letters", "制发复议意见书份数", "int", required_when=("status", CLOSED), min_value=0,
            note="随结案制发的行政复议意见书份数，没有填0",
        ),
        verify_note_column(),
    ),
    unique_key=("case_id",),
    instructions=(
        "本月受理的案件、本月结案的案件各填一行；同一案件受理和结案在同一个月的，只填一行。",
        "同一案件在以后月份再次填报时，案件编号保持不变；以最近一次填报为准。",
        "办理状态为“已结案”时必须填写结案日期、结案方式和制发的建议书、意见书份数（没有填0），审理中的案件这几栏留空。",
        "以前年度受理、本年结案的案件，受理日期按实际填写。",
    ),
)

LITIGATION = Form(
    code="litigation",
    sheet="行政应诉",
    title="行政应诉案件情况月报表",
    table="fact_litigation",
    grain="one row per case report of a submission (unit × month × case_id × file): "
          "a month in which the case was received, heard or closed",
    kind="register",
    columns=(
        Column("case_id", "案件编号", "text", required=True),
        Column(
            "cause", "案件类别", "enum", required=True,
            choices=("政府信息公开", "依法履职", "行政处罚", "行政强制", "征收补偿", "工伤认定", "其他"),
        ),
        Column("defendant", "被告", "text", required=True),
        Column("received_on", "收案日期", "date", required=True, date_rule="not_after_period"),
        Column("hearing_held", "本月是否开庭", "yesno", required=True),
        Column(
            "hearing_on", "开庭日期", "date", required_when=("hearing_held", YES), date_rule="in_period",
            not_before="received_on",
        ),
        Column(
            "head_appeared", "负责人是否出庭", "yesno", required_when=("hearing_held", YES),
            note="被告行政机关负责人本次是否出庭应诉",
        ),
        Column("status", "办理状态", "enum", required=True, choices=(PENDING, CLOSED)),
        Column(
            "closed_on", "结案日期", "date", required_when=("status", CLOSED),
            date_rule="not_after_period", not_before="received_on",
        ),
        Column(
            "outcome", "裁判结果", "enum", required_when=("status", CLOSED),
            choices=("驳回诉讼请求", "撤销", "确认违法", "责令履行", "原告撤诉", "其他"),
        ),
        verify_note_column(),
    ),
    unique_key=("case_id",),
    instructions=(
        "本月收案、开庭或结案的案件各填一行（同一案件同一个月只填一行）；以前年度收案、本年仍在审理的案件照此填报。",
        "本月开庭的，“本月是否开庭”填“是”，并填写开庭日期和负责人是否出庭；开庭日期须在报告期所属月份内。",
        "同一案件在以后月份再次填报时，案件编号保持不变；结案情况以最近一次填报为准。",
        "办理状态为“已结案”时必须填写结案日期和裁判结果，审理中的案件这两栏留空。",
    ),
)

LEGALITY_REVIEW = Form(
    code="legality_review",
    sheet="合法性审查",
    title="合法性审查工作情况月报表",
    table="fact_legality_review",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column("documents_reviewed", "审核区级文件数", "int", required=True, min_value=0, measure="flow"),
        Column("contracts_reviewed", "审核合同数", "int", required=True, min_value=0, measure="flow"),
        Column("research_meetings", "组织立法调研会场次", "int", required=True, min_value=0, measure="flow"),
        verify_note_column(),
    ),
    instructions=(
        "每月填一行，各项填本月发生数。",
        "审核区级文件数：本月完成合法性审核的区政府及区政府办公室文件（含行政规范性文件）件数。",
    ),
    checks=(
        Check("robust_range", "documents_reviewed", k=8, slack=5),
        Check("robust_range", "contracts_reviewed", k=8, slack=5),
        Check("robust_range", "research_meetings", k=8, slack=3),
    ),
)

LEGAL_ADVISER = Form(
    code="legal_adviser",
    sheet="法律顾问",
    title="政府法律顾问工作情况月报表",
    table="fact_legal_adviser",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column("matters_handled", "参与处理涉法事项数", "int", required=True, min_value=0, measure="flow"),
        Column("opinions_issued", "出具法律意见书份数", "int", required=True, min_value=0, measure="flow"),
        Column("contracts_reviewed", "审查修改合同份数", "int", required=True, min_value=0, measure="flow"),
        Column("meetings_attended", "参加会议次数", "int", required=True, min_value=0, measure="flow"),
        verify_note_column(),
    ),
    instructions=("每月填一行，各项填区政府法律顾问本月发生数。",),
    checks=(
        Check("robust_range", "matters_handled", k=8, slack=5),
        Check("robust_range", "opinions_issued", k=8, slack=5),
        Check("robust_range", "contracts_reviewed", k=8, slack=5),
        Check("robust_range", "meetings_attended", k=8, slack=3),
    ),
)

MEDIATION = Form(
    code="mediation",
    sheet="调解与法律服务",
    title="调解组织与公共法律服务情况月报表",
    table="fact_mediation",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column(
            "surveyed_enterprises", "排摸重点企业等家数", "int", required=True, min_value=0, measure="stock",
            note="辖区内规模在500人以上的企业、商会、市场、重点行业，已排摸的累计家数",
        ),
        Column(
            "enterprise_mediation_orgs", "已成立调解组织家数", "int", required=True, min_value=0,
            not_above="surveyed_enterprises", measure="stock",
        ),
        Column("health_check_reports", "出具法治体检报告数", "int", required=True, min_value=0, measure="flow"),
        Column(
            "family_studios_new", "新成立家事调解工作室数", "int", required=True, min_value=0, measure="flow",
        ),
        Column("service_teams", "法律服务团队数", "int", required=True, min_value=0, measure="stock"),
        Column("grids_covered", "进驻网格数", "int", required=True, min_value=0, measure="stock"),
        verify_note_column(),
    ),
    instructions=(
        "每月填一行。排摸家数、已成立调解组织家数、法律服务团队数、进驻网格数填月末累计数；"
        "法治体检报告数、新成立家事调解工作室数填本月发生数。",
        "已成立调解组织家数不得大于排摸家数。",
    ),
    checks=(
        Check("jump", "surveyed_enterprises", factor=5, slack=10),
        Check("jump", "enterprise_mediation_orgs", factor=5, slack=10),
        Check("jump", "service_teams", factor=5, slack=10),
        Check("jump", "grids_covered", factor=5, slack=10),
        Check("robust_range", "health_check_reports", k=8, slack=5),
        Check("robust_range", "family_studios_new", k=8, slack=3),
    ),
)

LEGAL_AID = Form(
    code="legal_aid",
    sheet="法律援助",
    title="法律援助讨薪情况月报表",
    table="fact_legal_aid",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column("workers_helped", "成功讨薪劳动者人数", "int", required=True, min_value=0, measure="flow"),
        Column(
            "wages_recovered_yuan", "追回劳动报酬金额（元）", "int", required=True, min_value=0,
            zero_when_zero="workers_helped", measure="flow", note="以元为单位，填整数",
        ),
        verify_note_column(),
    ),
    instructions=(
        "每月填一行，各项填本月发生数；金额以元为单位。",
        "本月没有成功讨薪的劳动者时，两项均填 0。",
    ),
    checks=(
        Check("robust_range", "workers_helped", k=8, slack=50),
        Check("ratio", "wages_recovered_yuan", per="workers_helped", min_per=300, max_per=100000),
    ),
)

PETITION = Form(
    code="petition",
    sheet="信访",
    title="信访矛盾隐患排查处置情况月报表",
    table="fact_petition",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column("risks_found", "排查发现信访矛盾隐患数", "int", required=True, min_value=0, measure="flow"),
        Column("risks_resolved", "成功处置信访矛盾隐患数", "int", required=True, min_value=0, measure="flow"),
        verify_note_column(),
    ),
    instructions=("每月填一行，各项填本月发生数；成功处置数含以前月份发现、本月处置完毕的隐患。",),
    checks=(
        Check("robust_range", "risks_found", k=8, slack=10),
        Check("robust_range", "risks_resolved", k=8, slack=10),
        Check("last_year", "risks_found", factor=4, slack=20),
    ),
)

GENERAL = Form(
    code="general",
    sheet="综合",
    title="法治政府建设综合情况月报表",
    table="fact_general",
    grain="one row per submission (unit × month × file)",
    kind="aggregate",
    columns=(
        Column("study_sessions", "区政府常务会议学法次数", "int", min_value=0, measure="flow"),
        Column("devolved_powers", "区级下放事项数", "int", min_value=0, measure="stock"),
        Column("registrations_total", "企业登记总数", "int", min_value=0, measure="flow"),
        Column(
            "registrations_online", "全程电子化登记数", "int", min_value=0, not_above="registrations_total",
            measure="flow",
        ),
        verify_note_column(),
    ),
    instructions=(
        "每月填一行，只填写本单位负责的项目，其余留空：区司法局填学法次数、下放事项数；区市场监督管理局填企业登记数。",
        "区级下放事项数填月末经汇总审核的累计事项数；其余各项填本月发生数。",
        "全程电子化登记数不得大于企业登记总数。",
    ),
    checks=(
        Check("jump", "devolved_powers", factor=5, slack=20),
        Check("robust_range", "registrations_total", k=8, slack=60),
        Check("last_year", "registrations_total", factor=3, slack=100),
        Check("robust_range", "study_sessions", k=8, slack=3),
    ),
)

FORMS: dict[str, Form] = {
    f.code: f
    for f in (
        INSPECTION, TRANSFER, TRAINING, GENERAL, LEGALITY_REVIEW, LEGAL_ADVISER, MEDIATION, RECONSIDERATION,
        LITIGATION, LEGAL_AID, PETITION,
    )
}
FORMS_BY_SHEET: dict[str, Form] = {f.sheet: f for f in FORMS.values()}

#: Header-block labels every sheet carries above its table.
UNIT_LABEL = "填报单位"
PERIOD_LABEL = "报告期"
TOTAL_LABEL = "合计"
NIL_MARKERS = ("本月无", "无")

# How official statistical returns (统计报表) are laid out (docs/clerk-rules.md).
#: A grand total row's label (compared without spaces): checked against every data row, never loaded.
TOTAL_LABELS = (TOTAL_LABEL, "总计", "合计数", "总计数", "共计")
#: A subtotal row's label: checked against the data rows of its group.
SUBTOTAL_LABELS = ("小计",)
#: The numbering column on the left of a table: known, never data.
SERIAL_LABEL = "序号"
#: The 栏次 row under the header: stems for text columns, 1 2 3 … for number columns, maybe a label.
COLUMN_NUMBER_LABELS = ("栏次", "代码", "栏号")
COLUMN_NUMBER_STEMS = "甲乙丙丁戊己庚辛壬癸"
#: The 计量单位 row under the header: a unit per number column, maybe a label.
UNIT_ROW_LABELS = ("计量单位", "单位")
UNIT_WORDS = (
    "人", "人次", "户", "户次", "场", "场次", "件", "件次", "次", "个", "项", "起", "名", "份", "家", "天", "日", "所",
    "台", "辆", "处", "宗", "批", "篇", "条", "张", "期", "部", "支", "组", "小时", "元", "万元", "千元", "亿元", "%",
    "年月日", "年-月-日", "年/月/日", "年.月.日",
)
#: The 表号 block at the top right of an official return: labels that are never 填报单位 or 报告期.
FORM_NUMBER_LABELS = (
    "表号", "制定机关", "制表机关", "批准机关", "批准文号", "备案文号", "有效期至", "有效期", "计量单位",
)
