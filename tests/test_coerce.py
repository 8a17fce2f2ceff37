import datetime as dt

import pytest

from pipeline.intake.coerce import CoercionError, to_date, to_int, to_period, to_text, to_yesno

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(12, 12), (12.0, 12), ("12", 12), ("１２", 12), ("1,200", 1200), ("12户", 12), (" 7 人 ", 7), ("", None),
     (None, None), ("-3", -3)],
)
def test_int_accepts_what_is_unambiguous(raw, expected):
    assert to_int(raw) == expected


@pytest.mark.parametrize("raw", ["12.5", 12.5, "十二", "12abc", "1.2.3", True, dt.date(2020, 1, 1)])
def test_int_refuses_what_is_not(raw):
    with pytest.raises(CoercionError):
        to_int(raw)


@pytest.mark.parametrize(
    "raw",
    [dt.datetime(2020, 12, 3), dt.date(2020, 12, 3), 44168, 44168.0, "2020-12-03", "2020/12/3", "2020年12月3日",
     "2020.12.03", "２０２０-１２-０３", "20201203", "44168"],
)
def test_dates_in_every_form_clerks_use(raw):
    assert to_date(raw) == dt.date(2020, 12, 3)


@pytest.mark.parametrize("raw", ["2020-13-01", "2020-02-30", "下月初", 12, "12/3/2020"])
def test_dates_that_cannot_be_read(raw):
    with pytest.raises(CoercionError):
        to_date(raw)


@pytest.mark.parametrize(("raw", "expected"), [("是", "是"), ("Y", "是"), ("y", "是"), ("√", "是"), ("否", "否"),
                                               ("N", "否"), ("×", "否"), (" 是 ", "是"), (None, None)])
def test_yes_no_variants(raw, expected):
    assert to_yesno(raw) == expected


def test_yes_no_refuses_other_words():
    with pytest.raises(CoercionError, match="是"):
        to_yesno("可能")


@pytest.mark.parametrize("raw", ["2020年12月", "2020-12", "2020.12", "2020/12", "2020 年 12 月", dt.date(2020, 12, 1)])
def test_period_forms(raw):
    assert to_period(raw) == "2020-12"


def test_period_rejects_nonsense():
    assert to_period("2020年13月") is None
    assert to_period("十二月") is None


def test_text_keeps_ids_typed_as_numbers_readable():
    assert to_text(7.0) == "7"
    assert to_text("　A-1 ") == "A-1"


def test_period_typed_as_a_number_is_read_only_when_unambiguous():
    assert to_period(2020.12) == "2020-12" and to_period(2020.05) == "2020-05"
    # 2020.1 in a number cell was typed as 2020.1 or 2020.10: January or October, so not guessed.
    assert to_period(2020.1) is None


def test_unquote_undoes_only_our_own_formula_neutralisation():
    from pipeline.intake.coerce import unquote
    from pipeline.outputs.workbook import safe_text

    for text in ("=SUM(A1)", "+86 123", "-3", "@home"):
        assert unquote(safe_text(text)) == text
    assert unquote("'quoted'") == "'quoted'" and unquote(12) == 12



def _serial(day: dt.date, epoch: dt.date = dt.date(1899, 12, 30)) -> int:
    return (day - epoch).days


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("as_", [int, float, str, lambda n: str(n).translate(_FULL_WIDTH)],
                         ids=["int", "float", "text", "full-width"])
@pytest.mark.parametrize("epoch", [dt.date(1899, 12, 30), dt.date(1904, 1, 1)], ids=["1900", "1904"])
def test_period_typed_as_a_serial_date_is_that_dates_month(as_, epoch):
    for day in (dt.date(2020, 3, 1), dt.date(2020, 3, 31), dt.date(2000, 1, 1), dt.date(2100, 12, 31)):
        assert to_period(as_(_serial(day, epoch)), epoch) == f"{day.year:04d}-{day.month:02d}"


def test_period_serial_outside_2000_to_2100_or_fractional_is_not_guessed():
    assert to_period(_serial(dt.date(1999, 12, 31))) is None
    assert to_period(_serial(dt.date(2101, 1, 1))) is None
    assert to_period(_serial(dt.date(2101, 1, 1), dt.date(1904, 1, 1)), dt.date(1904, 1, 1)) is None
    assert to_period(43891.5) is None and to_period("43891.5") is None
    # 2020 and 3 run together is neither a serial of this century nor a month: refused, not guessed.
    assert to_period(20203) is None and to_period("20203") is None
    # Six digits stay yyyymm.
    assert to_period(202003) == "2020-03"
