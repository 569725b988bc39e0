"""Loading lifecycles from the database into the pure engine's data types."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.catalogs.models import TicketType
from fixflow.core.errors import NotFound
from fixflow.workflow.engine import (
    Branch,
    EntryAction,
    LifecycleSpec,
    Requirement,
    StageSpec,
    TransitionSpec,
)
from fixflow.workflow.models import Lifecycle, Stage, Status, Transition


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


def load_lifecycle(session: Session, lifecycle_id: int) -> LifecycleSpec:
    """The lifecycle as engine data, loaded once per unit of work (cached on the session)."""
    cache: dict[int, LifecycleSpec] = session.info.setdefault("fixflow.lifecycles", {})
    if lifecycle_id not in cache:
        cache[lifecycle_id] = _load_lifecycle(session, lifecycle_id)
    return cache[lifecycle_id]


def lifecycle_of_type(session: Session, ticket_type_id: int) -> LifecycleSpec:
    cache: dict[int, int] = session.info.setdefault("fixflow.type_lifecycles", {})
    if ticket_type_id not in cache:
        lifecycle_id = session.scalar(select(TicketType.lifecycle_id).where(TicketType.id == ticket_type_id))
        if lifecycle_id is None:
            raise NotFound("Ticket type not found")
        cache[ticket_type_id] = lifecycle_id
    return load_lifecycle(session, cache[ticket_type_id])


def statuses_of(session: Session, tenant_id: int) -> dict[int, Status]:
    """The tenant's customer-facing statuses (a handful of rows), loaded once per unit of work."""
    cache: dict[int, dict[int, Status]] = session.info.setdefault("fixflow.statuses", {})
    if tenant_id not in cache:
        cache[tenant_id] = {
            s.id: s for s in session.scalars(select(Status).where(Status.tenant_id == tenant_id))
        }
    return cache[tenant_id]


def _load_lifecycle(session: Session, lifecycle_id: int) -> LifecycleSpec:
    lifecycle = session.get(Lifecycle, lifecycle_id)
    if lifecycle is None:
        raise NotFound("Lifecycle not found")
    stages = session.scalars(
        select(Stage).where(Stage.lifecycle_id == lifecycle_id).order_by(Stage.sort_order, Stage.id)
    ).all()
    transitions = session.scalars(
        select(Transition)
        .where(Transition.lifecycle_id == lifecycle_id)
        .order_by(Transition.sort_order, Transition.id)
    ).all()
    return LifecycleSpec(
        id=lifecycle.id,
        stages=tuple(_stage_spec(s) for s in stages),
        transitions=tuple(_transition_spec(t) for t in transitions),
        start_status_id=lifecycle.start_status_id,
    )
