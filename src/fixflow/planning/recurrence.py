"""Recurrence of planned tickets: the simple form, its RRULE text and the occurrence engine.

Pure: no database, no I/O. The form is `Recurrence`; it is stored as an RFC 5545 RRULE (`to_rrule`,
`parse_rrule`) and expanded by `occurrences` into aware UTC instants.

Deliberate departures from RFC 5545 (planning spec §1):
- Monthly BYMONTHDAY=29..31, and yearly BYMONTH=2;BYMONTHDAY=29, fall on the last day of a shorter
  month instead of skipping it. An iCalendar export must rewrite such a rule (e.g. day 31 as
  BYMONTHDAY=28,29,30,31;BYSETPOS=-1) because other clients follow the RFC.
- UNTIL is a local calendar date, inclusive, written as a DATE value (YYYYMMDD).

When `first_local` does not match the rule the series is still anchored, as RFC 5545 anchors it at
DTSTART, on the day/week/month/year that contains `first_local`; dates of that period before
`first_local` are dropped. So the first occurrence is the first date on or after `first_local`'s date that
belongs to the rule, at `first_local`'s time: "every 2 weeks on Monday" from a Wednesday starts on the
Monday 12 days later, "every 3 months on day 15" from 20 January starts on 15 April.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Freq = Literal["daily", "weekly", "monthly", "yearly"]
MonthlyMode = Literal["day", "nth_weekday", "last_day"]

MAX_INTERVAL: dict[str, int] = {"daily": 365, "weekly": 52, "monthly": 60, "yearly": 25}
MAX_COUNT = 10_000
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
NTH_VALUES = (1, 2, 3, 4, -1)

_FREQS: dict[str, Freq] = {"DAILY": "daily", "WEEKLY": "weekly", "MONTHLY": "monthly", "YEARLY": "yearly"}
_KNOWN_PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST")
_INT_RE = re.compile(r"[+-]?\d{1,6}")
_BYDAY_RE = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_OPTIONAL_FIELDS = ("weekdays", "monthly_mode", "day", "nth", "weekday", "month")


class RecurrenceError(ValueError):
    """A rule fixflow cannot store or evaluate; the message is plain English meant for the user."""


@dataclass(frozen=True)
class Recurrence:
    """What the simple form edits. Fields that do not belong to `freq` must stay empty.

    weekly: `weekdays` (0=Mon..6=Sun, stored sorted). monthly: `monthly_mode` "day" with `day` 1..31,
    "nth_weekday" with `nth` (1..4, -1 = last) and `weekday`, or "last_day". yearly: `month` and `day`
    (29 February allowed). End: `count` occurrences or `until` a local date (inclusive), or neither.
    Build one with the classmethods, then `.ending(...)`; invalid values raise `RecurrenceError`.
    """

    freq: Freq
    interval: int = 1
    weekdays: tuple[int, ...] = ()
    monthly_mode: MonthlyMode | None = None
    day: int | None = None
    nth: int | None = None
    weekday: int | None = None
    month: int | None = None
    count: int | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.freq not in MAX_INTERVAL:
            raise RecurrenceError(
                f"Unsupported frequency {self.freq!r}; expected daily, weekly, monthly or yearly."
            )
        _check_int(self.interval, "The interval", 1, MAX_INTERVAL[self.freq])
        allowed = self._check_shape()
        stray = [n for n in _OPTIONAL_FIELDS if n not in allowed and getattr(self, n) not in (None, ())]
        if stray:
            raise RecurrenceError(f"A {self.freq} rule does not use: {', '.join(stray)}.")
        self._check_end()

    def _check_shape(self) -> set[str]:
        if self.freq == "weekly":
            if not self.weekdays:
                raise RecurrenceError("A weekly rule needs at least one weekday.")
            for wd in self.weekdays:
                _check_int(wd, "A weekday", 0, 6)
            if len(set(self.weekdays)) != len(self.weekdays):
                raise RecurrenceError("Each weekday may be chosen only once.")
            object.__setattr__(self, "weekdays", tuple(sorted(self.weekdays)))
            return {"weekdays"}
        if self.freq == "monthly":
            if self.monthly_mode == "day":
                _check_int(self.day, "The day of the month", 1, 31)
                return {"monthly_mode", "day"}
            if self.monthly_mode == "nth_weekday":
                if type(self.nth) is not int or self.nth not in NTH_VALUES:
                    raise RecurrenceError(
                        f"The week number must be 1, 2, 3, 4 or -1 (last), got {self.nth!r}."
                    )
                _check_int(self.weekday, "The weekday", 0, 6)
                return {"monthly_mode", "nth", "weekday"}
            if self.monthly_mode == "last_day":
                return {"monthly_mode"}
            raise RecurrenceError(
                f"A monthly rule needs a mode: day, nth_weekday or last_day, got {self.monthly_mode!r}."
            )
        if self.freq == "yearly":
            _check_int(self.month, "The month", 1, 12)
            assert self.month is not None
            _check_int(self.day, "The day of the month", 1, calendar.monthrange(2000, self.month)[1])
            return {"month", "day"}
        return set()

    def _check_end(self) -> None:
        if self.count is not None and self.until is not None:
            raise RecurrenceError("A rule may end after a number of occurrences or on a date, not both.")
        if self.count is not None:
            _check_int(self.count, "The number of occurrences", 1, MAX_COUNT)
        if self.until is not None and (type(self.until) is not date):
            raise RecurrenceError(f"The end date must be a calendar date, got {self.until!r}.")

    def ending(self, *, count: int | None = None, until: date | None = None) -> Recurrence:
        """The same rule ending after `count` occurrences, on `until`, or never (neither given)."""
        return replace(self, count=count, until=until)

    @classmethod
    def daily(cls, interval: int = 1) -> Recurrence:
        return cls("daily", interval)

    @classmethod
    def weekly(cls, weekdays: tuple[int, ...], interval: int = 1) -> Recurrence:
        return cls("weekly", interval, weekdays=tuple(weekdays))

    @classmethod
    def monthly_on_day(cls, day: int, interval: int = 1) -> Recurrence:
        return cls("monthly", interval, monthly_mode="day", day=day)

    @classmethod
    def monthly_on_weekday(cls, nth: int, weekday: int, interval: int = 1) -> Recurrence:
        return cls("monthly", interval, monthly_mode="nth_weekday", nth=nth, weekday=weekday)

    @classmethod
    def monthly_on_last_day(cls, interval: int = 1) -> Recurrence:
        return cls("monthly", interval, monthly_mode="last_day")

    @classmethod
    def yearly(cls, month: int, day: int, interval: int = 1) -> Recurrence:
        return cls("yearly", interval, month=month, day=day)


def _check_int(value: object, what: str, low: int, high: int) -> None:
    # `type(...) is int` because bool is an int and True must not pass as 1.
    if type(value) is not int or not low <= value <= high:
        raise RecurrenceError(f"{what} must be a whole number from {low} to {high}, got {value!r}.")


# --- RRULE text ------------------------------------------------------------------------------------


def to_rrule(rec: Recurrence) -> str:
    """Canonical RRULE text (without the "RRULE:" prefix) for a valid `Recurrence`."""
    parts = [f"FREQ={rec.freq.upper()}", f"INTERVAL={rec.interval}"]
    if rec.freq == "weekly":
        parts.append("BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in rec.weekdays))
    elif rec.freq == "monthly":
        if rec.monthly_mode == "day":
            parts.append(f"BYMONTHDAY={rec.day}")
        elif rec.monthly_mode == "last_day":
            parts.append("BYMONTHDAY=-1")
        else:
            assert rec.weekday is not None
            parts.append(f"BYDAY={rec.nth}{WEEKDAY_CODES[rec.weekday]}")
    elif rec.freq == "yearly":
        parts += [f"BYMONTH={rec.month}", f"BYMONTHDAY={rec.day}"]
    if rec.count is not None:
        parts.append(f"COUNT={rec.count}")
    if rec.until is not None:
        parts.append(f"UNTIL={rec.until:%Y%m%d}")
    return ";".join(parts)


def parse_rrule(text: str) -> Recurrence:
    """Parse and validate RRULE text; anything the simple form cannot express raises `RecurrenceError`."""
    fields = _split_parts(text)
    freq_text = fields.pop("FREQ", None)
    if freq_text is None:
        raise RecurrenceError("The rule has no FREQ.")
    if freq_text not in _FREQS:
        raise RecurrenceError(f"FREQ={freq_text} is not supported; use DAILY, WEEKLY, MONTHLY or YEARLY.")
    if fields.pop("WKST", "MO") != "MO":
        raise RecurrenceError("Only WKST=MO is supported: weeks start on Monday.")
    freq = _FREQS[freq_text]
    interval = _parse_int(fields.pop("INTERVAL", "1"), "INTERVAL")
    count_text, until_text = fields.pop("COUNT", None), fields.pop("UNTIL", None)
    count = None if count_text is None else _parse_int(count_text, "COUNT")
    until = None if until_text is None else _parse_until(until_text)
    rec = _parse_shape(freq, interval, fields)
    if fields:
        raise RecurrenceError(f"{', '.join(sorted(fields))} cannot be used with FREQ={freq_text}.")
    return rec.ending(count=count, until=until)


def _split_parts(text: str) -> dict[str, str]:
    if not isinstance(text, str):
        raise RecurrenceError("The recurrence rule must be text.")
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body:
        raise RecurrenceError("The recurrence rule is empty.")
    fields: dict[str, str] = {}
    for part in body.split(";"):
        key, sep, value = (s.strip().upper() for s in part.partition("="))
        if not sep or not key or not value:
            raise RecurrenceError(f"Malformed rule part {part!r}; expected NAME=VALUE.")
        if key not in _KNOWN_PARTS:
            raise RecurrenceError(f"{key} is not supported; a rule may use only {', '.join(_KNOWN_PARTS)}.")
        if key in fields:
            raise RecurrenceError(f"{key} appears more than once.")
        fields[key] = value
    return fields


def _parse_int(value: str, name: str) -> int:
    if not _INT_RE.fullmatch(value):
        raise RecurrenceError(f"{name} must be a whole number, got {value!r}.")
    return int(value)


def _parse_until(value: str) -> date:
    if not re.fullmatch(r"\d{8}", value):
        raise RecurrenceError(f"UNTIL must be a local date written YYYYMMDD, got {value!r}.")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise RecurrenceError(f"UNTIL is not a valid date: {value!r}.") from None


def _single(fields: dict[str, str], name: str, freq: Freq) -> str:
    value = fields.pop(name, None)
    if value is None:
        raise RecurrenceError(f"A {freq} rule needs {name}.")
    if "," in value:
        raise RecurrenceError(f"{name} must hold a single value in a {freq} rule, got {value!r}.")
    return value


def _parse_shape(freq: Freq, interval: int, fields: dict[str, str]) -> Recurrence:
    """The rule without its end; consumes the BY* parts it uses from `fields`."""
    if freq == "daily":
        return Recurrence("daily", interval)
    if freq == "weekly":
        codes = fields.pop("BYDAY", None)
        if codes is None:
            raise RecurrenceError("A weekly rule needs BYDAY with at least one weekday, e.g. BYDAY=MO,TH.")
        if any(code not in WEEKDAY_CODES for code in codes.split(",")):
            raise RecurrenceError(
                f"BYDAY in a weekly rule must list plain weekdays like MO,TH; got {codes!r}."
            )
        return Recurrence(
            "weekly", interval, weekdays=tuple(WEEKDAY_CODES.index(c) for c in codes.split(","))
        )
    if freq == "monthly":
        return _parse_monthly(interval, fields)
    month = _parse_int(_single(fields, "BYMONTH", freq), "BYMONTH")
    day = _parse_int(_single(fields, "BYMONTHDAY", freq), "BYMONTHDAY")
    return Recurrence("yearly", interval, month=month, day=day)


def _parse_monthly(interval: int, fields: dict[str, str]) -> Recurrence:
    if ("BYDAY" in fields) == ("BYMONTHDAY" in fields):
        raise RecurrenceError("A monthly rule needs exactly one of BYMONTHDAY or BYDAY.")
    if "BYMONTHDAY" in fields:
        day = _parse_int(_single(fields, "BYMONTHDAY", "monthly"), "BYMONTHDAY")
        if day == -1:
            return Recurrence.monthly_on_last_day(interval)
        if not 1 <= day <= 31:
            raise RecurrenceError(
                "BYMONTHDAY must be a day from 1 to 31, or -1 for the last day of the month."
            )
        return Recurrence.monthly_on_day(day, interval)
    value = _single(fields, "BYDAY", "monthly")
    match = _BYDAY_RE.fullmatch(value)
    if match is None or match.group(1) is None:
        raise RecurrenceError(
            f"BYDAY in a monthly rule must be a week number and a weekday, e.g. 1MO or -1FR; got {value!r}."
        )
    nth = int(match.group(1))
    if nth not in NTH_VALUES:
        raise RecurrenceError(
            f"BYDAY={value} is not supported: use week 1 to 4 or -1 (last); not every month has a fifth."
        )
    return Recurrence.monthly_on_weekday(nth, WEEKDAY_CODES.index(match.group(2)), interval)


# --- time zones ------------------------------------------------------------------------------------


def zone_for(tz: str | ZoneInfo) -> ZoneInfo:
    """The zone for an IANA name; an unknown name raises `RecurrenceError`."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise RecurrenceError(f"Unknown time zone {tz!r}.") from None


def local_to_utc(naive_local: datetime, tz: str | ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in `tz`.

    PEP 495 fold=0 gives exactly the planning rules: an ambiguous time (fall-back overlap) takes the
    first instant, and a time in a gap takes the offset in force before the transition, which lands it
    later on the wall clock by the size of the gap (02:30 on a spring-forward day reads 03:30).
    """
    if naive_local.tzinfo is not None:
        raise ValueError("local_to_utc expects a naive wall-clock time.")
    return naive_local.replace(tzinfo=zone_for(tz), fold=0).astimezone(UTC)


def utc_to_local(moment: datetime, tz: str | ZoneInfo) -> datetime:
    """The naive wall-clock time in `tz` of an aware instant."""
    if moment.tzinfo is None:
        raise ValueError("utc_to_local expects an aware datetime.")
    return moment.astimezone(zone_for(tz)).replace(tzinfo=None)


# --- occurrence engine -----------------------------------------------------------------------------


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


class _Series:
    """The rule cut into periods (a day, week, month or year), period 0 containing the first date.

    Every period after the first holds the same number of occurrences, so the position of any period in
    the series is arithmetic: a window in the far future is reached without walking the past.
    """

    def __init__(self, rec: Recurrence, first: date) -> None:
        self.rec = rec
        self.first = first
        self.per_period = len(rec.weekdays) if rec.freq == "weekly" else 1
        self.first_period_size = sum(1 for d in self.dates(0) if d >= first)

    def dates(self, period: int) -> list[date]:
        """Dates of a period in order; raises OverflowError/ValueError beyond the calendar's end."""
        rec, step = self.rec, period * self.rec.interval
        if rec.freq == "daily":
            return [self.first + timedelta(days=step)]
        if rec.freq == "weekly":
            monday = self.first - timedelta(days=self.first.weekday()) + timedelta(weeks=step)
            return [monday + timedelta(days=wd) for wd in rec.weekdays]
        if rec.freq == "monthly":
            year, month0 = divmod(_month_index(self.first) + step, 12)
            return [_monthly_date(rec, year, month0 + 1)]
        assert rec.month is not None and rec.day is not None
        year = self.first.year + step
        return [date(year, rec.month, min(rec.day, _days_in(year, rec.month)))]

    def period_of(self, d: date) -> int:
        """The period containing `d` or the one before it (0 when `d` precedes the series)."""
        first, freq = self.first, self.rec.freq
        if freq == "daily":
            units = (d - first).days
        elif freq == "weekly":
            units = ((d - timedelta(days=d.weekday())) - (first - timedelta(days=first.weekday()))).days // 7
        elif freq == "monthly":
            units = _month_index(d) - _month_index(first)
        else:
            units = d.year - first.year
        return max(0, units // self.rec.interval)

    def occurrences_before(self, period: int) -> int:
        return 0 if period == 0 else self.first_period_size + (period - 1) * self.per_period


def _monthly_date(rec: Recurrence, year: int, month: int) -> date:
    last = _days_in(year, month)
    if rec.monthly_mode == "day":
        assert rec.day is not None
        return date(year, month, min(rec.day, last))
    if rec.monthly_mode == "last_day":
        return date(year, month, last)
    assert rec.nth is not None and rec.weekday is not None
    if rec.nth > 0:
        offset = (rec.weekday - date(year, month, 1).weekday()) % 7
        return date(year, month, 1 + offset + 7 * (rec.nth - 1))
    return date(year, month, last - (date(year, month, last).weekday() - rec.weekday) % 7)


def occurrences(
    rrule: str,
    first_local: datetime,
    tz: str | ZoneInfo,
    *,
    start_utc: datetime | None = None,
    end_utc: datetime | None = None,
    limit: int | None = None,
) -> Iterator[datetime]:
    """Occurrences of a plan as aware UTC datetimes, ascending, lazily.

    `first_local` is the naive wall-clock first occurrence in `tz`; every occurrence has its time of day.
    COUNT counts from the start of the series whatever the window; UNTIL is a local date, inclusive. Only
    instants in [start_utc, end_utc) are yielded, at most `limit` of them. Arguments are checked here,
    before the first `next()`.
    """
    rec = parse_rrule(rrule)
    zone = zone_for(tz)
    if first_local.tzinfo is not None:
        raise ValueError("first_local must be a naive local wall-clock time.")
    for name, bound in (("start_utc", start_utc), ("end_utc", end_utc)):
        if bound is not None and bound.tzinfo is None:
            raise ValueError(f"{name} must be an aware datetime.")
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative.")
    return _generate(rec, first_local, zone, start_utc, end_utc, limit)


def _first_period(series: _Series, zone: ZoneInfo, start_utc: datetime | None) -> int:
    if start_utc is None:
        return 0
    try:
        # A day of margin: an occurrence two local days before the window's start cannot be inside it.
        return series.period_of(utc_to_local(start_utc, zone).date() - timedelta(days=1))
    except OverflowError:
        return 0


def _generate(
    rec: Recurrence,
    first_local: datetime,
    zone: ZoneInfo,
    start_utc: datetime | None,
    end_utc: datetime | None,
    limit: int | None,
) -> Iterator[datetime]:
    series = _Series(rec, first_local.date())
    at: time = first_local.time()
    period = _first_period(series, zone, start_utc)
    seen = series.occurrences_before(period)
    produced = 0
    previous: datetime | None = None
    while limit is None or produced < limit:
        try:
            dates = series.dates(period)
        except (OverflowError, ValueError):
            return  # past year 9999
        for day in dates:
            if day < series.first:
                continue
            if (rec.count is not None and seen >= rec.count) or (rec.until is not None and day > rec.until):
                return
            seen += 1
            try:
                moment = local_to_utc(datetime.combine(day, at), zone)
            except OverflowError:
                return
            # A gap of a whole day (Pacific/Apia, December 2011) can push a date onto the next one.
            if previous is not None and moment <= previous:
                continue
            previous = moment
            if start_utc is not None and moment < start_utc:
                continue
            if end_utc is not None and moment >= end_utc:
                return
            yield moment
            produced += 1
            if limit is not None and produced >= limit:
                return
        period += 1


def next_occurrences(
    rrule: str, first_local: datetime, tz: str | ZoneInfo, *, after_utc: datetime, n: int
) -> list[datetime]:
    """The next `n` occurrences strictly after `after_utc` (fewer if the series ends)."""
    if after_utc.tzinfo is None:
        raise ValueError("after_utc must be an aware datetime.")
    start = after_utc + timedelta(microseconds=1)
    return list(occurrences(rrule, first_local, tz, start_utc=start, limit=n))
