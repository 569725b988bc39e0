"""Everything one generation batch needs, loaded with a fixed number of queries per batch.

It also holds the rules of `fixflow.tickets.service.create_ticket` as they apply to a planned ticket, so
that a bulk-created ticket is the ticket `create_ticket` would have made: a published type with a start
stage, a published work type the type and the object allow, a usable object, the default criticality
when the plan names none, the effective address, the SLA deadline and the additional-field defaults for
the author's role. What fails becomes a skip reason instead of an error: the other objects proceed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from fixflow.accounts.actor import Actor, load_actor
from fixflow.accounts.models import Member
from fixflow.accounts.permissions import Permission
from fixflow.accounts.queries import eligible_executor
from fixflow.catalogs.models import Criticality, TicketType, WorkType
from fixflow.catalogs.numbering import render_number, take_counters
from fixflow.objects.models import ServiceObject
from fixflow.objects.queries import allows_work_type, effective_address, effective_timezone, load_ancestors
from fixflow.planning.models import Plan, SkipReason
from fixflow.planning.queries import safe_zone
from fixflow.sla.deadlines import compute_deadline, load_rules
from fixflow.sla.rules import RuleSpec
from fixflow.tenants.models import Company, Tenant
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.workflow.models import Lifecycle, Stage


@dataclass
class Link:
    """One claimed plan object: its schedule as read, then as the batch leaves it."""

    tenant_id: int
    plan_id: int
    object_id: int
    pending_from: dt.datetime
    due_at: dt.datetime | None


# What a planned ticket needs of an object; its additional-field document stays unloaded.
_OBJECT_COLUMNS = (
    ServiceObject.id,
    ServiceObject.tenant_id,
    ServiceObject.path,
    ServiceObject.name,
    ServiceObject.company_id,
    ServiceObject.address,
    ServiceObject.timezone,
    ServiceObject.allowed_work_type_ids,
    ServiceObject.published,
    ServiceObject.deleted_at,
)


@dataclass(frozen=True)
class PlanSetup:
    """A plan with its catalogue rows resolved; ``problem`` is set when no ticket can be made at all."""

    plan: Plan
    ticket_type: TicketType | None
    work_type: WorkType | None
    start_stage_id: int | None
    start_status_id: int | None
    criticality_id: int | None
    executor_ids: tuple[int, ...]
    fields: dict[str, Any]
    problem: str | None


def _by_id(session: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


class BatchContext:
    def __init__(self) -> None:
        self.setups: dict[int, PlanSetup] = {}
        self.objects: dict[int, ServiceObject] = {}
        self.ancestors: dict[int, ServiceObject] = {}
        self.zones: dict[int, str] = {}
        self.company_codes: dict[int, str | None] = {}
        self.rules: dict[int, tuple[RuleSpec, ...]] = {}

    @classmethod
    def load(cls, session: Session, links: Sequence[Link]) -> BatchContext:
        ctx = cls()
        plans = _by_id(session, Plan, {x.plan_id for x in links})
        ctx.objects = {
            o.id: o
            for o in session.scalars(
                select(ServiceObject)
                .options(load_only(*_OBJECT_COLUMNS))
                .where(ServiceObject.id.in_({x.object_id for x in links}))
            )
        }
        ctx.ancestors = load_ancestors(session, ctx.objects.values())
        tenant_ids = {p.tenant_id for p in plans.values()}
        zones = dict(
            session.execute(select(Tenant.id, Tenant.timezone).where(Tenant.id.in_(tenant_ids))).all()
        )
        for obj in ctx.objects.values():
            default = zones.get(obj.tenant_id) or "UTC"
            ctx.zones[obj.id] = safe_zone(effective_timezone(obj, ctx.ancestors, default), default)
        company_ids = {o.company_id for o in ctx.objects.values()}
        ctx.company_codes = dict(
            session.execute(select(Company.id, Company.code).where(Company.id.in_(company_ids))).all()
        )
        ctx.rules = {t: load_rules(session, t) for t in tenant_ids}
        ctx.setups = _plan_setups(session, list(plans.values()), tenant_ids)
        return ctx

    def skip_reason(self, setup: PlanSetup, object_id: int) -> str | None:
        if setup.problem is not None:
            return setup.problem
        obj = self.objects.get(object_id)
        if obj is None or obj.deleted_at is not None:
            return SkipReason.OBJECT_DELETED.value
        if not obj.published:
            return SkipReason.OBJECT_UNPUBLISHED.value
        if not allows_work_type(obj, setup.plan.work_type_id):
            return SkipReason.WORK_TYPE_NOT_ALLOWED.value
        return None

    def allocate_numbers(self, session: Session, links: Sequence[Link], now: dt.datetime) -> list[str]:
        """Ticket numbers for the batch: one counter UPDATE … + n RETURNING per (tenant, type).

        Counters are taken in a fixed order, so two workers never wait on each other in a cycle.
        """
        wanted: dict[tuple[int, int], int] = defaultdict(int)
        for link in links:
            type_ = self.setups[link.plan_id].ticket_type
            assert type_ is not None
            wanted[(link.tenant_id, type_.id)] += 1
        next_value: dict[tuple[int, int], int] = {}
        for key in sorted(wanted):
            last = take_counters(session, key[0], key[1], wanted[key])
            next_value[key] = last - wanted[key] + 1
        numbers: list[str] = []
        for link in links:
            type_ = self.setups[link.plan_id].ticket_type
            assert type_ is not None
            key = (link.tenant_id, type_.id)
            code = self.company_codes.get(self.objects[link.object_id].company_id)
            numbers.append(render_number(type_.number_mask, next_value[key], at=now, company_code=code))
            next_value[key] += 1
        return numbers

    def ticket_row(
        self, session: Session, link: Link, at: dt.datetime, number: str, now: dt.datetime
    ) -> dict[str, Any]:
        setup = self.setups[link.plan_id]
        plan, obj, type_ = setup.plan, self.objects[link.object_id], setup.ticket_type
        assert type_ is not None and setup.start_stage_id is not None and setup.start_status_id is not None
        deadline = compute_deadline(
            session,
            created_at=at,
            ticket_type=type_,
            work_type=setup.work_type,
            criticality_id=setup.criticality_id,
            company_id=obj.company_id,
            object_id=obj.id,
            rules=self.rules[link.tenant_id],
        ) + dt.timedelta(minutes=plan.deadline_offset_minutes)
        return {
            "tenant_id": link.tenant_id,
            "number": number,
            "type_id": type_.id,
            "criticality_id": setup.criticality_id,
            "description": plan.description.strip(),
            "company_id": obj.company_id,
            "object_id": obj.id,
            "address": effective_address(obj, self.ancestors),
            "work_type_id": plan.work_type_id,
            "initiator_id": plan.author_id,
            "created_by_id": plan.author_id,
            "approver_member_id": None,
            "approver_role_id": None,
            "stage_id": setup.start_stage_id,
            "status_id": setup.start_status_id,
            "deadline": deadline,
            "deadline_manual": False,
            "created_at": now,
            "updated_at": now,
            "stage_entered_at": now,
            "source": "planned",
            "fields": dict(setup.fields),
            "version": 1,
        }


def _plan_setups(session: Session, plans: list[Plan], tenant_ids: set[int]) -> dict[int, PlanSetup]:
    types = _by_id(session, TicketType, {p.ticket_type_id for p in plans})
    work_types = _by_id(session, WorkType, {p.work_type_id for p in plans})
    lifecycle_ids = {t.lifecycle_id for t in types.values()}
    lifecycles = _by_id(session, Lifecycle, lifecycle_ids)
    starts = (
        {
            s.lifecycle_id: s.id
            for s in session.scalars(
                select(Stage).where(Stage.lifecycle_id.in_(lifecycle_ids), Stage.is_start.is_(True))
            )
        }
        if lifecycle_ids
        else {}
    )
    named = _by_id(session, Criticality, {p.criticality_id for p in plans if p.criticality_id is not None})
    defaults = {
        c.tenant_id: c.id
        for c in session.scalars(
            select(Criticality).where(Criticality.tenant_id.in_(tenant_ids), Criticality.is_default.is_(True))
        )
    }
    authors = _authors(session, {p.author_id for p in plans})
    executor_ids = {m for p in plans for m in p.executor_ids}
    valid_executors = (
        set(
            session.execute(
                select(Member.id, Member.tenant_id).where(Member.id.in_(executor_ids), eligible_executor())
            ).all()
        )
        if executor_ids
        else set()
    )
    fields_cache: dict[tuple[int, int, int], tuple[dict[str, Any], bool]] = {}
    setups: dict[int, PlanSetup] = {}
    for plan in plans:
        type_ = types.get(plan.ticket_type_id)
        work_type = work_types.get(plan.work_type_id)
        lifecycle = lifecycles.get(type_.lifecycle_id) if type_ is not None else None
        start_id = starts.get(type_.lifecycle_id) if type_ is not None else None
        author = authors.get(plan.author_id)
        criticality = named.get(plan.criticality_id) if plan.criticality_id is not None else None
        problem = _problem(plan, type_, work_type, start_id, lifecycle, author)
        fields: dict[str, Any] = {}
        if problem is None:
            assert author is not None and type_ is not None and start_id is not None
            key = (author.member_id, type_.id, start_id)
            if key not in fields_cache:
                document, problems = EXTENSIONS.fields.validate_create(
                    session, author, type_.id, start_id, {}
                )
                fields_cache[key] = (document, not problems)
            fields, fields_ok = fields_cache[key]
            problem = None if fields_ok else SkipReason.FIELDS_INVALID.value
        setups[plan.id] = PlanSetup(
            plan=plan,
            ticket_type=type_,
            work_type=work_type,
            start_stage_id=start_id,
            start_status_id=lifecycle.start_status_id if lifecycle is not None else None,
            criticality_id=criticality.id
            if criticality is not None and criticality.tenant_id == plan.tenant_id
            else defaults.get(plan.tenant_id),
            executor_ids=tuple(m for m in plan.executor_ids if (m, plan.tenant_id) in valid_executors),
            fields=fields,
            problem=problem,
        )
    return setups


def _authors(session: Session, ids: set[int]) -> dict[int, Actor]:
    """The plan authors as actors (the tickets' initiator); banned or deleted ones are left out."""
    members = session.scalars(
        select(Member).where(Member.id.in_(ids), Member.deleted_at.is_(None), Member.banned.is_(False))
    )
    return {m.id: load_actor(session, m) for m in members}


def _problem(
    plan: Plan,
    type_: TicketType | None,
    work_type: WorkType | None,
    start_id: int | None,
    lifecycle: Lifecycle | None,
    author: Actor | None,
) -> str | None:
    if (
        type_ is None
        or type_.tenant_id != plan.tenant_id
        or not type_.published
        or start_id is None
        or lifecycle is None
    ):
        return SkipReason.TICKET_TYPE_UNAVAILABLE.value
    if (
        work_type is None
        or work_type.tenant_id != plan.tenant_id
        or not work_type.published
        or (type_.allowed_work_type_ids is not None and work_type.id not in type_.allowed_work_type_ids)
    ):
        return SkipReason.WORK_TYPE_UNAVAILABLE.value
    if author is None or author.tenant_id != plan.tenant_id or not author.can(Permission.TICKET_CREATE):
        return SkipReason.AUTHOR_UNAVAILABLE.value
    return None
