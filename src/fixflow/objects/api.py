"""Objects visible to the actor: searchable, tree-aware, keyset-paged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, or_, select

from fixflow.core.errors import NotFound
from fixflow.core.http import CurrentActor, DbSession, reject_unknown_query
from fixflow.core.pagination import check_limit, decode_cursor, encode_cursor
from fixflow.core.schemas import Output
from fixflow.fields.models import FieldEntity
from fixflow.fields.queries import entity_values
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import (
    effective_address,
    get_object_for_actor,
    load_ancestors,
    path_names,
    visible_objects_predicate,
)

router = APIRouter(prefix="/objects", tags=["objects"], dependencies=[Depends(reject_unknown_query)])


class ObjectOut(Output):
    id: int
    parent_id: int | None
    name: str
    path: list[str]
    type_id: int
    object_class: str
    company_id: int
    address: str
    effective_address: str
    timezone: str | None
    serial_number: str
    published: bool
    has_children: bool
    allowed_work_type_ids: list[int] | None
    fields: dict[str, Any] | None = None  # additional fields, typed; in GET /objects/{id} only


class ObjectPage(Output):
    items: list[ObjectOut]
    next_cursor: str | None


def _out(
    objects: list[ServiceObject], session: DbSession, parents_with_children: set[int]
) -> list[ObjectOut]:
    ancestors = load_ancestors(session, objects)
    return [
        ObjectOut(
            id=o.id,
            parent_id=o.parent_id,
            name=o.name,
            path=path_names(o, ancestors),
            type_id=o.type_id,
            object_class=o.object_class,
            company_id=o.company_id,
            address=o.address,
            effective_address=effective_address(o, ancestors),
            timezone=o.timezone,
            serial_number=o.serial_number,
            published=o.published,
            has_children=o.id in parents_with_children,
            allowed_work_type_ids=o.allowed_work_type_ids,
        )
        for o in objects
    ]


@router.get("", response_model=ObjectPage)
def list_objects(
    session: DbSession,
    actor: CurrentActor,
    q: Annotated[str | None, Query(max_length=200)] = None,
    parent_id: int | None = None,
    roots: bool = False,
    company_id: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> ObjectPage:
    """``roots=true``: top-level objects; ``parent_id``: children of one object; ``q``: search anywhere."""
    size = check_limit(limit)
    stmt = select(ServiceObject).where(visible_objects_predicate(actor))
    if q and q.strip():
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(ServiceObject.name).like(pattern),
                func.lower(ServiceObject.address).like(pattern),
                func.lower(ServiceObject.serial_number).like(pattern),
            )
        )
    if parent_id is not None:
        stmt = stmt.where(ServiceObject.parent_id == parent_id)
    elif roots:
        stmt = stmt.where(ServiceObject.parent_id.is_(None))
    if company_id is not None:
        stmt = stmt.where(ServiceObject.company_id == company_id)
    if cursor:
        (last_id,) = decode_cursor(cursor, arity=1, kinds=(int,))
        stmt = stmt.where(ServiceObject.id > int(last_id))
    rows = list(session.scalars(stmt.order_by(ServiceObject.id).limit(size + 1)))
    has_more = len(rows) > size
    rows = rows[:size]
    ids = [o.id for o in rows]
    with_children = (
        set(
            session.scalars(
                select(ServiceObject.parent_id)
                .where(ServiceObject.parent_id.in_(ids), visible_objects_predicate(actor))
                .distinct()
            )
        )
        if ids
        else set()
    )
    return ObjectPage(
        items=_out(rows, session, {i for i in with_children if i is not None}),
        next_cursor=encode_cursor([rows[-1].id]) if has_more and rows else None,
    )


@router.get("/{object_id}", response_model=ObjectOut)
def get_object(object_id: int, session: DbSession, actor: CurrentActor) -> ObjectOut:
    obj = get_object_for_actor(session, actor, object_id)
    children = session.scalar(
        select(func.count()).where(ServiceObject.parent_id == obj.id, visible_objects_predicate(actor))
    )
    if obj is None:
        raise NotFound("Object not found")
    out = _out([obj], session, {obj.id} if children else set())[0]
    out.fields = entity_values(session, actor, FieldEntity.OBJECT, obj.fields)
    return out
