from __future__ import annotations

import json
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fixflow.sla.worktime import (
    END_OF_DAY,
    ScheduleError,
    WorkSchedule,
    add_working_time,
    is_working_time,
    schedule_from_dict,
    schedule_to_dict,
    working_time_between,
)

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
_DAY = timedelta(days=1)
NINE_TO_SIX = (time(9), time(18))


def local(zone: ZoneInfo, y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A local wall-clock reading as a UTC instant (fold=0)."""
    return datetime(y, m, d, hh, mm, tzinfo=zone).astimezone(UTC)


def msk(d: int, hh: int, mm: int = 0, *, m: int = 12, y: int = 2026) -> datetime:
    return local(MOSCOW, y, m, d, hh, mm)


def office(holidays: tuple[date, ...] = (), zone: str = "Europe/Moscow") -> WorkSchedule:
    return WorkSchedule.weekly(zone, {i: [NINE_TO_SIX] for i in range(5)}, holidays)


def with_lunch() -> WorkSchedule:
    return WorkSchedule.weekly(
        "Europe/Moscow", {i: [(time(9), time(13)), (time(14), time(18))] for i in range(5)}
    )


def every_day(start: time, end: time, zone: str = "Europe/Berlin") -> WorkSchedule:
    return WorkSchedule.weekly(zone, {i: [(start, end)] for i in range(7)})


# --- spec examples (domain.md §7): Mon–Fri 09:00–18:00; 2026-12-03 is a Thursday ---------------------


def test_spec_thursday_17_plus_6h_is_friday_14() -> None:
    assert add_working_time(msk(3, 17), 6 * H, office()) == msk(4, 14)


def test_spec_monday_09_plus_45h_is_friday_18() -> None:
    assert add_working_time(msk(30, 9, m=11), 45 * H, office()) == msk(4, 18)


def test_result_is_utc() -> None:
    result = add_working_time(msk(3, 17), 6 * H, office())
    assert result.tzinfo is UTC


def test_non_utc_aware_start_is_accepted() -> None:
    start = datetime(2026, 12, 3, 17, tzinfo=MOSCOW)
    assert add_working_time(start, 6 * H, office()) == msk(4, 14)


# --- starting outside working time ------------------------------------------------------------------


def test_start_on_saturday_counts_from_monday_opening() -> None:
    assert add_working_time(msk(5, 11), 2 * H, office()) == msk(7, 11)


def test_start_before_opening_counts_from_opening() -> None:
    assert add_working_time(msk(30, 7, m=11), H, office()) == msk(30, 10, m=11)


def test_start_exactly_at_closing_counts_from_next_opening() -> None:
    assert add_working_time(msk(3, 18), H, office()) == msk(4, 10)
    assert add_working_time(msk(4, 18), H, office()) == msk(7, 10)


def test_deadline_landing_on_closing_stays_at_closing() -> None:
    assert add_working_time(msk(3, 18), 9 * H, office()) == msk(4, 18)


def test_zero_duration_returns_start_unchanged() -> None:
    assert add_working_time(msk(3, 12), timedelta(0), office()) == msk(3, 12)
    assert add_working_time(msk(5, 11), timedelta(0), office()) == msk(5, 11)


# --- split days, holidays, long durations -----------------------------------------------------------


def test_lunch_break_is_skipped() -> None:
    schedule = with_lunch()
    assert add_working_time(msk(30, 12, m=11), 2 * H, schedule) == msk(30, 15, m=11)
    assert add_working_time(msk(30, 13, 30, m=11), H, schedule) == msk(30, 15, m=11)
    # Exactly filling the morning ends at 13:00, not after lunch.
    assert add_working_time(msk(30, 12, m=11), H, schedule) == msk(30, 13, m=11)
    assert add_working_time(msk(30, 9, m=11), 8 * H + timedelta(minutes=1), schedule) == msk(1, 9, 1)


def test_holiday_in_the_middle_is_skipped() -> None:
    assert add_working_time(msk(3, 17), 6 * H, office((date(2026, 12, 4),))) == msk(7, 14)
    schedule = office((date(2026, 12, 2),))
    assert add_working_time(msk(30, 9, m=11), 45 * H, schedule) == msk(7, 18)


def test_long_duration_spanning_many_weeks() -> None:
    start = msk(30, 9, m=11)
    # 2000 h = 44 weeks × 45 h + 20 h; 44 weeks later is Monday 2027-10-04, then 9 + 9 + 2 h.
    deadline = add_working_time(start, 2000 * H, office())
    assert deadline == local(MOSCOW, 2027, 10, 6, 11)
    assert working_time_between(start, deadline, office()) == 2000 * H


def test_long_duration_with_holidays_matches_between() -> None:
    holidays = (*(date(2027, 1, d) for d in range(1, 9)), date(2027, 5, 1), date(2027, 5, 9))
    schedule = office(holidays)
    deadline = add_working_time(msk(30, 9, m=11), 2000 * H, schedule)
    # Jan 1–8 holds 6 weekdays (May 1 and 9 are a Saturday and a Sunday): 54 h more → 6 working days on.
    assert deadline == local(MOSCOW, 2027, 10, 14, 11)
    assert working_time_between(msk(30, 9, m=11), deadline, schedule) == 2000 * H


def test_very_long_duration_is_computed_per_day_not_per_minute() -> None:
    start = msk(3, 17)
    began = clock.perf_counter()
    deadline = add_working_time(start, timedelta(days=365 * 30), WorkSchedule.always("Europe/Moscow"))
    assert clock.perf_counter() - began < 3
    assert deadline == start + timedelta(days=365 * 30)


def test_interval_ending_at_midnight_continues_into_next_day() -> None:
    schedule = WorkSchedule.weekly("Europe/Moscow", {4: [(time(20), END_OF_DAY)], 5: [(time(0), time(4))]})
    assert add_working_time(msk(4, 23), 2 * H, schedule) == msk(5, 1)
    assert working_time_between(msk(4, 0), msk(6, 0), schedule) == 8 * H


def test_days_follow_the_local_calendar_not_utc() -> None:
    # Friday 23:00 in New York is already Saturday in UTC.
    schedule = WorkSchedule.weekly("America/New_York", {4: [(time(20), END_OF_DAY)]})
    new_york = ZoneInfo("America/New_York")
    start = local(new_york, 2026, 12, 4, 23)
    assert add_working_time(start, timedelta(minutes=30), schedule) == local(new_york, 2026, 12, 4, 23, 30)
    assert is_working_time(start, schedule)
    assert not is_working_time(local(new_york, 2026, 12, 5, 0), schedule)


# --- DST (Europe/Berlin: spring forward 2027-03-28, fall back 2027-10-31) ---------------------------


def test_interval_spanning_spring_forward_is_an_hour_shorter() -> None:
    schedule = every_day(time(0), time(6))
    day = (local(BERLIN, 2027, 3, 28), local(BERLIN, 2027, 3, 29))
    assert working_time_between(*day, schedule) == 5 * H
    assert working_time_between(local(BERLIN, 2027, 3, 27), local(BERLIN, 2027, 3, 28), schedule) == 6 * H
    assert add_working_time(day[0], 5 * H, schedule) == datetime(2027, 3, 28, 4, tzinfo=UTC)  # 06:00 CEST
    assert add_working_time(day[0], 5 * H + timedelta(minutes=30), schedule) == local(
        BERLIN, 2027, 3, 29, 0, 30
    )


def test_interval_spanning_fall_back_is_an_hour_longer() -> None:
    schedule = every_day(time(0), time(6))
    day = (local(BERLIN, 2027, 10, 31), local(BERLIN, 2027, 11, 1))
    assert working_time_between(*day, schedule) == 7 * H
    assert add_working_time(day[0], 7 * H, schedule) == datetime(2027, 10, 31, 5, tzinfo=UTC)  # 06:00 CET
    assert add_working_time(day[0], 6 * H, schedule) == datetime(2027, 10, 31, 4, tzinfo=UTC)  # 05:00 CET


def test_counting_over_a_dst_weekend_keeps_local_opening_hours() -> None:
    schedule = office(zone="Europe/Berlin")
    start = local(BERLIN, 2027, 3, 26, 17)  # Friday, CET
    assert add_working_time(start, 2 * H, schedule) == datetime(2027, 3, 29, 8, tzinfo=UTC)  # Mon 10:00 CEST
    start = local(BERLIN, 2027, 10, 29, 17)  # Friday, CEST
    assert add_working_time(start, 2 * H, schedule) == datetime(2027, 11, 1, 9, tzinfo=UTC)  # Mon 10:00 CET


def test_times_in_the_spring_gap_move_forward_to_the_change() -> None:
    schedule = WorkSchedule.weekly("Europe/Berlin", {6: [(time(2, 30), time(3, 30))]})
    change = datetime(2027, 3, 28, 1, tzinfo=UTC)  # 02:00 CET becomes 03:00 CEST
    assert working_time_between(change - 6 * H, change + 6 * H, schedule) == timedelta(minutes=30)
    assert is_working_time(change, schedule)
    assert not is_working_time(change - timedelta(seconds=1), schedule)
    assert add_working_time(change - 6 * H, timedelta(minutes=30), schedule) == change + timedelta(minutes=30)


def test_interval_wholly_inside_the_gap_has_no_working_time() -> None:
    schedule = WorkSchedule.weekly("Europe/Berlin", {6: [(time(2), time(2, 59))]})
    start = datetime(2027, 3, 27, 12, tzinfo=UTC)
    assert working_time_between(start, start + 2 * _DAY, schedule) == timedelta(0)
    # Next Sunday's 02:00 CEST is 00:00 UTC.
    assert add_working_time(start, timedelta(minutes=30), schedule) == datetime(2027, 4, 4, 0, 30, tzinfo=UTC)


def test_ambiguous_times_take_the_first_occurrence() -> None:
    schedule = WorkSchedule.weekly("Europe/Berlin", {6: [(time(2, 30), time(2, 45))]})
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert is_working_time(first, schedule)
    assert not is_working_time(first + H, schedule)  # 02:30 CET, the second pass
    assert working_time_between(first - 6 * H, first + 6 * H, schedule) == timedelta(minutes=15)


# --- 24×7 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Europe/Moscow", "America/New_York"])
@pytest.mark.parametrize(
    "duration", [timedelta(minutes=1), 5 * H, 47 * H + timedelta(seconds=3), timedelta(days=400)]
)
def test_always_equals_plain_addition(zone: str, duration: timedelta) -> None:
    schedule = WorkSchedule.always(zone)
    for start in (
        datetime(2027, 3, 27, 23, 30, tzinfo=UTC),
        datetime(2027, 10, 30, 22, 59, 59, tzinfo=UTC),
        datetime(2027, 3, 14, 6, 15, tzinfo=UTC),
    ):
        assert add_working_time(start, duration, schedule) == start + duration
        assert working_time_between(start, start + duration, schedule) == duration
        assert is_working_time(start, schedule)


# --- is_working_time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (msk(3, 12), True),
        (msk(3, 9), True),  # opening is inside
        (msk(3, 18), False),  # closing is outside
        (msk(3, 17, 59), True),
        (msk(3, 8, 59), False),
        (msk(5, 12), False),  # Saturday
        (msk(7, 12), False),  # holiday Monday
        (msk(8, 12), True),
    ],
)
def test_is_working_time(instant: datetime, expected: bool) -> None:
    assert is_working_time(instant, office((date(2026, 12, 7),))) is expected


def test_is_working_time_respects_lunch_break() -> None:
    assert not is_working_time(msk(3, 13, 30), with_lunch())
    assert is_working_time(msk(3, 14), with_lunch())


# --- working_time_between ---------------------------------------------------------------------------


def test_working_time_between() -> None:
    assert working_time_between(msk(30, 0, m=11), msk(7, 0), office()) == 45 * H
    assert working_time_between(msk(3, 17), msk(4, 14), office()) == 6 * H
    assert working_time_between(msk(4, 14), msk(3, 17), office()) == -6 * H
    assert working_time_between(msk(5, 0), msk(7, 0), office()) == timedelta(0)
    assert working_time_between(msk(3, 10), msk(3, 12), with_lunch()) == 2 * H
    assert working_time_between(msk(3, 12), msk(3, 15), with_lunch()) == 2 * H


# --- empty schedules and bad arguments --------------------------------------------------------------


def test_schedule_without_working_time() -> None:
    empty = WorkSchedule.weekly("Europe/Moscow", {})
    with pytest.raises(ScheduleError, match="no working time"):
        add_working_time(msk(3, 12), H, empty)
    assert not is_working_time(msk(3, 12), empty)
    assert working_time_between(msk(3, 12), msk(30, 12), empty) == timedelta(0)


def test_naive_datetimes_and_negative_durations_are_rejected() -> None:
    naive = datetime(2026, 12, 3, 12)  # noqa: DTZ001 - deliberately naive
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_time(naive, H, office())
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(naive, office())
    with pytest.raises(ValueError, match="negative"):
        add_working_time(msk(3, 12), -H, office())


# --- JSON storage -----------------------------------------------------------------------------------

STORED: dict[str, Any] = {
    "timezone": "Europe/Moscow",
    "week": {
        "mon": [["09:00", "13:00"], ["14:00", "18:00"]],
        "tue": [["09:00", "18:00"]],
        "wed": [],
        "thu": [["09:00", "18:00"]],
        "fri": [["20:00", "24:00"]],
        "sat": [["00:00", "04:30:15"]],
        "sun": [],
    },
    "holidays": ["2027-01-01", "2027-01-07"],
}


def test_schedule_json_round_trip() -> None:
    schedule = schedule_from_dict(json.loads(json.dumps(STORED)))
    assert schedule.week[0] == ((time(9), time(13)), (time(14), time(18)))
    assert schedule.week[4] == ((time(20), END_OF_DAY),)
    assert schedule.week[5] == ((time(0), time(4, 30, 15)),)
    assert schedule.holidays == {date(2027, 1, 1), date(2027, 1, 7)}
    assert schedule_to_dict(schedule) == STORED
    assert schedule_from_dict(schedule_to_dict(office())) == office()
    assert schedule_from_dict(schedule_to_dict(WorkSchedule.always("Asia/Tokyo"))) == WorkSchedule.always(
        "Asia/Tokyo"
    )


def test_missing_days_and_holidays_default_to_none() -> None:
    schedule = schedule_from_dict({"timezone": "UTC", "week": {"mon": [["09:00", "18:00"]]}})
    assert schedule == WorkSchedule.weekly("UTC", {0: [NINE_TO_SIX]})
    assert hash(schedule) == hash(WorkSchedule.weekly("UTC", {0: [NINE_TO_SIX]}))


def test_intervals_are_sorted_on_construction() -> None:
    schedule = schedule_from_dict(
        {"timezone": "UTC", "week": {"mon": [["14:00", "18:00"], ["09:00", "13:00"]]}}
    )
    assert schedule.week[0] == ((time(9), time(13)), (time(14), time(18)))


def _with(**changes: Any) -> dict[str, Any]:
    return {**STORED, **changes}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _with(week={"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}),
            "mon: intervals 09:00–13:00 and 12:00",
        ),
        (_with(week={"tue": [["18:00", "09:00"]]}), "tue: interval 18:00–09:00 must end after it starts"),
        (_with(week={"wed": [["09:00", "09:00"]]}), "must end after it starts"),
        (_with(week={"monday": [["09:00", "18:00"]]}), "unknown weekday keys \\['monday'\\]"),
        (_with(week={"mon": [["9", "18:00"]]}), "week.mon\\[0\\]: '9' is not a time"),
        (_with(week={"mon": [["09:00", "25:00"]]}), "'25:00' is not a valid time"),
        (_with(week={"mon": [["24:00", "24:00"]]}), "24:00 may only end an interval"),
        (_with(week={"mon": [["09:00"]]}), "week.mon\\[0\\] must be a \\[start, end\\] pair"),
        (_with(week={"mon": "09:00-18:00"}), "week.mon must be a list"),
        (_with(week=[]), "week must be an object"),
        (_with(holidays=["2027-02-30"]), "holidays\\[0\\]: '2027-02-30' is not a date"),
        (_with(holidays=["20270101"]), "is not a date"),
        (_with(holidays="2027-01-01"), "holidays must be a list"),
        (_with(timezone="Mars/Olympus_Mons"), "unknown timezone 'Mars/Olympus_Mons'"),
        (_with(timezone=""), "non-empty IANA name"),
        ({"week": {}}, "needs a timezone"),
        (_with(colour="red"), "unknown schedule keys: colour"),
    ],
)
def test_schedule_validation_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        schedule_from_dict(data)


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ScheduleError, match="7 days"):
        WorkSchedule("UTC", ((NINE_TO_SIX,),))
    with pytest.raises(ScheduleError, match="weekday keys"):
        WorkSchedule.weekly("UTC", {7: [NINE_TO_SIX]})
    with pytest.raises(ScheduleError, match="overlap"):
        WorkSchedule.weekly("UTC", {0: [NINE_TO_SIX, (time(17), END_OF_DAY)]})
    with pytest.raises(ScheduleError, match="naive"):
        WorkSchedule.weekly("UTC", {0: [(time(9, tzinfo=UTC), time(18))]})
    with pytest.raises(ScheduleError, match="whole seconds"):
        WorkSchedule.weekly("UTC", {0: [(time(9, 0, 0, 5), time(18))]})
    with pytest.raises(ScheduleError, match="unknown timezone"):
        WorkSchedule.always("Not/AZone")
    assert isinstance(ScheduleError("x"), ValueError)
