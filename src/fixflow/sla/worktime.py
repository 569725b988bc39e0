"""Working-time arithmetic for SLA deadlines (spec: domain.md §7). Pure: no database, no I/O.

A schedule is weekly local wall-clock intervals plus holiday dates in one IANA time zone. All arithmetic
walks the calendar one local day at a time and turns each interval's bounds into UTC instants, so DST is
handled by construction: an interval that spans a clock change is shorter or longer in real time.

Mapping a local wall-clock time ``t`` of a given day to an instant uses one rule: *the first instant at
which the local clock reads ``t`` or later*. Consequences:

* ambiguous times (clocks fall back) take their first occurrence (``fold=0``);
* times in a gap (clocks spring forward) move forward to the instant of the change, so an interval lying
  wholly inside a gap has no working time and 00:00–06:00 on Berlin's spring-forward day lasts 5 h.

The mapping never goes backwards in time, so the days' intervals form one ordered, non-overlapping
sequence of UTC segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "END_OF_DAY",
    "WEEKDAY_KEYS",
    "Interval",
    "ScheduleError",
    "WorkSchedule",
    "add_working_time",
    "is_working_time",
    "schedule_from_dict",
    "schedule_to_dict",
    "working_time_between",
]

#: Used as an interval *end* it means 24:00, i.e. the following local midnight ("24:00" in JSON).
#: ``datetime.time`` cannot hold 24:00 itself; ``time.max`` (23:59:59.999999) is never a sensible bound.
END_OF_DAY = time.max

#: JSON weekday keys; the index is ``date.weekday()`` (0 = Monday).
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: (start, end) in naive local wall-clock time; ``start < end``; ``end`` may be ``END_OF_DAY``.
Interval = tuple[time, time]

_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ScheduleError(ValueError):
    """The schedule is invalid, or has no working time to count in."""


def _fmt(t: time) -> str:
    if t == END_OF_DAY:
        return "24:00"
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


@dataclass(frozen=True, slots=True)
class WorkSchedule:
    """Weekly working hours in ``timezone``; ``week[i]`` holds the intervals of weekday ``i`` (0 = Mon).

    ``week`` is a 7-tuple rather than a dict so the schedule stays hashable (usable as a cache key); build
    it from a mapping with :meth:`weekly`. Intervals are sorted on construction and validated: start before
    end, no overlaps (touching is fine), naive whole-second times, ``END_OF_DAY`` only as an end.
    """

    timezone: str
    week: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if len(self.week) != 7:
            raise ScheduleError(f"week must have 7 days (Mon..Sun), got {len(self.week)}")
        week = tuple(_checked_day(WEEKDAY_KEYS[i], day) for i, day in enumerate(self.week))
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def weekly(
        cls, timezone: str, week: Mapping[int, Iterable[Interval]], holidays: Iterable[date] = ()
    ) -> WorkSchedule:
        """Build from ``{weekday: intervals}``; weekdays left out have no working time."""
        bad = [k for k in week if k not in range(7)]
        if bad:
            raise ScheduleError(f"weekday keys must be 0 (Mon) .. 6 (Sun), got {bad}")
        days = tuple(tuple(week.get(i, ())) for i in range(7))
        return cls(timezone, days, frozenset(holidays))

    @classmethod
    def always(cls, timezone: str = "UTC") -> WorkSchedule:
        """24×7 without holidays: working time equals real elapsed time."""
        return cls(timezone, (((_MIDNIGHT, END_OF_DAY),),) * 7)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    @property
    def has_working_time(self) -> bool:
        # Holidays are finite, so any weekly interval guarantees working time eventually.
        return any(self.week)


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone must be a non-empty IANA name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown timezone {name!r}") from exc


def _checked_day(day_key: str, intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    checked: list[Interval] = []
    for start, end in intervals:
        if not (isinstance(start, time) and isinstance(end, time)):
            raise ScheduleError(f"{day_key}: interval bounds must be datetime.time values")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ScheduleError(f"{day_key}: interval times must be naive local wall-clock times")
        if start == END_OF_DAY:
            raise ScheduleError(f"{day_key}: 24:00 may only end an interval")
        if start.microsecond or (end.microsecond and end != END_OF_DAY):
            # Whole seconds keep the JSON form exact.
            raise ScheduleError(f"{day_key}: interval times must be whole seconds")
        if end <= start:
            raise ScheduleError(f"{day_key}: interval {_fmt(start)}–{_fmt(end)} must end after it starts")
        checked.append((start, end))
    checked.sort()
    for (s1, e1), (s2, e2) in pairwise(checked):
        if s2 < e1:
            raise ScheduleError(
                f"{day_key}: intervals {_fmt(s1)}–{_fmt(e1)} and {_fmt(s2)}–{_fmt(e2)} overlap"
            )
    return tuple(checked)


# --- local wall clock -> UTC ------------------------------------------------------------------------


def _to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """First instant at which the local clock in ``zone`` reads ``naive`` or later."""
    first = naive.replace(tzinfo=zone).astimezone(UTC)  # fold=0: first occurrence if ambiguous
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # ``naive`` is in a gap. fold=0 applied the pre-change offset, landing after the change by as much as
    # ``naive`` is into the gap; fold=1 lands before it. Bisect for the change (clock reads >= naive).
    lo = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = first
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) // 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return _to_utc(datetime.combine(day, _MIDNIGHT), zone)


def _day_segments(day: date, schedule: WorkSchedule, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    if day in schedule.holidays:
        return
    for start, end in schedule.week[day.weekday()]:
        a = _to_utc(datetime.combine(day, start), zone)
        if end == END_OF_DAY:
            b = _day_start(day + _ONE_DAY, zone)
        else:
            b = _to_utc(datetime.combine(day, end), zone)
        if b > a:  # an interval inside a DST gap is empty
            yield a, b


def _segments(
    start: datetime, schedule: WorkSchedule, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Working segments in UTC, clipped to begin at ``start``, in order; day by day.

    Unbounded when ``until`` is None: callers must check ``has_working_time`` first.
    """
    zone = schedule.zone
    # Earlier days end by this day's local midnight, which is not after ``start``.
    day = start.astimezone(zone).date()
    while until is None or _day_start(day, zone) < until:
        for a, b in _day_segments(day, schedule, zone):
            if b > start:
                yield max(a, start), b
        day += _ONE_DAY


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return instant.astimezone(UTC)


# --- public arithmetic -------------------------------------------------------------------------------


def add_working_time(start_utc: datetime, duration: timedelta, schedule: WorkSchedule) -> datetime:
    """The instant (UTC) at which ``duration`` of working time has elapsed, counting from ``start_utc``.

    Outside working time the count begins at the next working period. A deadline that lands exactly on
    the end of a period is that end (Mon 09:00 + 45 h → Fri 18:00, not the next Monday). A zero duration
    returns ``start_utc`` unchanged, even outside working time: nothing needs to elapse.

    Cost is one step per calendar day covered, so long durations stay cheap.
    """
    start = _utc(start_utc, "start_utc")
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    if duration == timedelta(0):
        return start
    if not schedule.has_working_time:
        raise ScheduleError("the schedule has no working time, so no deadline can be reached")
    remaining = duration
    try:
        for a, b in _segments(start, schedule):
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
    except OverflowError as exc:
        raise ScheduleError("the deadline lies beyond the supported date range") from exc
    raise AssertionError("unreachable: _segments is unbounded")  # pragma: no cover


def is_working_time(instant_utc: datetime, schedule: WorkSchedule) -> bool:
    """Whether the schedule covers ``instant_utc``; periods are half-open (opening in, closing out)."""
    instant = _utc(instant_utc, "instant_utc")
    if not schedule.has_working_time:
        return False
    zone = schedule.zone
    day = instant.astimezone(zone).date()
    # The next day too: if clocks fall back across midnight, its early hours precede some of this day's.
    for d in (day, day + _ONE_DAY):
        if any(a <= instant < b for a, b in _day_segments(d, schedule, zone)):
            return True
    return False


def working_time_between(a_utc: datetime, b_utc: datetime, schedule: WorkSchedule) -> timedelta:
    """Working time inside ``[a_utc, b_utc)``; negative when ``b_utc`` is before ``a_utc``."""
    a = _utc(a_utc, "a_utc")
    b = _utc(b_utc, "b_utc")
    if b < a:
        return -working_time_between(b, a, schedule)
    total = timedelta(0)
    if not schedule.has_working_time:
        return total
    for seg_start, seg_end in _segments(a, schedule, until=b):
        if seg_start >= b:
            break
        total += min(seg_end, b) - seg_start
    return total


# --- JSON storage ------------------------------------------------------------------------------------


def schedule_to_dict(schedule: WorkSchedule) -> dict[str, Any]:
    """JSON-ready form; :func:`schedule_from_dict` reads it back to an equal schedule."""
    return {
        "timezone": schedule.timezone,
        "week": {
            key: [[_fmt(s), _fmt(e)] for s, e in schedule.week[i]] for i, key in enumerate(WEEKDAY_KEYS)
        },
        "holidays": sorted(d.isoformat() for d in schedule.holidays),
    }


def schedule_from_dict(data: Mapping[str, Any]) -> WorkSchedule:
    """Parse ``{"timezone": ..., "week": {"mon": [["09:00", "18:00"]], ...}, "holidays": [...]}``.

    Days left out of ``week`` have no working time; ``holidays`` is optional. Raises ScheduleError.
    """
    if not isinstance(data, Mapping):
        raise ScheduleError("schedule must be an object")
    unknown = sorted(set(data) - {"timezone", "week", "holidays"})
    if unknown:
        raise ScheduleError(f"unknown schedule keys: {', '.join(map(str, unknown))}")
    if "timezone" not in data:
        raise ScheduleError("schedule needs a timezone")
    week = data.get("week")
    if not isinstance(week, Mapping):
        raise ScheduleError("week must be an object keyed by mon, tue, wed, thu, fri, sat, sun")
    bad_keys = sorted(str(k) for k in week if k not in WEEKDAY_KEYS)
    if bad_keys:
        raise ScheduleError(f"unknown weekday keys {bad_keys}; use {', '.join(WEEKDAY_KEYS)}")
    days = tuple(_parse_day(key, week.get(key, [])) for key in WEEKDAY_KEYS)
    holidays = _parse_holidays(data.get("holidays", []))
    return WorkSchedule(data["timezone"], days, holidays)


def _parse_day(key: str, raw: Any) -> tuple[Interval, ...]:
    if not isinstance(raw, list):
        raise ScheduleError(f"week.{key} must be a list of [start, end] pairs")
    intervals: list[Interval] = []
    for n, pair in enumerate(raw):
        where = f"week.{key}[{n}]"
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise ScheduleError(f"{where} must be a [start, end] pair")
        intervals.append((_parse_time(where, pair[0], end=False), _parse_time(where, pair[1], end=True)))
    return tuple(intervals)


def _parse_time(where: str, raw: Any, *, end: bool) -> time:
    match = _TIME_RE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise ScheduleError(f"{where}: {raw!r} is not a time like 09:00")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if (hour, minute, second) == (24, 0, 0):
        if not end:
            raise ScheduleError(f"{where}: 24:00 may only end an interval")
        return END_OF_DAY
    if hour > 23 or minute > 59 or second > 59:
        raise ScheduleError(f"{where}: {raw!r} is not a valid time of day")
    return time(hour, minute, second)


def _parse_holidays(raw: Any) -> frozenset[date]:
    if not isinstance(raw, list):
        raise ScheduleError("holidays must be a list of dates like 2027-01-01")
    days: set[date] = set()
    for n, item in enumerate(raw):
        try:
            if not (isinstance(item, str) and _DATE_RE.fullmatch(item)):
                raise ValueError
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ScheduleError(f"holidays[{n}]: {item!r} is not a date like 2027-01-01") from None
    return frozenset(days)
