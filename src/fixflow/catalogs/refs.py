"""Names and colours of a tenant's statuses, stages and catalogues, cached per configuration version.

Cards, profiles and filters show these on every request; they change only when an admin edits them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.core.configcache import config_cached
from fixflow.workflow.models import Stage, Status


@dataclass(frozen=True)
class Ref:
    id: int
    name: str
    color: str | None = None


@dataclass(frozen=True)
class TenantRefs:
    statuses: dict[int, Ref]
    stages: dict[int, Ref]
    types: dict[int, Ref]
    work_types: dict[int, Ref]
    criticalities: dict[int, Ref]
    # Filter choices in display order, and every colour for the CSS palette.
    statuses_in_order: tuple[Ref, ...]
    published_types: tuple[Ref, ...]
    criticalities_in_order: tuple[Ref, ...]
    default_criticality_id: int | None  # a new ticket's when none is chosen
    colors: frozenset[str]


def tenant_refs(session: Session, tenant_id: int) -> TenantRefs:
    return config_cached(session, tenant_id, "refs", lambda: _load(session, tenant_id))


def _load(session: Session, tenant_id: int) -> TenantRefs:
    statuses = session.execute(
        select(Status.id, Status.name, Status.color).where(Status.tenant_id == tenant_id).order_by(Status.id)
    ).all()
    stages = session.execute(
        select(Stage.id, Stage.name, Stage.color).where(Stage.tenant_id == tenant_id).order_by(Stage.id)
    )
    types = session.execute(
        select(TicketType.id, TicketType.name, TicketType.published)
        .where(TicketType.tenant_id == tenant_id)
        .order_by(TicketType.id)
    ).all()
    work_types = session.execute(
        select(WorkType.id, WorkType.name).where(WorkType.tenant_id == tenant_id).order_by(WorkType.id)
    )
    criticalities = session.execute(
        select(Criticality.id, Criticality.name, Criticality.color, Criticality.is_default)
        .where(Criticality.tenant_id == tenant_id)
        .order_by(Criticality.sort_order, Criticality.id)
    ).all()
    return TenantRefs(
        statuses={r.id: Ref(r.id, r.name, r.color) for r in statuses},
        statuses_in_order=tuple(Ref(r.id, r.name, r.color) for r in statuses),
        stages={r.id: Ref(r.id, r.name, r.color) for r in stages},
        types={r.id: Ref(r.id, r.name) for r in types},
        work_types={r.id: Ref(r.id, r.name) for r in work_types},
        criticalities={r.id: Ref(r.id, r.name, r.color) for r in criticalities},
        published_types=tuple(Ref(r.id, r.name) for r in types if r.published),
        criticalities_in_order=tuple(Ref(r.id, r.name, r.color) for r in criticalities),
        default_criticality_id=next((r.id for r in criticalities if r.is_default), None),
        colors=frozenset(r.color for r in (*statuses, *criticalities) if r.color),
    )
