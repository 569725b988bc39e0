"""«Плановые работы» in the customer app: upcoming maintenance on the member's objects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_timezone_location
from fastapi import APIRouter
from fastapi.responses import Response

from fixflow.core.db import utcnow
from fixflow.planning.queries import PlannedItem, upcoming_for_actor
from fixflow.webapp.web import UserWeb, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)

DAYS = 60
LIMIT = 300


@dataclass(frozen=True)
class PlannedRow:
    time: str
    zone: str | None  # the city of the object's time zone when it is not the organisation's
    object_path: str
    plan_name: str
    work_type: str
    ticket_created: bool


@dataclass
class PlannedDay:
    label: str
    iso: str
    rows: list[PlannedRow] = field(default_factory=list)


def group_by_day(items: list[PlannedItem], *, locale: str, home_tz: str, today: dt.date) -> list[PlannedDay]:
    """Items by their local date (each object's own zone), in local order; times shown on that clock."""
    days: dict[dt.date, PlannedDay] = {}
    for item in sorted(items, key=lambda i: (i.local_at.replace(tzinfo=None), i.object_path, i.plan_name)):
        local = item.local_at
        day = days.get(local.date())
        if day is None:
            pattern = "EEEE, d MMMM" if local.year == today.year else "EEEE, d MMMM y"
            label = str(format_date(local.date(), pattern, locale=locale))
            day = days[local.date()] = PlannedDay(
                label=label[:1].upper() + label[1:], iso=local.date().isoformat()
            )
        zone = None
        if item.timezone != home_tz:
            zone = str(get_timezone_location(ZoneInfo(item.timezone), locale=locale, return_city=True))
        day.rows.append(
            PlannedRow(
                time=str(format_time(local.time(), "HH:mm", locale=locale)),
                zone=zone,
                object_path=" / ".join(item.object_path),
                plan_name=item.plan_name,
                work_type=item.work_type_name,
                ticket_created=item.ticket_id is not None,
            )
        )
    return list(days.values())


@router.get("/app/planned")
def planned_page(web: UserWeb) -> Response:
    """The next 60 days; customers see their companies' published objects only."""
    now = utcnow()
    items = upcoming_for_actor(web.session, web.actor, now, now + dt.timedelta(days=DAYS), limit=LIMIT)
    today = now.astimezone(ZoneInfo(web.timezone)).date()
    return web.render(
        "app/planned.html",
        days=group_by_day(items, locale=web.locale, home_tz=web.timezone, today=today),
        period_days=DAYS,
        truncated=len(items) >= LIMIT,
    )
