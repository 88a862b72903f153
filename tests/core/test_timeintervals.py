"""Alertmanager time intervals: syntax, validation messages and matching."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from alertreflex.core.timeintervals import (
    NamedTimeInterval,
    TimeIntervalSpec,
    TimeRange,
    any_contains,
    spec_contains,
)

LATE_NIGHT_YAML = """
name: late-night
time_intervals:
  - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
    weekdays: ['monday:friday', 'sunday']
    days_of_month: ['1:5', '-3:-1']
    months: ['january:march', '12']
    years: ['2020:2022', '2030']
    location: 'Europe/Berlin'
"""


def spec(**fields: Any) -> TimeIntervalSpec:
    return TimeIntervalSpec.model_validate(fields)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def error_of(fields: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        TimeIntervalSpec.model_validate(fields)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return str(errors[0]["msg"])


# --- matching ----------------------------------------------------------------------


def test_empty_spec_matches_always() -> None:
    """An entry with no fields matches any instant."""
    s = spec()
    assert spec_contains(s, utc(1999, 12, 31, 23, 59))
    assert spec_contains(s, utc(2024, 2, 29, 0, 0))


def test_times_start_inclusive_end_exclusive() -> None:
    """09:00 is in 09:00-17:00, 17:00 is not; seconds do not count."""
    s = spec(times=[{"start_time": "09:00", "end_time": "17:00"}])
    assert spec_contains(s, utc(2024, 5, 6, 9, 0))
    assert spec_contains(s, utc(2024, 5, 6, 16, 59, 59))
    assert not spec_contains(s, utc(2024, 5, 6, 17, 0))
    assert not spec_contains(s, utc(2024, 5, 6, 8, 59, 59))


def test_times_until_2400_and_whole_day() -> None:
    """24:00 ends the day: 23:59:59 is in, the next midnight is not."""
    evening = spec(times=[{"start_time": "17:00", "end_time": "24:00"}])
    assert spec_contains(evening, utc(2024, 5, 6, 23, 59, 59, 999999))
    assert not spec_contains(evening, utc(2024, 5, 7, 0, 0))
    whole = spec(times=[{"start_time": "00:00", "end_time": "24:00"}])
    assert spec_contains(whole, utc(2024, 5, 7, 0, 0))
    assert spec_contains(whole, utc(2024, 5, 7, 23, 59))


def test_times_any_range_matches() -> None:
    """Several ranges: being in any one is enough."""
    s = spec(
        times=[
            {"start_time": "08:00", "end_time": "09:00"},
            {"start_time": "12:00", "end_time": "13:30"},
        ]
    )
    assert spec_contains(s, utc(2024, 5, 6, 8, 30))
    assert spec_contains(s, utc(2024, 5, 6, 13, 29))
    assert not spec_contains(s, utc(2024, 5, 6, 10, 0))
    assert not spec_contains(s, utc(2024, 5, 6, 13, 30))


def test_time_range_minutes() -> None:
    """TimeRange exposes its parsed minutes."""
    r = TimeRange.model_validate({"start_time": "01:35", "end_time": "24:00"})
    assert (r.start_minute, r.end_minute) == (95, 1440)


def test_late_night_across_midnight() -> None:
    """late-night is two ranges; each part is judged on its own calendar day."""
    s = spec(
        times=[
            {"start_time": "22:00", "end_time": "24:00"},
            {"start_time": "00:00", "end_time": "06:00"},
        ],
        weekdays=["monday:friday"],
    )
    assert spec_contains(s, utc(2024, 5, 6, 22, 0))  # Monday
    assert spec_contains(s, utc(2024, 5, 6, 23, 59))
    assert spec_contains(s, utc(2024, 5, 7, 0, 0))  # Tuesday
    assert spec_contains(s, utc(2024, 5, 7, 5, 59))
    assert not spec_contains(s, utc(2024, 5, 7, 6, 0))
    assert not spec_contains(s, utc(2024, 5, 7, 21, 59))
    # Friday night after midnight is Saturday, which monday:friday does not include.
    assert spec_contains(s, utc(2024, 5, 10, 23, 0))
    assert not spec_contains(s, utc(2024, 5, 11, 1, 0))


def test_weekday_range_inclusive() -> None:
    """monday:friday includes both ends and no weekend day."""
    s = spec(weekdays=["monday:friday"])
    days = {
        utc(2024, 5, d, 12).strftime("%A"): spec_contains(s, utc(2024, 5, d, 12))
        for d in range(5, 12)
    }
    assert days == {
        "Sunday": False,
        "Monday": True,
        "Tuesday": True,
        "Wednesday": True,
        "Thursday": True,
        "Friday": True,
        "Saturday": False,
    }


def test_weekday_single_names_case_insensitive() -> None:
    """Single days, any letter case; several items are ORed."""
    s = spec(weekdays=["SUNDAY", "Wednesday", "saturday:Saturday"])
    assert spec_contains(s, utc(2024, 5, 5, 12))  # Sunday
    assert spec_contains(s, utc(2024, 5, 8, 12))  # Wednesday
    assert spec_contains(s, utc(2024, 5, 11, 12))  # Saturday
    assert not spec_contains(s, utc(2024, 5, 6, 12))  # Monday


def test_weekday_sunday_to_saturday_is_every_day() -> None:
    """Weeks run from sunday to saturday, as in Alertmanager."""
    s = spec(weekdays=["sunday:saturday"])
    assert all(spec_contains(s, utc(2024, 5, d, 12)) for d in range(1, 32))


def test_days_of_month_range_inclusive() -> None:
    """'4:6' includes the 4th and the 6th, not the 3rd or the 7th."""
    s = spec(days_of_month=["4:6"])
    assert [d for d in range(1, 31) if spec_contains(s, utc(2020, 4, d, 12))] == [4, 5, 6]


def test_days_of_month_single_and_numbers() -> None:
    """A single day, and an int item as YAML gives it."""
    s = spec(days_of_month=["1", 15])
    assert spec_contains(s, utc(2024, 5, 1, 0))
    assert spec_contains(s, utc(2024, 5, 15, 23, 59))
    assert not spec_contains(s, utc(2024, 5, 2, 0))


def test_days_of_month_negative_last_days() -> None:
    """'-3:-1' is the last three days of each month, whatever its length."""
    s = spec(days_of_month=["-3:-1"])
    assert [d for d in range(1, 32) if spec_contains(s, utc(2020, 1, d))] == [29, 30, 31]
    assert [d for d in range(1, 31) if spec_contains(s, utc(2020, 6, d))] == [28, 29, 30]
    assert not spec_contains(s, utc(2020, 3, 1))


def test_last_day_of_february() -> None:
    """-1 is Feb 29 in a leap year and Feb 28 otherwise."""
    s = spec(days_of_month=["-1"])
    assert spec_contains(s, utc(2024, 2, 29, 12))
    assert not spec_contains(s, utc(2024, 2, 28, 12))
    assert spec_contains(s, utc(2023, 2, 28, 12))
    assert not spec_contains(s, utc(2023, 2, 27, 12))
    assert spec_contains(s, utc(2100, 2, 28, 12))  # not a leap year


def test_day_31_in_a_30_day_month() -> None:
    """31 matches nothing in April, and nothing spills into May."""
    s = spec(days_of_month=["31"])
    assert not any(spec_contains(s, utc(2024, 4, d, 12)) for d in range(1, 31))
    assert not spec_contains(s, utc(2024, 5, 1, 12))
    assert spec_contains(s, utc(2024, 5, 31, 12))


def test_day_range_past_month_end_stops_at_last_day() -> None:
    """'25:31' in April is the 25th to the 30th; '30:31' in February is nothing."""
    s = spec(days_of_month=["25:31"])
    assert [d for d in range(1, 31) if spec_contains(s, utc(2024, 4, d))] == list(range(25, 31))
    feb = spec(days_of_month=["30:31"])
    assert not any(spec_contains(feb, utc(2021, 2, d)) for d in range(1, 29))


def test_day_range_positive_to_negative() -> None:
    """'1:-1' is every day; '20:-1' runs to the month's end."""
    every = spec(days_of_month=["1:-1"])
    assert all(spec_contains(every, utc(2023, 2, d)) for d in range(1, 29))
    tail = spec(days_of_month=["20:-1"])
    assert [d for d in range(1, 29) if spec_contains(tail, utc(2023, 2, d))] == list(range(20, 29))


def test_negative_day_beyond_short_month() -> None:
    """-31 is the 1st of a 31-day month and no day of February, as in Alertmanager."""
    s = spec(days_of_month=["-31"])
    assert spec_contains(s, utc(2024, 1, 1))
    assert not spec_contains(s, utc(2024, 1, 2))
    assert not any(spec_contains(s, utc(2024, 2, d)) for d in range(1, 30))
    whole = spec(days_of_month=["-31:-1"])
    assert all(spec_contains(whole, utc(2023, 2, d)) for d in range(1, 29))


def _alertmanager_day_match(start: int, end: int, day: int, length: int) -> bool:
    """ContainsTime's days_of_month step, transcribed: resolve, skip, clamp, compare."""
    begin = length + start + 1 if start < 0 else start
    last = length + end + 1 if end < 0 else end
    if begin > length:
        return False
    begin = max(-length, min(begin, length))
    last = max(-length, min(last, length))
    return begin <= day <= last


def test_days_of_month_agree_with_alertmanager() -> None:
    """Ranges near both month ends match the same days as Alertmanager, for 28..31 days."""
    edges = [-31, -30, -29, -28, -27, -15, -2, -1, 1, 2, 15, 27, 28, 29, 30, 31]
    checked = 0
    for start in edges:
        for end in edges:
            try:
                s = spec(days_of_month=[f"{start}:{end}"])
            except ValidationError:
                continue
            for year, month in [(2023, 2), (2024, 2), (2024, 4), (2024, 1)]:
                length = (utc(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
                for day in range(1, length + 1):
                    expected = _alertmanager_day_match(start, end, day, length)
                    assert spec_contains(s, utc(year, month, day)) == expected, (start, end, day)
            checked += 1
    assert checked == 82  # the valid ones among the 256 pairs


def test_months_names_numbers_ranges() -> None:
    """Names in any case, numbers, ranges with inclusive ends, and int items."""
    s = spec(months=["January:march", "12", 7])
    matching = [m for m in range(1, 13) if spec_contains(s, utc(2024, m, 15))]
    assert matching == [1, 2, 3, 7, 12]
    assert [m for m in range(1, 13) if spec_contains(spec(months=["10:12"]), utc(2024, m, 1))] == [
        10,
        11,
        12,
    ]
    assert spec_contains(spec(months=["MAY"]), utc(2024, 5, 1))


def test_years_ranges_inclusive() -> None:
    """'2020:2022' includes 2020 and 2022; single years and int items work."""
    s = spec(years=["2020:2022", "2030", 2040])
    assert [y for y in range(2018, 2042) if spec_contains(s, utc(y, 6, 1))] == [
        2020,
        2021,
        2022,
        2030,
        2040,
    ]
    assert spec_contains(s, utc(2022, 12, 31, 23, 59))
    assert not spec_contains(s, utc(2023, 1, 1, 0, 0))


def test_all_fields_must_match() -> None:
    """Every present field is required: one mismatch is enough to fail."""
    s = spec(
        times=[{"start_time": "09:00", "end_time": "17:00"}],
        weekdays=["monday:friday", "sunday"],
        months=["january:march"],
        days_of_month=["-7:-1"],
        years=["2020:2025", "2030:2035"],
    )
    assert spec_contains(s, utc(2021, 1, 27, 9, 0))  # Wednesday
    assert spec_contains(s, utc(2035, 1, 31, 13, 0))
    assert not spec_contains(s, utc(2021, 1, 30, 13, 0))  # Saturday
    assert not spec_contains(s, utc(2021, 4, 1, 13, 0))  # April
    assert not spec_contains(s, utc(2026, 1, 30, 13, 0))  # 2026
    assert not spec_contains(s, utc(2035, 1, 31, 17, 1))  # after 17:00
    assert not spec_contains(s, utc(2021, 1, 20, 13, 0))  # not in the last week


def test_any_contains() -> None:
    """Entries are ORed; no entries never match."""
    weekend = spec(weekdays=["saturday", "sunday"])
    mornings = spec(times=[{"start_time": "06:00", "end_time": "09:00"}])
    assert any_contains([weekend, mornings], utc(2024, 5, 11, 12))  # Saturday noon
    assert any_contains([weekend, mornings], utc(2024, 5, 8, 7))  # Wednesday morning
    assert not any_contains([weekend, mornings], utc(2024, 5, 8, 12))
    assert not any_contains([], utc(2024, 5, 8, 12))


def test_late_night_example_from_yaml() -> None:
    """The documented example, loaded with PyYAML, matches as described."""
    interval = NamedTimeInterval.model_validate(yaml.safe_load(LATE_NIGHT_YAML))
    assert interval.name == "late-night"
    # 2030-01-02 is a Wednesday: 22:30 in Berlin (CET, +01:00) is 21:30 UTC.
    assert interval.contains(utc(2030, 1, 2, 21, 30))
    assert not interval.contains(utc(2030, 1, 2, 20, 30))  # 21:30 in Berlin
    assert interval.contains(utc(2030, 1, 3, 4, 59))  # 05:59 in Berlin
    assert not interval.contains(utc(2030, 1, 3, 5, 0))  # 06:00 in Berlin
    assert not interval.contains(utc(2030, 1, 10, 21, 30))  # the 10th
    assert not interval.contains(utc(2030, 4, 2, 21, 30))  # April
    assert not interval.contains(utc(2025, 1, 2, 21, 30))  # 2025
    # Sunday 2030-03-31 23:30 UTC would match in UTC, but in Berlin it is already
    # Monday April 1st, 01:30 CEST: the day and time fit, the month does not.
    assert not interval.contains(utc(2030, 3, 31, 23, 30))
    assert interval.contains(utc(2030, 3, 31, 21, 30))  # 23:30 CEST, Sunday the 31st
    assert interval.contains(utc(2030, 12, 31, 22, 30))  # 23:30 Tuesday, last day


def test_unquoted_yaml_times_and_numbers() -> None:
    """PyYAML's base-60 ints (22:00 -> 1320) and int list items are read as written."""
    doc = yaml.safe_load(
        """
        times: [{start_time: 22:00, end_time: 24:00}, {start_time: 00:00, end_time: 06:30}]
        months: [12]
        years: [2030]
        days_of_month: [1]
        """
    )
    assert doc["times"][0]["start_time"] == 1320  # what PyYAML does
    s = TimeIntervalSpec.model_validate(doc)
    assert [t.start_time for t in s.times or []] == ["22:00", "00:00"]
    assert [t.end_time for t in s.times or []] == ["24:00", "06:30"]
    assert s.months == ["12"] and s.years == ["2030"] and s.days_of_month == ["1"]
    assert spec_contains(s, utc(2030, 12, 1, 23, 0))
    assert spec_contains(s, utc(2030, 12, 1, 6, 29))
    assert not spec_contains(s, utc(2030, 12, 1, 6, 30))


def test_fields_keep_the_text_as_written() -> None:
    """model_dump gives back the strings, not the internal form."""
    doc = yaml.safe_load(LATE_NIGHT_YAML)
    interval = NamedTimeInterval.model_validate(doc)
    assert interval.model_dump(exclude_none=True) == doc


# --- location ----------------------------------------------------------------------


def test_location_changes_the_weekday() -> None:
    """Monday 23:30 UTC is Tuesday 01:30 in Europe/Berlin (summer time)."""
    monday_late = utc(2024, 7, 1, 23, 30)
    assert monday_late.strftime("%A") == "Monday"
    berlin = spec(weekdays=["tuesday"], location="Europe/Berlin")
    assert spec_contains(berlin, monday_late)
    assert not spec_contains(spec(weekdays=["tuesday"]), monday_late)
    early = spec(times=[{"start_time": "01:00", "end_time": "02:00"}], location="Europe/Berlin")
    assert spec_contains(early, monday_late)


def test_default_location_is_utc() -> None:
    """Without location the instant is read in UTC, whatever offset it carries."""
    s = spec(times=[{"start_time": "09:00", "end_time": "10:00"}])
    plus_two = timezone(timedelta(hours=2))
    assert spec_contains(s, datetime(2024, 7, 1, 11, 30, tzinfo=plus_two))
    assert not spec_contains(s, datetime(2024, 7, 1, 9, 30, tzinfo=plus_two))
    for name in ("UTC", ""):
        assert spec_contains(
            spec(times=[{"start_time": "09:00", "end_time": "10:00"}], location=name),
            utc(2024, 7, 1, 9, 30),
        )


def test_location_sydney_business_hours() -> None:
    """09:00-17:00 Monday to Friday in Australia/Sydney (AEST and AEDT)."""
    s = spec(
        times=[{"start_time": "09:00", "end_time": "17:00"}],
        weekdays=["monday:friday"],
        location="Australia/Sydney",
    )
    aest = timezone(timedelta(hours=10))
    assert spec_contains(s, datetime(2021, 4, 6, 13, 0, tzinfo=aest))
    assert not spec_contains(s, utc(2021, 4, 6, 13, 0))
    # Daylight saving: Monday 1 November 2021 09:00 AEDT is 22:00 UTC on Sunday.
    assert spec_contains(s, utc(2021, 10, 31, 22, 0))
    assert not spec_contains(s, utc(2021, 10, 31, 21, 0))


@pytest.fixture
def new_york_local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is Unix only")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_local")
def test_location_local_is_the_system_zone() -> None:
    """'Local' reads the instant in the system's zone, as Go's time.Local."""
    s = spec(times=[{"start_time": "08:00", "end_time": "09:00"}], location="Local")
    assert spec_contains(s, utc(2024, 7, 1, 12, 30))  # 08:30 EDT
    assert spec_contains(s, utc(2024, 1, 8, 13, 30))  # 08:30 EST
    assert not spec_contains(s, utc(2024, 1, 8, 12, 30))


def test_dst_spring_forward_skips_the_hour() -> None:
    """Europe/Berlin 2024-03-31: 02:00-03:00 never happens, 01:00 UTC is 03:00."""
    s = spec(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    minutes = (utc(2024, 3, 31, 0, 0) + timedelta(minutes=m) for m in range(0, 180))
    assert not any(spec_contains(s, t) for t in minutes)
    three = spec(times=[{"start_time": "03:00", "end_time": "04:00"}], location="Europe/Berlin")
    assert spec_contains(three, utc(2024, 3, 31, 1, 0))


def test_dst_fall_back_repeats_the_hour() -> None:
    """Europe/Berlin 2024-10-27: 02:30 happens twice and both match."""
    s = spec(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    assert spec_contains(s, utc(2024, 10, 27, 0, 30))  # 02:30 CEST
    assert spec_contains(s, utc(2024, 10, 27, 1, 30))  # 02:30 CET
    assert not spec_contains(s, utc(2024, 10, 27, 2, 0))  # 03:00 CET


def test_last_day_in_a_spring_forward_month() -> None:
    """-1 is March 31 in Europe/Berlin (Alertmanager before PR 5447 said the 30th)."""
    s = spec(days_of_month=["-1"], location="Europe/Berlin")
    assert spec_contains(s, utc(2024, 3, 31, 12))
    assert not spec_contains(s, utc(2024, 3, 30, 12))
    assert spec_contains(spec(days_of_month=["31"], location="Europe/Berlin"), utc(2024, 3, 31, 12))


def test_naive_datetime_is_refused() -> None:
    """A naive datetime has no instant to convert."""
    with pytest.raises(ValueError, match="timezone-aware"):
        spec_contains(spec(), datetime(2024, 1, 1, 12))


# --- validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"times": [{"start_time": "25:00", "end_time": "23:00"}]},
            "invalid time '25:00': expected HH:MM between 00:00 and 24:00",
        ),
        (
            {"times": [{"start_time": "00:00", "end_time": "24:01"}]},
            "invalid time '24:01': expected HH:MM between 00:00 and 24:00",
        ),
        (
            {"times": [{"start_time": "9:00", "end_time": "17:00"}]},
            "invalid time '9:00': expected HH:MM between 00:00 and 24:00",
        ),
        (
            {"times": [{"start_time": "01:99", "end_time": "23:59"}]},
            "invalid time '01:99': expected HH:MM between 00:00 and 24:00",
        ),
        (
            {"times": [{"start_time": "22:00", "end_time": "06:00"}]},
            "time range 22:00-06:00: start_time must be before end_time; a range across"
            " midnight is two ranges: 22:00-24:00 and 00:00-06:00",
        ),
        (
            {"times": [{"start_time": "22:00", "end_time": "00:00"}]},
            "time range 22:00-00:00: start_time must be before end_time; use 24:00 for the"
            " end of the day",
        ),
        (
            {"times": [{"start_time": "17:31", "end_time": "17:31"}]},
            "time range 17:31-17:31: start_time must be before end_time",
        ),
        (
            {"times": [{"start_time": -5, "end_time": "17:31"}]},
            "invalid time '-5': expected HH:MM between 00:00 and 24:00",
        ),
        (
            {"weekdays": ["friday:monday"]},
            "weekday range 'friday:monday': start is after end (weeks run from sunday to"
            " saturday; write 'friday:saturday' and 'sunday:monday')",
        ),
        (
            {"weekdays": ["monday:sunday"]},
            "weekday range 'monday:sunday': start is after end (weeks run from sunday to"
            " saturday; write 'monday:saturday' and 'sunday:sunday')",
        ),
        (
            {"weekdays": ["mon"]},
            "invalid weekday 'mon': expected a full English day name such as 'monday'",
        ),
        (
            {"weekdays": ["blurgsday:flurgsday"]},
            "invalid weekday 'blurgsday' in 'blurgsday:flurgsday': expected a full English"
            " day name such as 'monday'",
        ),
        (
            {"weekdays": ["1:3"]},
            "invalid weekday '1' in '1:3': expected a full English day name such as 'monday'",
        ),
        (
            {"weekdays": ["monday:tuesday:wednesday"]},
            "invalid weekday range 'monday:tuesday:wednesday': expected one weekday or 'start:end'",
        ),
        (
            {"days_of_month": ["0"]},
            "day of month 0 out of range: expected 1..31, or -31..-1 counting back from the"
            " last day",
        ),
        (
            {"days_of_month": ["1:50"]},
            "day of month 50 out of range: expected 1..31, or -31..-1 counting back from"
            " the last day",
        ),
        (
            {"days_of_month": ["-50:-20"]},
            "day of month -50 out of range: expected 1..31, or -31..-1 counting back from"
            " the last day",
        ),
        (
            {"days_of_month": [65]},
            "day of month 65 out of range: expected 1..31, or -31..-1 counting back from"
            " the last day (YAML reads an unquoted range such as 1:5 as the base-60 number"
            " 65: quote it, '1:5')",
        ),
        (
            {"days_of_month": ["first"]},
            "invalid day of month 'first': expected a number 1..31 or -31..-1",
        ),
        (
            {"days_of_month": ["1: 5"]},
            "invalid day of month ' 5' in '1: 5': expected a number 1..31 or -31..-1",
        ),
        (
            {"days_of_month": ["-15:5"]},
            "day of month range '-15:5': end must be negative when start is",
        ),
        ({"days_of_month": ["5:3"]}, "day of month range '5:3': start is after end"),
        ({"days_of_month": ["-1:-3"]}, "day of month range '-1:-3': start is after end"),
        (
            {"days_of_month": ["10:-25"]},
            "day of month range '10:-25': start is after end in a 28-day month",
        ),
        (
            {"days_of_month": ["28:-1"]},
            "day of month range '28:-1': start is after end in a 28-day month",
        ),
        (
            {"months": ["martius:june"]},
            "invalid month 'martius' in 'martius:june': expected a name such as 'january'"
            " or a number 1..12",
        ),
        (
            {"months": ["jan"]},
            "invalid month 'jan': expected a name such as 'january' or a number 1..12",
        ),
        ({"months": ["13"]}, "month 13 out of range: expected 1..12"),
        ({"months": ["0:3"]}, "month 0 out of range: expected 1..12"),
        (
            {"months": [63]},
            "month 63 out of range: expected 1..12 (YAML reads an unquoted range such as"
            " 1:5 as the base-60 number 65: quote it, '1:5')",
        ),
        ({"months": ["december:january"]}, "month range 'december:january': start is after end"),
        ({"months": ["12:1"]}, "month range '12:1': start is after end"),
        ({"years": ["2022:2020"]}, "year range '2022:2020': start is after end"),
        ({"years": ["twenty"]}, "invalid year 'twenty': expected a number such as 2030"),
        ({"years": ["0"]}, "year 0 out of range: expected 1 or later"),
        (
            {"years": ["2020:2021:2022"]},
            "invalid year range '2020:2021:2022': expected one year or 'start:end'",
        ),
        (
            {"location": "Mars/Olympus_Mons"},
            "unknown location 'Mars/Olympus_Mons': expected an IANA time zone name such as"
            " 'Europe/Berlin', or 'UTC' or 'Local'",
        ),
        (
            {"location": "../etc/passwd"},
            "unknown location '../etc/passwd': expected an IANA time zone name such as"
            " 'Europe/Berlin', or 'UTC' or 'Local'",
        ),
        (
            {"location": "Europe"},
            "unknown location 'Europe': expected an IANA time zone name such as"
            " 'Europe/Berlin', or 'UTC' or 'Local'",
        ),
        (
            {"times": []},
            "times is empty, which never matches; leave it out to match any time of day",
        ),
        (
            {"weekdays": []},
            "weekdays is empty, which never matches; leave it out to match any weekday",
        ),
        (
            {"days_of_month": []},
            "days_of_month is empty, which never matches; leave it out to match any day",
        ),
        ({"months": []}, "months is empty, which never matches; leave it out to match any month"),
        ({"years": []}, "years is empty, which never matches; leave it out to match any year"),
    ],
)
def test_validation_messages(fields: dict[str, Any], message: str) -> None:
    """Each mistake gets one error that says what is wrong and how to write it."""
    assert error_of(fields) == f"Value error, {message}"


def test_error_points_at_the_item() -> None:
    """The error's location names the field and the list index."""
    with pytest.raises(ValidationError) as info:
        TimeIntervalSpec.model_validate({"weekdays": ["monday", "funday"]})
    assert info.value.errors()[0]["loc"] == ("weekdays", 1)


def test_extra_fields_forbidden() -> None:
    """Unknown keys, e.g. the pre-release 'time_zone', are refused at every level."""
    assert error_of({"time_zone": "UTC"}) == "Extra inputs are not permitted"
    assert (
        error_of({"times": [{"start_time": "01:00", "end_time": "02:00", "end": "03:00"}]})
        == "Extra inputs are not permitted"
    )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        NamedTimeInterval.model_validate({"name": "x", "time_intervals": [{}], "when": 1})


def test_time_range_needs_both_ends() -> None:
    """start_time and end_time are both required."""
    with pytest.raises(ValidationError) as info:
        TimeRange.model_validate({"start_time": "14:03"})
    assert [(e["loc"], e["msg"]) for e in info.value.errors()] == [
        (("end_time",), "Field required")
    ]


def test_bool_items_are_not_numbers() -> None:
    """YAML 'yes' is a bool, not the number 1."""
    assert error_of({"days_of_month": [True]}) == "Input should be a valid string"


def test_named_interval_validation() -> None:
    """A name is required and an interval with no entries is refused."""
    with pytest.raises(ValidationError, match="missing name in time interval"):
        NamedTimeInterval.model_validate({"name": "", "time_intervals": [{}]})
    with pytest.raises(
        ValidationError,
        match=r"time_intervals is empty, which never matches; use \[\{\}\] to match any time",
    ):
        NamedTimeInterval.model_validate({"name": "never", "time_intervals": []})
    always = NamedTimeInterval.model_validate({"name": "always", "time_intervals": [{}]})
    assert always.contains(utc(2024, 1, 1))


def test_models_are_frozen() -> None:
    """Fields cannot be reassigned, so the parsed form cannot go stale."""
    s = spec(weekdays=["monday"])
    with pytest.raises(ValidationError, match="frozen"):
        s.weekdays = ["tuesday"]
