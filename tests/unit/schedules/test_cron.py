"""Standard cron converted to EventBridge Scheduler's form: fields, day rules, renumbering, rejections."""

from __future__ import annotations

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.schedules import scheduler_cron
from switchboard.schedules.matcher import parse_scheduler_cron


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("* * * * *", "cron(* * * * ? *)"),
        ("0 9 * * *", "cron(0 9 * * ? *)"),
        ("15 14 1 * *", "cron(15 14 1 * ? *)"),
        ("  0   9 * *\t* ", "cron(0 9 * * ? *)"),
        ("05 09 * * *", "cron(5 9 * * ? *)"),
    ],
)
def test_plain_values_and_wildcards(cron: str, expected: str) -> None:
    assert scheduler_cron(cron) == expected


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0-29 * * * *", "cron(0-29 * * * ? *)"),
        ("0 9-17 * * *", "cron(0 9-17 * * ? *)"),
        ("0 0 1-15 * *", "cron(0 0 1-15 * ? *)"),
        ("0 0 1 6-8 *", "cron(0 0 1 6-8 ? *)"),
        ("0 0 1-31 * *", "cron(0 0 * * ? *)"),
        ("0-59 0-23 * 1-12 *", "cron(* * * * ? *)"),
        ("0 8-9 * * *", "cron(0 8,9 * * ? *)"),
    ],
)
def test_ranges(cron: str, expected: str) -> None:
    assert scheduler_cron(cron) == expected


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/5 * * * *", "cron(0/5 * * * ? *)"),
        ("*/1 * * * *", "cron(* * * * ? *)"),
        ("0 */6 * * *", "cron(0 0/6 * * ? *)"),
        ("0 0 */2 * *", "cron(0 0 1/2 * ? *)"),
        ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
        ("5/15 * * * *", "cron(5/15 * * * ? *)"),
        ("1-59/2 * * * *", "cron(1/2 * * * ? *)"),
        ("0-30/10 * * * *", "cron(0,10,20,30 * * * ? *)"),
        ("*/30 * * * *", "cron(0,30 * * * ? *)"),
        ("*/59 * * * *", "cron(0,59 * * * ? *)"),
        ("*/60 * * * *", "cron(0 * * * ? *)"),
        ("0 9-17/4 * * *", "cron(0 9,13,17 * * ? *)"),
    ],
)
def test_steps_start_at_their_first_value(cron: str, expected: str) -> None:
    assert scheduler_cron(cron) == expected


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0,30 * * * *", "cron(0,30 * * * ? *)"),
        ("0 9,12,18 * * *", "cron(0 9,12,18 * * ? *)"),
        ("0 1,2,3,10 * * *", "cron(0 1-3,10 * * ? *)"),
        ("0 0 1,15 * *", "cron(0 0 1,15 * ? *)"),
        ("0,*/20 * * * *", "cron(0/20 * * * ? *)"),
        ("30,0 * * * *", "cron(0,30 * * * ? *)"),
        ("1-3,2-4 * * * *", "cron(1-4 * * * ? *)"),
        ("0 0 1 1,7 *", "cron(0 0 1 1,7 ? *)"),
    ],
)
def test_lists(cron: str, expected: str) -> None:
    assert scheduler_cron(cron) == expected


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 0 1 JAN *", "cron(0 0 1 1 ? *)"),
        ("0 0 1 jan-mar *", "cron(0 0 1 1-3 ? *)"),
        ("0 0 1 Jun,DEC *", "cron(0 0 1 6,12 ? *)"),
        ("0 0 1 jan-dec/3 *", "cron(0 0 1 1/3 ? *)"),
        ("0 9 * * mon", "cron(0 9 ? * MON *)"),
        ("0 9 * * Mon-Fri", "cron(0 9 ? * MON-FRI *)"),
        ("0 9 * * sat,SUN", "cron(0 9 ? * SUN,SAT *)"),
        ("0 9 * * mon-3", "cron(0 9 ? * MON-WED *)"),
    ],
)
def test_month_and_weekday_names_in_any_case(cron: str, expected: str) -> None:
    assert scheduler_cron(cron) == expected


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [
        ("0", "SUN"),
        ("7", "SUN"),
        ("1", "MON"),
        ("6", "SAT"),
        ("1-5", "MON-FRI"),
        ("0,6", "SUN,SAT"),
        ("6,7", "SUN,SAT"),
        ("5-7", "SUN,FRI,SAT"),
        ("4-7", "SUN,THU-SAT"),
        ("FRI-SUN", "SUN,FRI,SAT"),
        ("SAT-SUN", "SUN,SAT"),
        ("SUN-TUE", "SUN-TUE"),
        ("0-2", "SUN-TUE"),
        ("*/2", "SUN,TUE,THU,SAT"),
        ("1-7/2", "SUN,MON,WED,FRI"),
        ("0,7", "SUN"),
        ("1/2", "SUN,MON,WED,FRI"),
    ],
)
def test_weekdays_are_renumbered_to_scheduler_names(weekday: str, expected: str) -> None:
    # Given a weekday field in standard numbering (SUN=0 or 7)
    # When it is converted
    converted = scheduler_cron(f"0 9 * * {weekday}")

    # Then Scheduler gets names in its own order (SUN first), never a range that wraps
    assert converted == f"cron(0 9 ? * {expected} *)"


@pytest.mark.parametrize("weekday", ["*", "0-6", "0-7", "1-7", "SUN-SAT", "*/1", "0,1,2,3,4,5,6"])
def test_every_weekday_puts_the_question_mark_on_day_of_week(weekday: str) -> None:
    assert scheduler_cron(f"0 9 * * {weekday}") == "cron(0 9 * * ? *)"


def test_a_restricted_day_of_month_keeps_it_and_questions_day_of_week() -> None:
    assert scheduler_cron("0 9 1,15 * *") == "cron(0 9 1,15 * ? *)"


def test_a_restricted_day_of_week_questions_day_of_month() -> None:
    assert scheduler_cron("0 9 * * 1-5") == "cron(0 9 ? * MON-FRI *)"


def test_a_stepped_day_of_month_with_every_weekday_keeps_the_step() -> None:
    assert scheduler_cron("0 9 */2 * *") == "cron(0 9 1/2 * ? *)"


def test_a_stepped_weekday_with_every_day_of_month_keeps_the_weekdays() -> None:
    assert scheduler_cron("0 9 * * */3") == "cron(0 9 ? * SUN,WED,SAT *)"


@pytest.mark.parametrize("cron", ["0 9 1-31 * 1", "0 9 1 * 0-7", "0 9 1 * 0-6"])
def test_either_day_field_selecting_every_day_means_every_day(cron: str) -> None:
    # Given both day fields set, one of them to every day: standard cron matches either, so every day
    # When converted
    # Then it runs every day
    assert scheduler_cron(cron) == "cron(0 9 * * ? *)"


def test_the_year_is_always_every_year() -> None:
    assert scheduler_cron("0 0 1 1 *").endswith(" *)")


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@yearly", "cron(0 0 1 1 ? *)"),
        ("@annually", "cron(0 0 1 1 ? *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
        ("@weekly", "cron(0 0 ? * SUN *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@midnight", "cron(0 0 * * ? *)"),
        ("@hourly", "cron(0 * * * ? *)"),
        ("@DAILY", "cron(0 0 * * ? *)"),
    ],
)
def test_macros_are_expanded(macro: str, expected: str) -> None:
    assert scheduler_cron(macro) == expected


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("", "has 5 fields (minute hour day-of-month month day-of-week), not 0"),
        ("* * * *", "not 4"),
        ("0 * * * * *", "not 6"),
        ("0 0 * * ? *", "not 6"),
        ("cron(0 9 * * ? *)", "not a Scheduler expression"),
        ("rate(5 minutes)", "not a Scheduler expression"),
        ("@reboot", "'@reboot' is not a supported macro"),
        ("@every 5m", "is not a supported macro"),
        ("60 * * * *", "minute field '60': 60 is out of range 0-59"),
        ("0 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("0 0 0 * *", "day-of-month field '0': 0 is out of range 1-31"),
        ("0 0 32 * *", "day-of-month field '32': 32 is out of range 1-31"),
        ("0 0 1 0 *", "month field '0': 0 is out of range 1-12"),
        ("0 0 1 13 *", "month field '13': 13 is out of range 1-12"),
        ("0 0 * * 8", "day-of-week field '8': 8 is out of range 0-7"),
        ("0 0 * * 1-8", "day-of-week field '1-8': 8 is out of range 0-7"),
        ("30-10 * * * *", "minute field '30-10': the range 30-10 is reversed"),
        ("0 0 * DEC-JAN *", "month field 'DEC-JAN': the range DEC-JAN is reversed"),
        ("0 0 * * FRI-MON", "day-of-week field 'FRI-MON': the range FRI-MON is reversed"),
        ("0 0 * * 7-1", "the range 7-1 is reversed"),
        ("0 0 * * tue-1", "the range tue-1 is reversed"),
        ("*/0 * * * *", "minute field '*/0': the step must be at least 1"),
        ("0 0-23/0 * * *", "hour field '0-23/0': the step must be at least 1"),
        ("*/x * * * *", "the step 'x' is not a whole number"),
        ("*/ * * * *", "the step '' is not a whole number"),
        ("*/-1 * * * *", "the step '-1' is not a whole number"),
        ("0 0 * FOO *", "month field 'FOO': 'FOO' is not a number or a name (JAN, FEB"),
        ("0 0 * * MONDAY", "day-of-week field 'MONDAY': 'MONDAY' is not a number or a name (SUN, MON"),
        ("0 0 * * 8-9", "8 is out of range 0-7"),
        ("MON * * * *", "minute field 'MON': 'MON' is not a number"),
        ("0 0 * JAN-MON *", "month field 'JAN-MON': 'MON' is not a number or a name"),
        ("-5 * * * *", "minute field '-5': '' is not a number"),
        ("1-2-3 * * * *", "minute field '1-2-3': '2-3' is not a number"),
        ("+5 * * * *", "'+5' is not a number"),
        ("1.5 * * * *", "'1.5' is not a number"),
        ("1,,2 * * * *", "minute field '1,,2': a list item is empty"),
        ("1, * * * *", "a list item is empty"),
        ("0 0 ? * MON", "day-of-month field '?': '?' is not standard cron; write *"),
        ("0 0 * * ?", "day-of-week field '?': '?' is not standard cron"),
        ("0 0 L * *", "day-of-month field 'L': 'L' is not standard cron"),
        ("0 0 LW * *", "'LW' is not standard cron"),
        ("0 0 15W * *", "day-of-month field '15W': '15W' is not standard cron"),
        ("0 0 * * 5L", "day-of-week field '5L': '5L' is not standard cron"),
        ("0 0 * * L", "'L' is not standard cron"),
        ("0 0 * * 5#2", "day-of-week field '5#2': '#' is not standard cron"),
        ("0 0 * * MON#1", "'#' is not standard cron"),
        (
            "0 9 1 * 1",
            "day-of-month '1' and day-of-week '1' are both set, which in standard cron means days matching "
            "either one; EventBridge Scheduler cannot express that",
        ),
        ("0 9 1-7 * MON", "both set"),
        ("0 9 */2 * 1", "day-of-month '*/2' and day-of-week '1' both narrow the days"),
        ("0 9 1 * */2", "day-of-month '1' and day-of-week '*/2' both narrow the days"),
        ("0 9 */2 * */2", "both narrow the days"),
        ("0 0 30 2 *", "day-of-month field '30': none of the selected months has that day"),
        ("0 0 31 4,6,9,11 *", "none of the selected months has that day"),
        ("0 0 30,31 FEB *", "none of the selected months has that day"),
    ],
)
def test_invalid_expressions_are_rejected_with_the_reason(cron: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        scheduler_cron(cron)

    assert fragment in raised.value.message
    assert raised.value.status == 422
    assert raised.value.details == [
        {"loc": ["cron"], "code": "invalid_cron", "message": raised.value.message}
    ]


@pytest.mark.parametrize("cron", ["0 0 29 2 *", "0 0 31 1-2 *", "0 0 30,31 2,3 *"])
def test_a_day_that_some_selected_month_has_is_accepted(cron: str) -> None:
    assert scheduler_cron(cron).startswith("cron(0 0 ")


@pytest.mark.parametrize(
    "cron",
    [
        "*/7 */5 * * *",
        "0 9 * * 1-5",
        "0 0 * * 5-7",
        "0-30/10 1,2,3 1-15 jan-mar *",
        "@weekly",
        "0 0 */3 */2 *",
        "59 23 31 12 *",
    ],
)
def test_every_conversion_is_a_well_formed_scheduler_expression(cron: str) -> None:
    converted = scheduler_cron(cron)

    parsed = parse_scheduler_cron(converted)

    assert (parsed.days is None) != (parsed.weekdays is None)
    assert len(converted) <= 256
