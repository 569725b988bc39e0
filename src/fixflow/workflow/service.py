"""Loading lifecycles from the database into the pure engine's data types."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.catalogs.models import TicketType
from fixflow.catalogs.refs import Ref, tenant_refs
from fixflow.core.configcache import config_cached
from fixflow.core.errors import NotFound
from fixflow.workflow.engine import (
    Branch,
    EntryAction,
    LifecycleSpec,
    Requirement,
    StageSpec,
    TransitionSpec,
)
from fixflow.workflow.models import Lifecycle, Stage, Transition


def _stage_spec(stage: Stage) -> StageSpec:
    return StageSpec(
        id=stage.id,
        name=stage.name,
        entry_action=EntryAction(stage.entry_action) if stage.entry_action else None,
        entry_action_member_id=stage.entry_action_member_id,
        requirements=tuple(Requirement(r) for r in stage.requirements),
        is_start=stage.is_start,
        is_cancellation=stage.is_cancellation,
    )


def _transition_spec(transition: Transition) -> TransitionSpec:
    return TransitionSpec(
        id=transition.id,
        from_stage_id=transition.from_stage_id,
        to_stage_id=transition.to_stage_id,
        label=transition.label,
        branch=Branch(transition.branch),
        roles=frozenset(transition.roles),
        role_labels=tuple(sorted(transition.role_labels.items())),
        set_status_id=transition.set_status_id,
        requires_comment=transition.requires_comment,
        auto_after_seconds=transition.auto_after_seconds,
    )


def lifecycle_of_type(session: Session, tenant_id: int, ticket_type_id: int) -> LifecycleSpec:
    """The lifecycle of a ticket type as engine data (cached per configuration version)."""
    spec = lifecycles_by_type(session, tenant_id).get(ticket_type_id)
    if spec is None:
        raise NotFound("Ticket type not found")
    return spec


def lifecycles_by_type(session: Session, tenant_id: int) -> dict[int, LifecycleSpec]:
    return config_cached(
        session, tenant_id, "lifecycles_by_type", lambda: _load_lifecycles(session, tenant_id)
    )


def statuses_of(session: Session, tenant_id: int) -> dict[int, Ref]:
    """The tenant's customer-facing statuses (a handful of rows)."""
    return tenant_refs(session, tenant_id).statuses


def _load_lifecycles(session: Session, tenant_id: int) -> dict[int, LifecycleSpec]:
    lifecycles = session.execute(
        select(Lifecycle.id, Lifecycle.start_status_id).where(Lifecycle.tenant_id == tenant_id)
    ).all()
    stages = session.scalars(
        select(Stage).where(Stage.tenant_id == tenant_id).order_by(Stage.sort_order, Stage.id)
    ).all()
    transitions = session.scalars(
        select(Transition)
        .where(Transition.tenant_id == tenant_id)
        .order_by(Transition.sort_order, Transition.id)
    ).all()
    specs = {
        lifecycle_id: LifecycleSpec(
            id=lifecycle_id,
            stages=tuple(_stage_spec(s) for s in stages if s.lifecycle_id == lifecycle_id),
            transitions=tuple(_transition_spec(t) for t in transitions if t.lifecycle_id == lifecycle_id),
            start_status_id=start_status_id,
        )
        for lifecycle_id, start_status_id in lifecycles
    }
    types = session.execute(
        select(TicketType.id, TicketType.lifecycle_id).where(TicketType.tenant_id == tenant_id)
    ).all()
    return {type_id: specs[lifecycle_id] for type_id, lifecycle_id in types if lifecycle_id in specs}
