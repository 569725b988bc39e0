"""API schemas for tickets (separate from the ORM models)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer

from fixflow.core.schemas import Input, Output, RefOut
from fixflow.tickets.queries import TicketView


class TicketListQuery(BaseModel):
    """The list's query (``f.<code>…`` field filters aside), validated by the endpoint itself: the
    view and paging, and the fields of ``listing.TicketFilters`` by the same names."""

    view: TicketView = TicketView.ALL
    q: str | None = Field(default=None, max_length=200)
    status_id: int | None = None
    object_id: int | None = None
    type_id: int | None = None
    criticality_id: int | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    overdue: bool | None = None
    limit: int | None = None
    cursor: str | None = None


class TicketCreate(Input):
    type_id: int
    object_id: int
    work_type_id: int | None = None
    criticality_id: int | None = None
    description: str = Field(min_length=1, max_length=10_000)
    initiator_id: int | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class TicketUpdate(Input):
    version: int
    description: str | None = Field(default=None, min_length=1, max_length=10_000)
    criticality_id: int | None = None
    work_type_id: int | None = None
    address: str | None = Field(default=None, max_length=500)
    deadline: dt.datetime | None = None
    executor_ids: list[int] | None = None
    approver_member_id: int | None = None
    approver_role_id: int | None = None
    fields: dict[str, Any] | None = None


class TransitionRequest(Input):
    transition_id: int | None = None
    stage_id: int | None = Field(default=None, description="owner only: move to any stage")
    comment: str | None = Field(default=None, max_length=5_000)
    version: int


class WorkCreate(Input):
    work_type_id: int
    duration_minutes: int = Field(default=0, ge=0, le=100_000)
    quantity: Decimal = Field(default=Decimal("1"), gt=0, max_digits=12, decimal_places=3)
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    comment: str = Field(default="", max_length=5_000)
    member_id: int | None = None


class RatingPut(Input):
    scores: dict[int, int]
    comment: str = Field(default="", max_length=5_000)


class PersonOut(Output):
    id: int
    name: str
    phone: str


class TicketCardOut(Output):
    id: int
    number: str
    status: RefOut
    stage: RefOut | None = None
    object: RefOut
    object_path: list[str]
    description: str
    criticality: RefOut | None
    type: RefOut
    created_at: dt.datetime
    closed_at: dt.datetime | None
    deadline: dt.datetime | None
    is_favorite: bool
    is_overdue: bool
    version: int


class TicketPage(Output):
    items: list[TicketCardOut]
    next_cursor: str | None


class TransitionOut(Output):
    id: int
    label: str
    to_status: RefOut | None
    requires_comment: bool


class TimelineOut(Output):
    at: dt.datetime
    status: RefOut


class TicketOut(Output):
    id: int
    number: str
    version: int
    status: RefOut
    stage: RefOut | None = None
    type: RefOut
    work_type: RefOut | None
    criticality: RefOut | None
    object: RefOut
    object_path: list[str]
    address: str
    description: str
    initiator: PersonOut
    executors: list[PersonOut]
    approver_member: PersonOut | None
    approver_role: RefOut | None
    deadline: dt.datetime | None
    is_overdue: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None
    closed_at: dt.datetime | None
    source: str
    is_favorite: bool
    can_rate: bool
    my_rating: dict[str, Any] | None
    rating_score: float | None
    transitions: list[TransitionOut]
    timeline: list[TimelineOut]
    fields: dict[str, Any]
    deleted: bool = False


def decimal_text(value: Decimal, places: int | None = None) -> str:
    """Exact and identical on every backend ("2.5", never 2.5 or "2.500")."""
    if places is not None:
        return f"{value.quantize(Decimal(1).scaleb(-places)):f}"
    text = f"{value.normalize():f}"
    return text


WORK_COLUMNS = (
    "id",
    "work_type_id",
    "member_id",
    "duration_minutes",
    "quantity",
    "price",
    "comment",
    "created_at",
)


class WorkOut(Output):
    id: int
    work_type_id: int
    member_id: int
    duration_minutes: int
    quantity: Annotated[Decimal, PlainSerializer(decimal_text, return_type=str)]
    price: Annotated[Decimal, PlainSerializer(lambda v: decimal_text(v, 2), return_type=str)]
    currency: str
    comment: str
    created_at: dt.datetime


class HistoryOut(Output):
    id: int
    at: dt.datetime
    actor_id: int | None
    kind: str
    field: str | None
    old: Any
    new: Any
    comment: str | None


class RatingOut(Output):
    scores: dict[str, int] | None
    score: float | None
    comment: str
    can_rate: bool
    criteria: list[RefOut]


class CountsOut(Output):
    mine: int
    approval: int
    all: int
    favorites: int
    archive: int
    cap: int
