from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from dateutil.rrule import rrulestr

from fixflow.planning.recurrence import (
    Recurrence,
    RecurrenceError,
    local_to_utc,
    next_occurrences,
    occurrences,
    parse_rrule,
    to_rrule,
    utc_to_local,
)

MO, TU, WE, TH, FR, SA, SU = range(7)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local_times(rule: str, first: str, tz: str = "UTC", **kwargs: object) -> list[str]:
    """Occurrences shown as local wall-clock ISO strings, which keeps expectations readable."""
    result = occurrences(rule, local(first), tz, **kwargs)  # type: ignore[arg-type]
    return [utc_to_local(m, tz).isoformat(timespec="minutes") for m in result]


def dates_of(rule: Recurrence, first: str, n: int) -> list[str]:
    return [s[:10] for s in local_times(to_rrule(rule), first, limit=n)]


# --- form and RRULE text --------------------------------------------------------------------------

FORMS = [
    (Recurrence.daily(), "FREQ=DAILY;INTERVAL=1"),
    (Recurrence.daily(365).ending(count=3), "FREQ=DAILY;INTERVAL=365;COUNT=3"),
    (Recurrence.weekly((TH, MO), 2), "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH"),
    (Recurrence.weekly(tuple(range(7))), "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR,SA,SU"),
    (Recurrence.monthly_on_day(31), "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=31"),
    (
        Recurrence.monthly_on_day(1, 3).ending(until=date(2030, 1, 1)),
        "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1;UNTIL=20300101",
    ),
    (Recurrence.monthly_on_weekday(1, MO), "FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO"),
    (Recurrence.monthly_on_weekday(-1, FR, 6), "FREQ=MONTHLY;INTERVAL=6;BYDAY=-1FR"),
    (Recurrence.monthly_on_last_day(), "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=-1"),
    (Recurrence.yearly(2, 29).ending(count=10), "FREQ=YEARLY;INTERVAL=1;BYMONTH=2;BYMONTHDAY=29;COUNT=10"),
    (Recurrence.yearly(12, 31, 5), "FREQ=YEARLY;INTERVAL=5;BYMONTH=12;BYMONTHDAY=31"),
]


@pytest.mark.parametrize(("rec", "text"), FORMS)
def test_every_form_round_trips(rec: Recurrence, text: str) -> None:
    assert to_rrule(rec) == text
    assert parse_rrule(text) == rec
    assert to_rrule(parse_rrule(to_rrule(rec))) == text


def test_parse_accepts_prefix_lower_case_default_interval_and_monday_week_start() -> None:
    assert parse_rrule(" RRULE:freq=weekly;byday=fr,mo;wkst=MO ") == Recurrence.weekly((MO, FR))
    assert parse_rrule("FREQ=MONTHLY;BYDAY=+2TU") == Recurrence.monthly_on_weekday(2, TU)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "RRULE:",
        "INTERVAL=2",
        "FREQ=HOURLY",
        "FREQ=SECONDLY;INTERVAL=1",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;INTERVAL=366",
        "FREQ=DAILY;INTERVAL=-1",
        "FREQ=DAILY;INTERVAL=two",
        "FREQ=DAILY;INTERVAL",
        "FREQ=DAILY;;INTERVAL=1",
        "FREQ=DAILY;INTERVAL=2;INTERVAL=3",
        "FREQ=DAILY;BYHOUR=9",
        "FREQ=DAILY;BYSETPOS=-1",
        "FREQ=DAILY;BYDAY=MO",
        "FREQ=DAILY;WKST=SU",
        "FREQ=WEEKLY;INTERVAL=53;BYDAY=MO",
        "FREQ=WEEKLY",
        "FREQ=WEEKLY;BYDAY=MO,MO",
        "FREQ=WEEKLY;BYDAY=1MO",
        "FREQ=WEEKLY;BYDAY=MO,",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=1",
        "FREQ=MONTHLY",
        "FREQ=MONTHLY;INTERVAL=61;BYMONTHDAY=1",
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "FREQ=MONTHLY;BYMONTHDAY=32",
        "FREQ=MONTHLY;BYMONTHDAY=-2",
        "FREQ=MONTHLY;BYMONTHDAY=1,15",
        "FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=1MO",
        "FREQ=MONTHLY;BYDAY=MO",
        "FREQ=MONTHLY;BYDAY=5MO",
        "FREQ=MONTHLY;BYDAY=-2FR",
        "FREQ=MONTHLY;BYDAY=1MO,3MO",
        "FREQ=MONTHLY;BYMONTHDAY=1;BYMONTH=3",
        "FREQ=YEARLY",
        "FREQ=YEARLY;BYMONTH=2",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=YEARLY;BYMONTH=13;BYMONTHDAY=1",
        "FREQ=YEARLY;BYMONTH=1,2;BYMONTHDAY=1",
        "FREQ=YEARLY;INTERVAL=26;BYMONTH=1;BYMONTHDAY=1",
        "FREQ=DAILY;COUNT=0",
        "FREQ=DAILY;COUNT=10001",
        "FREQ=DAILY;COUNT=3;UNTIL=20270101",
        "FREQ=DAILY;UNTIL=20270101T000000Z",
        "FREQ=DAILY;UNTIL=20270230",
        "FREQ=DAILY;UNTIL=2027-01-01",
    ],
)
def test_invalid_rules_are_rejected_with_a_message(text: str) -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_rrule(text)
    assert isinstance(caught.value, ValueError)
    assert len(str(caught.value)) > 10


def test_bad_messages_name_the_problem() -> None:
    with pytest.raises(RecurrenceError, match="fifth"):
        parse_rrule("FREQ=MONTHLY;BYDAY=5MO")
    with pytest.raises(RecurrenceError, match="BYHOUR is not supported"):
        parse_rrule("FREQ=DAILY;BYHOUR=9")
    with pytest.raises(RecurrenceError, match="not both"):
        parse_rrule("FREQ=DAILY;COUNT=3;UNTIL=20270101")


@pytest.mark.parametrize(
    "build",
    [
        lambda: Recurrence("hourly", 1),  # type: ignore[arg-type]
        lambda: Recurrence.daily(True),
        lambda: Recurrence("daily", 1, day=3),
        lambda: Recurrence.weekly(()),
        lambda: Recurrence.weekly((7,)),
        lambda: Recurrence("monthly", 1),
        lambda: Recurrence("monthly", 1, monthly_mode="last_day", weekday=MO),
        lambda: Recurrence.monthly_on_weekday(0, MO),
        lambda: Recurrence.yearly(2, 30),
        lambda: Recurrence.daily().ending(until=datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_form_validation(build: object) -> None:
    with pytest.raises(RecurrenceError):
        build()  # type: ignore[operator]


# --- calendar semantics ---------------------------------------------------------------------------


def test_daily_every_n_days() -> None:
    assert dates_of(Recurrence.daily(3), "2027-02-26T08:00", 4) == [
        "2027-02-26", "2027-03-01", "2027-03-04", "2027-03-07",
    ]  # fmt: skip


def test_weekly_on_chosen_days_every_two_weeks() -> None:
    # 2027-01-04 is a Monday.
    assert dates_of(Recurrence.weekly((MO, TH), 2), "2027-01-04T09:00", 6) == [
        "2027-01-04", "2027-01-07", "2027-01-18", "2027-01-21", "2027-02-01", "2027-02-04",
    ]  # fmt: skip


def test_monthly_on_day_31_clamps_to_the_last_day_in_non_leap_and_leap_years() -> None:
    rule = Recurrence.monthly_on_day(31)
    assert dates_of(rule, "2027-01-31T09:00", 4) == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    assert dates_of(rule, "2028-01-31T09:00", 4) == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]


def test_monthly_on_day_30_keeps_day_30_after_february() -> None:
    assert dates_of(Recurrence.monthly_on_day(30), "2027-01-30T09:00", 3) == [
        "2027-01-30", "2027-02-28", "2027-03-30",
    ]  # fmt: skip


def test_monthly_kth_weekday() -> None:
    assert dates_of(Recurrence.monthly_on_weekday(1, MO), "2027-01-01T09:00", 4) == [
        "2027-01-04", "2027-02-01", "2027-03-01", "2027-04-05",
    ]  # fmt: skip
    assert dates_of(Recurrence.monthly_on_weekday(-1, FR), "2027-01-01T09:00", 4) == [
        "2027-01-29", "2027-02-26", "2027-03-26", "2027-04-30",
    ]  # fmt: skip
    assert dates_of(Recurrence.monthly_on_weekday(4, SU, 2), "2027-01-01T09:00", 3) == [
        "2027-01-24", "2027-03-28", "2027-05-23",
    ]  # fmt: skip


def test_monthly_last_day() -> None:
    assert dates_of(Recurrence.monthly_on_last_day(), "2027-12-31T18:00", 4) == [
        "2027-12-31", "2028-01-31", "2028-02-29", "2028-03-31",
    ]  # fmt: skip


def test_yearly_on_29_february_falls_on_28_february_in_other_years() -> None:
    assert dates_of(Recurrence.yearly(2, 29), "2028-02-29T10:00", 5) == [
        "2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29",
    ]  # fmt: skip


def test_first_local_that_does_not_match_starts_at_the_next_matching_date_of_its_period() -> None:
    assert dates_of(Recurrence.monthly_on_day(15), "2027-01-20T09:00", 2) == ["2027-02-15", "2027-03-15"]
    assert dates_of(Recurrence.monthly_on_day(15, 3), "2027-01-20T09:00", 2) == ["2027-04-15", "2027-07-15"]
    # 2027-01-06 is a Wednesday; its week is the first period.
    assert dates_of(Recurrence.weekly((MO, FR), 2), "2027-01-06T09:00", 3) == [
        "2027-01-08", "2027-01-18", "2027-01-22",
    ]  # fmt: skip


def test_time_of_day_comes_from_first_local() -> None:
    assert local_times("FREQ=DAILY;INTERVAL=1", "2027-05-01T07:45", "Europe/Berlin", limit=2) == [
        "2027-05-01T07:45", "2027-05-02T07:45",
    ]  # fmt: skip


# --- ends, windows and limits ----------------------------------------------------------------------


def test_count_counts_from_the_start_of_the_series_whatever_the_window() -> None:
    rule = "FREQ=DAILY;INTERVAL=1;COUNT=5"
    assert len(list(occurrences(rule, local("2027-01-01T09:00"), "UTC"))) == 5
    windowed = list(occurrences(rule, local("2027-01-01T09:00"), "UTC", start_utc=utc("2027-01-04T00:00")))
    assert windowed == [utc("2027-01-04T09:00"), utc("2027-01-05T09:00")]
    assert list(occurrences(rule, local("2027-01-01T09:00"), "UTC", start_utc=utc("2027-01-06T00:00"))) == []


def test_count_with_a_first_period_cut_short() -> None:
    # Wednesday start: the Monday of the first week is not part of the series and is not counted.
    rule = to_rrule(Recurrence.weekly((MO, WE, FR)).ending(count=4))
    assert [s[:10] for s in local_times(rule, "2027-01-06T09:00")] == [
        "2027-01-06", "2027-01-08", "2027-01-11", "2027-01-13",
    ]  # fmt: skip
    assert local_times(rule, "2027-01-06T09:00", start_utc=utc("2027-01-12T00:00")) == ["2027-01-13T09:00"]


def test_until_is_an_inclusive_local_date() -> None:
    rule = "FREQ=DAILY;INTERVAL=1;UNTIL=20270103"
    assert local_times(rule, "2027-01-01T23:30", "Asia/Novosibirsk") == [
        "2027-01-01T23:30", "2027-01-02T23:30", "2027-01-03T23:30",
    ]  # fmt: skip


def test_window_is_half_open_and_limit_caps_the_output() -> None:
    first = local("2027-01-01T09:00")
    got = list(
        occurrences(
            "FREQ=DAILY", first, "UTC", start_utc=utc("2027-01-02T09:00"), end_utc=utc("2027-01-04T09:00")
        )
    )
    assert got == [utc("2027-01-02T09:00"), utc("2027-01-03T09:00")]
    assert len(list(occurrences("FREQ=DAILY", first, "UTC", limit=7))) == 7
    assert list(occurrences("FREQ=DAILY", first, "UTC", limit=0)) == []


def test_window_before_the_series_starts_at_the_first_occurrence() -> None:
    got = list(
        occurrences(
            "FREQ=DAILY", local("2027-01-01T09:00"), "UTC", start_utc=utc("2000-01-01T00:00"), limit=1
        )
    )
    assert got == [utc("2027-01-01T09:00")]


def test_next_occurrences_are_strictly_after_the_instant() -> None:
    first = local("2027-01-01T09:00")
    assert next_occurrences("FREQ=DAILY;COUNT=3", first, "UTC", after_utc=utc("2027-01-01T09:00"), n=5) == [
        utc("2027-01-02T09:00"), utc("2027-01-03T09:00"),
    ]  # fmt: skip
    assert next_occurrences("FREQ=DAILY", first, "UTC", after_utc=utc("2026-01-01T00:00"), n=1) == [
        utc("2027-01-01T09:00")
    ]


def test_series_runs_out_quietly_at_the_end_of_the_calendar() -> None:
    got = list(
        occurrences("FREQ=YEARLY;INTERVAL=25;BYMONTH=1;BYMONTHDAY=1", local("9900-01-01T09:00"), "UTC")
    )
    assert got[-1] == utc("9975-01-01T09:00")
    assert len(got) == 4


# --- time zones -----------------------------------------------------------------------------------


def test_dst_gap_moves_forward_and_overlap_takes_the_first() -> None:
    gap = local_to_utc(local("2027-03-28T02:30"), "Europe/Berlin")
    assert gap == utc("2027-03-28T01:30")
    assert utc_to_local(gap, "Europe/Berlin") == local("2027-03-28T03:30")
    assert local_to_utc(local("2027-10-31T02:30"), "Europe/Berlin") == utc("2027-10-31T00:30")
    # Western hemisphere and southern hemisphere follow the same rule.
    assert local_to_utc(local("2027-03-14T02:30"), "America/New_York") == utc("2027-03-14T07:30")
    assert local_to_utc(local("2027-11-07T01:30"), "America/New_York") == utc("2027-11-07T05:30")
    assert local_to_utc(local("2027-04-04T02:30"), "Australia/Sydney") == utc("2027-04-03T15:30")


def test_daily_series_across_both_berlin_transitions() -> None:
    rule, tz = "FREQ=DAILY;INTERVAL=1", "Europe/Berlin"
    assert list(occurrences(rule, local("2027-03-27T02:30"), tz, limit=3)) == [
        utc("2027-03-27T01:30"), utc("2027-03-28T01:30"), utc("2027-03-29T00:30"),
    ]  # fmt: skip
    assert list(occurrences(rule, local("2027-10-30T02:30"), tz, limit=3)) == [
        utc("2027-10-30T00:30"), utc("2027-10-31T00:30"), utc("2027-11-01T01:30"),
    ]  # fmt: skip


def test_same_plan_different_object_time_zones() -> None:
    rule, first = "FREQ=WEEKLY;BYDAY=MO", local("2027-01-04T09:00")
    moscow = list(occurrences(rule, first, "Europe/Moscow", limit=2))
    novosibirsk = list(occurrences(rule, first, "Asia/Novosibirsk", limit=2))
    assert moscow == [utc("2027-01-04T06:00"), utc("2027-01-11T06:00")]
    assert novosibirsk == [utc("2027-01-04T02:00"), utc("2027-01-11T02:00")]


def test_a_skipped_calendar_day_does_not_duplicate_an_occurrence() -> None:
    # Samoa skipped 30 December 2011: 09:00 that day moves forward onto 31 December 09:00.
    got = local_times("FREQ=DAILY", "2011-12-28T09:00", "Pacific/Apia", limit=4)
    assert got == ["2011-12-28T09:00", "2011-12-29T09:00", "2011-12-31T09:00", "2012-01-01T09:00"]


def test_arguments_are_checked_before_iteration() -> None:
    first = local("2027-01-01T09:00")
    with pytest.raises(RecurrenceError, match="time zone"):
        occurrences("FREQ=DAILY", first, "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="naive"):
        occurrences("FREQ=DAILY", first.replace(tzinfo=UTC), "UTC")
    with pytest.raises(ValueError, match="aware"):
        occurrences("FREQ=DAILY", first, "UTC", start_utc=local("2027-01-01T00:00"))
    with pytest.raises(ValueError, match="negative"):
        occurrences("FREQ=DAILY", first, "UTC", limit=-1)
    with pytest.raises(ValueError, match="naive"):
        local_to_utc(first.replace(tzinfo=UTC), "UTC")


# --- consistency and performance ------------------------------------------------------------------


def _random_rule(rng: random.Random) -> Recurrence:
    """Rules whose semantics coincide with RFC 5545 (no day past the 28th), so dateutil can judge them."""
    kind = rng.choice(["daily", "weekly", "monthly_day", "monthly_nth", "yearly"])
    if kind == "daily":
        return Recurrence.daily(rng.randint(1, 40))
    if kind == "weekly":
        return Recurrence.weekly(tuple(rng.sample(range(7), rng.randint(1, 7))), rng.randint(1, 5))
    if kind == "monthly_day":
        return Recurrence.monthly_on_day(rng.randint(1, 28), rng.randint(1, 7))
    if kind == "monthly_nth":
        return Recurrence.monthly_on_weekday(
            rng.choice([1, 2, 3, 4, -1]), rng.randint(0, 6), rng.randint(1, 7)
        )
    return Recurrence.yearly(rng.randint(1, 12), rng.randint(1, 28), rng.randint(1, 3))


def test_agrees_with_dateutil_where_rfc_semantics_coincide() -> None:
    rng = random.Random(5545)
    for _ in range(300):
        rule = _random_rule(rng)
        first = datetime(2026, 1, 1, 9, 15, tzinfo=UTC) + timedelta(days=rng.randint(0, 800))
        expected = list(rrulestr(to_rrule(rule) + ";WKST=MO;COUNT=40", dtstart=first))
        got = list(occurrences(to_rrule(rule), first.replace(tzinfo=None), "UTC", limit=40))
        assert got == expected, to_rrule(rule)


def test_windows_agree_with_walking_the_series_from_its_start() -> None:
    rng = random.Random(7)
    tz = "Europe/Berlin"
    for _ in range(60):
        rule = to_rrule(_random_rule(rng).ending(count=rng.choice([None, 30, 100])))
        first = local("2026-03-29T02:30") + timedelta(days=rng.randint(0, 400))
        everything = list(occurrences(rule, first, tz, end_utc=utc("2037-01-01T00:00")))
        for _ in range(5):
            lo = utc("2026-01-01T00:00") + timedelta(hours=rng.randint(0, 24 * 365 * 10))
            hi = lo + timedelta(days=rng.randint(1, 200))
            window = list(occurrences(rule, first, tz, start_utc=lo, end_utc=hi))
            assert window == [m for m in everything if lo <= m < hi], rule
        assert everything == sorted(set(everything))


def test_far_future_window_is_reached_without_walking_the_past() -> None:
    started = time.perf_counter()
    for rule in [
        "FREQ=DAILY",
        "FREQ=WEEKLY;BYDAY=MO,FR",
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    ]:
        got = next(
            occurrences(rule, local("2020-01-31T09:00"), "Europe/Moscow", start_utc=utc("9000-01-01T00:00"))
        )
        assert got.year == 9000
    counted = occurrences(
        "FREQ=DAILY;COUNT=10000", local("2020-01-01T09:00"), "UTC", start_utc=utc("9000-01-01T00:00")
    )
    assert list(counted) == []
    # Walking day by day from 2020 to 9000 would take seconds.
    assert time.perf_counter() - started < 0.5
    assert next(
        occurrences("FREQ=DAILY", local("2020-01-01T09:00"), "UTC", start_utc=utc("2030-06-15T10:00"))
    ) == utc("2030-06-16T09:00")
