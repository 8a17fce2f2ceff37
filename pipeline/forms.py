"""The monthly returns (月报) as data: one definition per form drives the template, the parser,
the expectation suite and the warehouse table.

The contract these encode is ``pipeline/data/forms-contract.md`` (copied from the bureau's forms.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "int", "enum", "yesno", "date"]
Measure = Literal["stock", "flow"]

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
    ),
    unique_key=("task_id",),
    instructions=(
        "每完成一项检查任务填一行；本月没有完成的检查任务时，在第一行“任务编号”处填写“本月无”。",
        "任务编号在本单位本年度内唯一。",
        "联合抽查：各参与单位填写同一个联合抽查编号，抽取检查对象户数按本次联合抽查实际户数填写。",
        "完成日期须在报告期所属月份内。",
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
    ),
    instructions=(
        "每月填一行。持证执法人员数填月末人数；其余各项填本月发生数。",
        "考试合格人数不得大于参加考试人数；本月未开展专题培训时，参加专题培训人数填 0。",
    ),
)

FORMS: dict[str, Form] = {f.code: f for f in (INSPECTION, TRANSFER, TRAINING)}
FORMS_BY_SHEET: dict[str, Form] = {f.sheet: f for f in FORMS.values()}

#: Header-block labels every sheet carries above its table.
UNIT_LABEL = "填报单位"
PERIOD_LABEL = "报告期"
TOTAL_LABEL = "合计"
NIL_MARKERS = ("本月无", "无")
