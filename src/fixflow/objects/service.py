"""Creating and changing objects while keeping the tree rules of spec/domain.md §3."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from fixflow.core.db import utcnow
from fixflow.core.errors import Conflict, NotFound, ValidationFailed
from fixflow.objects.models import ObjectType, ServiceObject
from fixflow.tenants.models import Company
from fixflow.tickets.models import Ticket


def create_object(
    session: Session,
    *,
    tenant_id: int,
    name: str,
    type_id: int,
    company_id: int,
    parent_id: int | None = None,
    address: str = "",
    **extra: Any,
) -> ServiceObject:
    object_type = session.get(ObjectType, type_id)
    if object_type is None or object_type.tenant_id != tenant_id:
        raise ValidationFailed("Unknown object type")
    company = session.get(Company, company_id)
    if company is None or company.tenant_id != tenant_id:
        raise ValidationFailed("Unknown company")
    parent: ServiceObject | None = None
    if parent_id is not None:
        parent = session.get(ServiceObject, parent_id)
        if parent is None or parent.tenant_id != tenant_id or parent.deleted_at is not None:
            raise ValidationFailed("Unknown parent object")
    if object_type.requires_address and not address.strip():
        raise ValidationFailed("This object type needs an address")
    obj = ServiceObject(
        tenant_id=tenant_id,
        name=name,
        type_id=type_id,
        company_id=company_id,
        parent_id=parent_id,
        address=address.strip(),
        **extra,
    )
    session.add(obj)
    session.flush()
    obj.path = f"{parent.path if parent else '/'}{obj.id}/"
    session.flush()
    return obj


def change_object_type(session: Session, obj: ServiceObject, type_id: int) -> None:
    if obj.published and obj.type_id != type_id:
        raise Conflict("The type of a published object cannot change")
    obj.type_id = type_id
    session.flush()


def delete_object(session: Session, obj: ServiceObject) -> None:
    active = session.scalar(
        select(
            exists().where(
                Ticket.object_id == obj.id, Ticket.closed_at.is_(None), Ticket.deleted_at.is_(None)
            )
        )
    )
    if active:
        raise Conflict("An object with active tickets cannot be deleted")
    obj.deleted_at = utcnow()
    session.flush()


def require_usable_for_ticket(obj: ServiceObject | None) -> ServiceObject:
    if obj is None:
        raise NotFound("Object not found")
    if obj.deleted_at is not None or not obj.published:
        raise ValidationFailed("This object cannot be used in new tickets")
    return obj
