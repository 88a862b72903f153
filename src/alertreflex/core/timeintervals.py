"""Alertmanager ``time_intervals``: syntax, validation and matching, with no I/O.

This module owns what a time interval means, so that a reflex can be limited to
times (``active_time_intervals: [late-night]``) with the syntax teams already write
for Alertmanager::

    - name: late-night
      time_intervals:
        - times:
            - {start_time: "22:00", end_time: "24:00"}
            - {start_time: "00:00", end_time: "06:00"}
          weekdays: ['monday:friday', 'sunday']
          days_of_month: ['1:5', '-3:-1']
          months: ['january:march', '12']
          years: ['2020:2022', '2030']
          location: 'Europe/Berlin'

A named interval matches if ANY of its entries matches; an entry matches if ALL of
its present fields match (an absent field matches anything). The strings are parsed
once, when the model is validated, into minutes and small integer sets; matching is
then arithmetic on the instant converted to the entry's location (UTC by default).

Which Alertmanager behaviour this follows
-----------------------------------------
``timeinterval/timeinterval.go`` (``UnmarshalYAML`` of each range type and
``TimeInterval.ContainsTime``):

* ``times``: ``HH:MM`` from ``00:00`` to ``24:00`` (two digits each), start inclusive,
  end exclusive, start < end, so a range across midnight is written as two ranges.
  Only the wall-clock hour and minute count; seconds are ignored.
* ``weekdays``: full English names, case-insensitive, no numbers. Weeks run from
  Sunday to Saturday, so ``'friday:monday'`` and even ``'monday:sunday'`` are errors.
* ``days_of_month``: 1..31 or -31..-1 (-1 is the last day). A negative start needs a
  negative end, and the order is checked against a 28-day month (so ``'28:-1'`` is
  refused). When matching, a start beyond the month's end matches nothing (31 in
  April) and an end beyond it stops at the last day.
* ``months`` by name or number, ``years`` by number; all ranges inclusive, start <= end.
* ``location``: an IANA name; ``''`` and ``'UTC'`` are UTC and ``'Local'`` is the
  system's zone, as with Go's ``time.LoadLocation``.

Deliberate differences, each stricter or a fix:

* Month numbers outside 1..12 and years below 1 are refused (Alertmanager accepts
  them and they never match).
* An empty list (``weekdays: []``, ``time_intervals: []``) is refused: Alertmanager
  accepts it and then never matches, which would silently disable a reflex.
* A month's length is calendar arithmetic. Alertmanager before prometheus/alertmanager
  PR #5447 divided the month's duration by 24h, so with a ``location`` a 31-day month
  containing a spring-forward day had 30 days and ``-1`` meant the 30th.
* PyYAML reads an unquoted ``22:00`` as the base-60 integer 1320 (YAML 1.1) while
  Alertmanager's YAML library keeps the text, so integer times are turned back into
  ``HH:MM``; integer list items (``months: [12]``) are read as their decimal text.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "NamedTimeInterval",
    "TimeIntervalSpec",
    "TimeRange",
    "any_contains",
    "spec_contains",
]

# Alertmanager numbers weekdays as Go does: Sunday is 0, so weeks run sunday..saturday.
_WEEKDAYS = {
    name: number
    for number, name in enumerate(
        ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    )
}
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_INT = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts: no spaces, no "_"
_SHORTEST_MONTH = 28
_YAML_HINT = " (YAML reads an unquoted range such as 1:5 as the base-60 number 65: quote it, '1:5')"


def _yaml_hint(number: int) -> str:
    # Base-60 numbers from unquoted a:b are at least 60 (1:00), never a valid day or month.
    return _YAML_HINT if number >= 60 else ""


# --- parsing of the strings, shared by the field checks and the internal form ------


def _minutes(text: str) -> int:
    if not _TIME.fullmatch(text):
        raise ValueError(f"invalid time {text!r}: expected HH:MM between 00:00 and 24:00")
    return int(text[:2]) * 60 + int(text[3:])


def _split(text: str, kind: str) -> tuple[str, str]:
    # Alertmanager lowercases the whole item before splitting it on ":".
    parts = text.lower().split(":")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"invalid {kind} range {text!r}: expected one {kind} or 'start:end'")


def _where(part: str, text: str) -> str:
    return f"{part!r} in {text!r}" if part != text.lower() else repr(text)


def _weekday_range(text: str) -> tuple[int, int]:
    first, last = _split(text, "weekday")
    ends = []
    for part in (first, last):
        if part not in _WEEKDAYS:
            raise ValueError(
                f"invalid weekday {_where(part, text)}: expected a full English day name"
                " such as 'monday'"
            )
        ends.append(_WEEKDAYS[part])
    if ends[0] > ends[1]:
        raise ValueError(
            f"weekday range {text!r}: start is after end (weeks run from sunday to saturday;"
            f" write '{first}:saturday' and 'sunday:{last}')"
        )
    return ends[0], ends[1]


def _day(part: str, text: str) -> int:
    if not _INT.fullmatch(part):
        raise ValueError(
            f"invalid day of month {_where(part, text)}: expected a number 1..31 or -31..-1"
        )
    day = int(part)
    if day == 0 or not -31 <= day <= 31:
        raise ValueError(
            f"day of month {day} out of range: expected 1..31, or -31..-1 counting back from"
            f" the last day{_yaml_hint(day)}"
        )
    return day


def _day_range(text: str) -> tuple[int, int]:
    first, last = _split(text, "day of month")
    start, end = _day(first, text), _day(last, text)
    if start < 0 < end:
        raise ValueError(f"day of month range {text!r}: end must be negative when start is")
    # Negative days depend on the month's length; like Alertmanager, refuse a range
    # that is empty in the shortest month (so '28:-1' is refused, '27:-1' is not).
    check_start = start if start > 0 else _SHORTEST_MONTH + start
    check_end = end if end > 0 else _SHORTEST_MONTH + end
    if check_start > check_end:
        shortest = " in a 28-day month" if (start > 0) != (end > 0) else ""
        raise ValueError(f"day of month range {text!r}: start is after end{shortest}")
    return start, end


def _month(part: str, text: str) -> int:
    if part in _MONTHS:
        return _MONTHS[part]
    if not _INT.fullmatch(part):
        raise ValueError(
            f"invalid month {_where(part, text)}: expected a name such as 'january'"
            " or a number 1..12"
        )
    month = int(part)
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} out of range: expected 1..12{_yaml_hint(month)}")
    return month


def _month_range(text: str) -> tuple[int, int]:
    first, last = _split(text, "month")
    start, end = _month(first, text), _month(last, text)
    if start > end:
        raise ValueError(f"month range {text!r}: start is after end")
    return start, end


def _year(part: str, text: str) -> int:
    if not _INT.fullmatch(part):
        raise ValueError(f"invalid year {_where(part, text)}: expected a number such as 2030")
    year = int(part)
    if year < 1:
        raise ValueError(f"year {year} out of range: expected 1 or later")
    return year


def _year_range(text: str) -> tuple[int, int]:
    first, last = _split(text, "year")
    start, end = _year(first, text), _year(last, text)
    if start > end:
        raise ValueError(f"year range {text!r}: start is after end")
    return start, end


def _zone(name: str) -> tzinfo | None:
    """The location named like Go's ``time.LoadLocation``; ``None`` is the system zone."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        return None
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found, malformed key, a directory
        raise ValueError(
            f"unknown location {name!r}: expected an IANA time zone name such as"
            " 'Europe/Berlin', or 'UTC' or 'Local'"
        ) from None


# --- pydantic field types ------------------------------------------------------------


def _time_text(value: Any) -> Any:
    # PyYAML reads an unquoted 22:00 as 22*60+0 = 1320; Alertmanager would see "22:00".
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value // 60:02d}:{value % 60:02d}" if value >= 0 else str(value)
    return value


def _item_text(value: Any) -> Any:
    # `months: [12]` and `years: [2030]` are ints in YAML; Alertmanager reads the text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _checked(parse: Callable[[str], object]) -> Callable[[str], str]:
    """A validator that keeps the text as written once ``parse`` accepts it."""

    def check(text: str) -> str:
        parse(text)
        return text

    return check


_TimeText = Annotated[str, BeforeValidator(_time_text), AfterValidator(_checked(_minutes))]
_WeekdayText = Annotated[str, BeforeValidator(_item_text), AfterValidator(_checked(_weekday_range))]
_NUMBER_OR_TEXT = WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]})
_DayText = Annotated[
    str,
    BeforeValidator(_item_text),
    AfterValidator(_checked(_day_range)),
    _NUMBER_OR_TEXT,
]
_MonthText = Annotated[
    str,
    BeforeValidator(_item_text),
    AfterValidator(_checked(_month_range)),
    _NUMBER_OR_TEXT,
]
_YearText = Annotated[
    str,
    BeforeValidator(_item_text),
    AfterValidator(_checked(_year_range)),
    _NUMBER_OR_TEXT,
]

_IF_EMPTY = {
    "times": "leave it out to match any time of day",
    "weekdays": "leave it out to match any weekday",
    "days_of_month": "leave it out to match any day",
    "months": "leave it out to match any month",
    "years": "leave it out to match any year",
    "time_intervals": "use [{}] to match any time",
}


def _refuse_empty(value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
    # Alertmanager accepts an empty list and then never matches: refuse the trap.
    if value is not None and not value:
        field = info.field_name or ""
        raise ValueError(f"{field} is empty, which never matches; {_IF_EMPTY[field]}")
    return value


class TimeRange(BaseModel):
    """A range of wall-clock time within a day: start inclusive, end exclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: _TimeText = Field(description="HH:MM, 00:00 to 23:59; inclusive.")
    end_time: _TimeText = Field(description="HH:MM, 00:01 to 24:00; exclusive.")

    _start: int = PrivateAttr(default=0)
    _end: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _parse(self) -> Self:
        start, end = _minutes(self.start_time), _minutes(self.end_time)
        if start >= end:
            hint = (
                f"; a range across midnight is two ranges: {self.start_time}-24:00"
                f" and 00:00-{self.end_time}"
                if end < start and end > 0
                else "; use 24:00 for the end of the day"
                if end == 0
                else ""
            )
            raise ValueError(
                f"time range {self.start_time}-{self.end_time}: start_time must be before"
                f" end_time{hint}"
            )
        self._start, self._end = start, end
        return self

    @property
    def start_minute(self) -> int:
        """Minutes after midnight at which the range starts (included)."""
        return self._start

    @property
    def end_minute(self) -> int:
        """Minutes after midnight at which the range ends (excluded), up to 1440."""
        return self._end


class TimeIntervalSpec(BaseModel):
    """One entry of ``time_intervals``: every field present must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    times: list[TimeRange] | None = Field(
        default=None, description="Ranges of the day; any may match. Absent: all day."
    )
    weekdays: list[_WeekdayText] | None = Field(
        default=None, description="E.g. 'monday:friday', 'sunday'. Absent: any weekday."
    )
    days_of_month: list[_DayText] | None = Field(
        default=None, description="E.g. '1:5', '-1' (last day). Absent: any day."
    )
    months: list[_MonthText] | None = Field(
        default=None, description="E.g. 'january:march', '12'. Absent: any month."
    )
    years: list[_YearText] | None = Field(
        default=None, description="E.g. '2020:2022', '2030'. Absent: any year."
    )
    location: str | None = Field(
        default=None,
        description="IANA time zone the fields are read in, or 'UTC' or 'Local'. Default UTC.",
    )

    # The internal form; None means the field is absent and matches anything.
    _minute_ranges: tuple[tuple[int, int], ...] | None = PrivateAttr(default=None)
    _weekday_set: frozenset[int] | None = PrivateAttr(default=None)  # datetime.weekday()
    _days_by_length: tuple[frozenset[int], ...] | None = PrivateAttr(default=None)
    _month_set: frozenset[int] | None = PrivateAttr(default=None)
    _year_ranges: tuple[tuple[int, int], ...] | None = PrivateAttr(default=None)
    _tz: tzinfo | None = PrivateAttr(default=UTC)  # None: the system's zone ('Local')

    @field_validator("times", "weekdays", "days_of_month", "months", "years")
    @classmethod
    def _not_empty(cls, value: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        return _refuse_empty(value, info)

    @field_validator("location")
    @classmethod
    def _known_location(cls, value: str | None) -> str | None:
        if value is not None:
            _zone(value)
        return value

    @model_validator(mode="after")
    def _parse(self) -> Self:
        if self.times is not None:
            self._minute_ranges = tuple((t.start_minute, t.end_minute) for t in self.times)
        if self.weekdays is not None:
            self._weekday_set = frozenset(
                (day + 6) % 7  # Go's Sunday=0 to Python's Monday=0
                for start, end in map(_weekday_range, self.weekdays)
                for day in range(start, end + 1)
            )
        if self.days_of_month is not None:
            self._days_by_length = _days_by_length([_day_range(d) for d in self.days_of_month])
        if self.months is not None:
            self._month_set = frozenset(
                month
                for start, end in map(_month_range, self.months)
                for month in range(start, end + 1)
            )
        if self.years is not None:
            self._year_ranges = tuple(map(_year_range, self.years))
        self._tz = UTC if self.location is None else _zone(self.location)
        return self


def _days_by_length(ranges: Sequence[tuple[int, int]]) -> tuple[frozenset[int], ...]:
    """The matching days for each month length, 28 to 31 (index: length - 28)."""
    out = []
    for length in range(_SHORTEST_MONTH, 32):
        days: set[int] = set()
        for start, end in ranges:
            first = start if start > 0 else length + start + 1
            last = end if end > 0 else length + end + 1
            if first > length:  # e.g. 31 in April: Alertmanager skips, no clamping
                continue
            days.update(range(max(first, 1), min(last, length) + 1))
        out.append(frozenset(days))
    return tuple(out)


class NamedTimeInterval(BaseModel):
    """An item of the top-level ``time_intervals`` list; matches if any entry matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="What reflexes list in active_time_intervals.")
    time_intervals: list[TimeIntervalSpec] = Field(
        description="Entries; the interval matches when any of them does. [{}] is always."
    )

    @field_validator("name")
    @classmethod
    def _has_name(cls, value: str) -> str:
        if not value:
            raise ValueError("missing name in time interval")
        return value

    @field_validator("time_intervals")
    @classmethod
    def _not_empty(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        _refuse_empty(value, info)
        return value

    def contains(self, when: datetime) -> bool:
        """Whether the timezone-aware instant ``when`` is in this interval."""
        return any_contains(self.time_intervals, when)


def spec_contains(spec: TimeIntervalSpec, when: datetime) -> bool:
    """Whether the timezone-aware instant ``when`` is in ``spec``.

    The instant is first converted to the spec's location; times, weekdays, days,
    months and years are then read from that wall clock.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"when must be timezone-aware, got naive {when.isoformat()}")
    # astimezone(None) is the system's zone ('Local'), with its DST rules.
    local = when.astimezone(spec._tz)

    if spec._minute_ranges is not None:
        minute = local.hour * 60 + local.minute
        if not any(start <= minute < end for start, end in spec._minute_ranges):
            return False
    if spec._days_by_length is not None:
        length = calendar.monthrange(local.year, local.month)[1]
        if local.day not in spec._days_by_length[length - _SHORTEST_MONTH]:
            return False
    if spec._month_set is not None and local.month not in spec._month_set:
        return False
    if spec._weekday_set is not None and local.weekday() not in spec._weekday_set:
        return False
    return spec._year_ranges is None or any(
        start <= local.year <= end for start, end in spec._year_ranges
    )


def any_contains(specs: Sequence[TimeIntervalSpec], when: datetime) -> bool:
    """Whether ``when`` is in any of ``specs`` (so never, for an empty sequence)."""
    return any(spec_contains(spec, when) for spec in specs)
