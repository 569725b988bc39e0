"""Authorization matrix: every /api/v1 endpoint × every role × (own, other company, other tenant).

Rules under test (spec/quality.md, spec/domain.md §2): no token → 401; anything the actor may not see
→ 404 (never 403), indistinguishable from an absent id; visible but not allowed → 403 with a message and
nothing changed; allowed → 2xx. ``test_matrix_covers_every_api_route`` makes a new endpoint fail until
it gets a row here (or, for the pre-login flows and the event stream, a test of its own below).

Tenant-wide configuration (SLA schedules and rules, field definitions) has no company: its "own" and
"other company" targets are the same row of the own tenant.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import ColumnElement, func, inspect, select
from sqlalchemy.orm import Session

from builders import PASSWORD, World, assign, login, make_world, ticket_in_stage
from fixflow.accounts.invitations import create_member
from fixflow.accounts.models import Account, Member, Role
from fixflow.accounts.models_recovery import Invitation
from fixflow.accounts.service import add_member, create_account
from fixflow.app import create_app
from fixflow.attachments.models import Attachment
from fixflow.attachments.service import attach_to_ticket, create_attachment, upload_root
from fixflow.attachments.storage import Storage
from fixflow.catalogs.models import Criticality, RatingCriterion, TicketType
from fixflow.config import Settings
from fixflow.core.db import Database, utcnow
from fixflow.fields.models import FieldDefinition, FieldEntity
from fixflow.fields.service import DefinitionDraft, create_definition
from fixflow.objects.models import ServiceObject
from fixflow.objects.models_qr import ObjectQrCode
from fixflow.objects.qr import create_qr, new_qr_token
from fixflow.planning.models import Plan
from fixflow.planning.service import PlanDraft, create_plan
from fixflow.ratings.models import Rating
from fixflow.sla import service as sla
from fixflow.sla.models import ServiceSchedule, SlaRule
from fixflow.tenants.models import Company
from fixflow.tickets.models import Favorite, Ticket, TicketExecutor, TicketHistory, TicketWork
from fixflow.workflow.models import Stage, Transition

API = "/api/v1"
ROLES = ("owner", "admin", "dispatcher", "executor", "customer_admin", "customer")
TARGETS = ("own", "other_company", "other_tenant")
PERSON = {
    "owner": "owner",
    "admin": "admin",
    "dispatcher": "dispatcher",
    "executor": "executor",
    "customer_admin": "cadmin_a",
    "customer": "customer_a",
}
SEES_ALL_TICKETS = frozenset({"owner", "admin", "dispatcher"})
STAFF = SEES_ALL_TICKETS | {"executor"}
CUSTOMERS = frozenset({"customer_admin", "customer"})
MANAGERS = frozenset({"owner", "admin", "dispatcher"})  # plan.manage, member.manage, object.manage
CONFIGURERS = frozenset({"owner", "admin"})  # config.sla, config.fields
PUBLIC_ROUTES = frozenset({("POST", f"{API}/auth/login")})
# Pre-login flows (codes, password reset, invitations) live under /auth/; everything else needs a token.
PUBLIC_PREFIX = f"{API}/auth/"
NEEDS_TOKEN_UNDER_PUBLIC_PREFIX = frozenset({("POST", f"{API}/auth/logout")})
# Routes with a test of their own instead of rows: the pre-login flows take no role (see
# test_public_auth_flows_answer_without_a_token_and_never_tell_who_exists) and the event stream never
# ends (test_event_stream_needs_a_token_and_starts_with_one).
PRE_LOGIN_ROUTES = frozenset(
    ("POST", f"{API}/auth/{path}")
    for path in (
        "password-reset",
        "password-reset/check",
        "password-reset/confirm",
        "sms-code",
        "login-code",
        "invitations/accept",
    )
)
EVENTS_ROUTE = ("GET", f"{API}/events")
TESTED_SEPARATELY = PRE_LOGIN_ROUTES | {EVENTS_ROUTE}
ABSENT_ID = 2_000_000_000
FIELD_CODE = "matrix_note"
UPLOAD = b"matrix file body"
NEW_PASSWORD = "battery staple matrix"
OFFICE = {
    "timezone": "Europe/Moscow",
    "week": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}
WEEKLY = "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TH"


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class TicketRef:
    id: int
    version: int
    tenant_id: int
    number: str
    world: World


@dataclass(frozen=True)
class Fixtures:
    """What the rows of the configuration, planning, QR and member features work on, per world."""

    schedule_id: int
    rule_id: int
    field_ids: dict[FieldEntity, int]
    plans: dict[int, int]  # object id -> plan on that object
    qr_tokens: dict[int, str]  # object id -> a live code of that object
    invited: dict[str, int]  # "a" / "b" (customers of company A / B), "staff" -> member without a password


def first_local() -> dt.datetime:
    """Tomorrow 09:00 as a plan's wall-clock time (deliberately naive: the object's zone applies)."""
    return (utcnow() + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0, tzinfo=None)


def new_plan(session: Session, world: World, object_id: int, *, state: str = "active") -> int:
    draft = PlanDraft(
        name="Matrix plan",
        ticket_type_id=world.type_id,
        work_type_id=world.work_type_id,
        object_ids=[object_id],
        description="Check the pump",
        recurrence=WEEKLY,
        first_local=first_local(),
        state=state,
    )
    return create_plan(session, world.dispatcher.actor, draft).id


def invited_member(session: Session, settings: Settings, world: World, role: str, company_id: int) -> int:
    member = create_member(
        session,
        settings,
        world.owner.actor,
        email=f"invited-{uuid.uuid4().hex[:10]}@example.test",
        last_name="Invited",
        first_name="Matrix",
        role_codes=[role],
        company_ids=[company_id],
    )
    return member.id


def make_fixtures(session: Session, settings: Settings, world: World) -> Fixtures:
    owner = world.owner.actor
    schedule = sla.create_schedule(session, owner, name="Office", definition=OFFICE)
    # Inactive, so the tickets of the other rows keep their deadlines.
    rule = sla.create_rule(
        session, owner, {"name": "Matrix", "schedule_id": schedule.id, "minutes": 60, "active": False}
    )
    field_ids = {
        entity: create_definition(
            session, owner, DefinitionDraft(entity=entity, code=FIELD_CODE, name="Matrix note", type="string")
        ).id
        for entity in FieldEntity
    }
    objects = (world.objects_a[1], world.objects_b[1])
    return Fixtures(
        schedule_id=schedule.id,
        rule_id=rule.id,
        field_ids=field_ids,
        plans={o: new_plan(session, world, o) for o in objects},
        qr_tokens={o: create_qr(session, owner, o).token for o in objects},
        invited={
            "a": invited_member(session, settings, world, "customer", world.company_a),
            "b": invited_member(session, settings, world, "customer", world.company_b),
            "staff": invited_member(session, settings, world, "executor", world.own_company),
        },
    )


def random_phone() -> str:
    return f"+7916{secrets.randbelow(10**7):07d}"


def add_phone_customer(session: Session, world: World) -> str:
    """A customer who logs in by phone (the pre-login flows need an account that exists)."""
    phone = random_phone()
    account = create_account(session, phone=phone, password=PASSWORD)
    account.phone_verified = True
    add_member(
        session,
        tenant_id=world.tenant_id,
        account=account,
        role_codes=["customer"],
        company_ids=[world.company_a],
        last_name="Phone",
        first_name="Test",
    )
    return phone


@dataclass
class Env:
    client: TestClient
    database: Database
    settings: Settings
    w1: World
    w2: World
    headers: dict[str, dict[str, str]]
    fixtures_by_tenant: dict[int, Fixtures]
    phone: str
    cache: dict[tuple[Any, ...], TicketRef] = field(default_factory=dict)
    ticket_files: dict[int, int] = field(default_factory=dict)

    def world(self, target: str) -> World:
        return self.w2 if target == "other_tenant" else self.w1

    def fixtures(self, target: str) -> Fixtures:
        return self.fixtures_by_tenant[self.world(target).tenant_id]

    def make(self, target: str, build: Callable[[Session, World], int]) -> int:
        """A fresh row in the target's world, for requests that change or remove what they act on."""
        with self.database.session(write=True) as s:
            return build(s, self.world(target))

    def ticket(self, role: str, target: str, stage: str, *, fresh: bool) -> TicketRef:
        """A ticket in ``stage`` that the role is entitled to (own) or not (other company/tenant)."""
        world = self.world(target)
        if target == "own":
            # The customer admin's ticket is a colleague's: visible through the company scope.
            initiator = "customer_a2" if role == "customer_admin" else "customer_a"
            executor = "executor"
        else:
            initiator = "customer_b" if target == "other_company" else "customer_a"
            executor = "executor2"
        key = (world.tenant_id, stage, initiator, executor)
        if not fresh and key in self.cache:
            return self.cache[key]
        with self.database.session(write=True) as s:
            ticket = ticket_in_stage(s, world, stage, by=initiator)
            assign(s, world, ticket, executor)
            ref = TicketRef(ticket.id, ticket.version, ticket.tenant_id, ticket.number, world)
        if not fresh:
            self.cache[key] = ref
        return ref

    def ticket_file(self, ticket: TicketRef) -> int:
        """A file attached to the ticket (uploaded and attached by the tenant's owner)."""
        if ticket.id not in self.ticket_files:
            owner = ticket.world.owner.actor
            with self.database.session(write=True) as s:
                attachment = create_attachment(
                    s,
                    owner,
                    Storage(upload_root(self.settings.data_dir)),
                    filename="matrix.txt",
                    stream=io.BytesIO(UPLOAD),
                    max_bytes=self.settings.upload_max_bytes,
                )
                row = s.get(Ticket, ticket.id)
                assert row is not None
                attach_to_ticket(s, owner, [attachment.id], row)
                self.ticket_files[ticket.id] = attachment.id
        return self.ticket_files[ticket.id]

    def object_id(self, target: str) -> int:
        return {"own": self.w1.objects_a[1], "other_company": self.w1.objects_b[1]}.get(
            target, self.w2.objects_a[1]
        )

    def company_id(self, target: str) -> int:
        return {"own": self.w1.company_a, "other_company": self.w1.company_b}.get(target, self.w2.company_a)

    def member_id(self, role: str, target: str) -> int:
        if target == "own":
            return self.w1.executor.id if role in CUSTOMERS else self.w1.customer_a.id
        return self.w1.customer_b.id if target == "other_company" else self.w2.executor.id

    def invited_id(self, role: str, target: str) -> int:
        """A member still to set a password: one the role may see (own) or not."""
        if target == "own":
            # Customers see staff only; staff see everybody in the tenant.
            return self.fixtures(target).invited["staff" if role in CUSTOMERS else "a"]
        return self.fixtures(target).invited["b" if target == "other_company" else "a"]


@pytest.fixture(scope="module")
def env(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    settings = Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("authz"),
        database_url=database.url,
        run_worker_in_process=False,
        login_failures_per_login=5,
        login_failures_per_ip=100_000,
    )
    with TestClient(create_app(settings, db=database)) as client:
        with database.session(write=True) as s:
            w1, w2 = make_world(s), make_world(s)
            fixtures = {w.tenant_id: make_fixtures(s, settings, w) for w in (w1, w2)}
            phone = add_phone_customer(s, w1)
        headers = {role: login(client, w1.people[person]) for role, person in PERSON.items()}
        yield Env(client, database, settings, w1, w2, headers, fixtures, phone)


# --------------------------------------------------------------------------- matrix rows


@dataclass(frozen=True)
class Case:
    env: Env
    role: str
    target: str
    ticket: TicketRef | None
    extra: dict[str, Any] = field(default_factory=dict)  # what a call leaves for its check


@dataclass(frozen=True)
class Call:
    url: str
    json: Any = None
    headers: dict[str, str] | None = None
    target_id: int | None = None  # the id in the URL a 404 must not tell apart from an absent one
    files: Any = None  # multipart upload instead of JSON
    probe: str | None = None  # the absent counterpart of ``url`` when the target is not an integer id
    state: Callable[[], Any] | None = None  # what a refused request must leave as it is

    def absent(self) -> str:
        if self.probe is not None:
            return self.probe
        assert self.target_id is not None
        return re.sub(rf"(?<=[/=]){self.target_id}(?=$|[/?&])", str(ABSENT_ID), self.url, count=1)


Visible = Callable[[str, str], bool]
Check = Callable[[Case, Response], None]


def ticket_visible(role: str, target: str) -> bool:
    return target == "own" or (target == "other_company" and role in SEES_ALL_TICKETS)


def staff_visible(role: str, target: str) -> bool:
    """Objects and members: staff see the whole tenant, customers their companies."""
    return target == "own" or (target == "other_company" and role in STAFF)


def in_tenant(role: str, target: str) -> bool:
    """Tenant-wide rows (configuration): everyone of the tenant sees that they exist."""
    return target != "other_tenant"


def plan_visible(role: str, target: str) -> bool:
    """Plans are for staff; customers learn about planned work per object only."""
    return role in STAFF and target != "other_tenant"


def refused_first(roles: frozenset[str]) -> Visible:
    """Creating: roles outside ``roles`` are refused whatever they send; the others get a field
    error for another tenant's id in the body, as for an absent one."""
    return lambda role, target: role not in roles or target != "other_tenant"


def always(role: str, target: str) -> bool:
    return True


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    route: str
    allowed: Mapping[str, int]  # role -> status when the target is visible
    visible: Visible = always
    hidden_status: int = 404
    stage: str | None = None  # set: the row works on a ticket in this stage
    call: Callable[[Case], Call] = lambda case: Call("")
    check: Check | None = None
    invalid_fields: tuple[str, ...] = ()  # the field errors of a 422 (an id of another tenant in the body)
    bugs: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (role, target) -> known product bug

    @property
    def key(self) -> tuple[str, str]:
        return self.method, API + self.route

    def expected(self, role: str, target: str) -> int:
        return self.allowed[role] if self.visible(role, target) else self.hidden_status


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def only(roles: frozenset[str] | set[str], ok: int) -> dict[str, int]:
    return {r: ok if r in roles else 403 for r in ROLES}


def _t(case: Case) -> TicketRef:
    assert case.ticket is not None
    return case.ticket


def ticket_url(suffix: str = "") -> Callable[[Case], Call]:
    return lambda case: Call(f"{API}/tickets/{_t(case).id}{suffix}")


def transition_id(database: Database, ticket: TicketRef, label: str) -> int:
    with database.session() as s:
        stage_id = s.scalar(select(Ticket.stage_id).where(Ticket.id == ticket.id))
        found = s.scalar(
            select(Transition.id).where(
                Transition.tenant_id == ticket.tenant_id,
                Transition.from_stage_id == stage_id,
                Transition.label == label,
            )
        )
    assert found is not None, label
    return int(found)


def fire(label: str) -> Callable[[Case], Call]:
    def call(case: Case) -> Call:
        ticket = _t(case)
        body = {
            "transition_id": transition_id(case.env.database, ticket, label),
            "version": ticket.version,
            "comment": "matrix",
        }
        return Call(f"{API}/tickets/{ticket.id}/transitions", body)

    return call


def patch_body(make: Callable[[Case], dict[str, Any]]) -> Callable[[Case], Call]:
    def call(case: Case) -> Call:
        ticket = _t(case)
        return Call(f"{API}/tickets/{ticket.id}", {"version": ticket.version, **make(case)})

    return call


def work_call(case: Case) -> Call:
    ticket = _t(case)
    return Call(f"{API}/tickets/{ticket.id}/works", {"work_type_id": ticket.world.work_type_id})


def unfavorite_call(case: Case) -> Call:
    url = f"{API}/tickets/{_t(case).id}/favorite"
    case.env.client.put(url, headers=case.env.headers[case.role])  # 204, or 404 when not visible
    return Call(url)


def rating_call(case: Case) -> Call:
    ticket = _t(case)
    with case.env.database.session() as s:
        criteria = s.scalars(
            select(RatingCriterion.id).where(RatingCriterion.tenant_id == ticket.tenant_id)
        ).all()
    return Call(f"{API}/tickets/{ticket.id}/rating", {"scores": {str(c): 5 for c in criteria}})


def create_call(case: Case) -> Call:
    body = {
        "type_id": case.env.w1.type_id,
        "object_id": case.env.object_id(case.target),
        "description": f"matrix {uuid.uuid4().hex}",
    }
    return Call(f"{API}/tickets", body)


def object_call(template: str) -> Callable[[Case], Call]:
    def call(case: Case) -> Call:
        object_id = case.env.object_id(case.target)
        return Call(API + template.format(id=object_id), target_id=object_id)

    return call


def member_call(case: Case) -> Call:
    member_id = case.env.member_id(case.role, case.target)
    return Call(f"{API}/members/{member_id}", target_id=member_id)


def logout_call(case: Case) -> Call:
    # A token of its own, so the role's shared token survives.
    return Call(f"{API}/auth/logout", headers=login(case.env.client, case.env.w1.people[PERSON[case.role]]))


def login_call(case: Case) -> Call:
    person = case.env.w1.people[PERSON[case.role]]
    body: dict[str, Any] = {"login": person.login, "password": PASSWORD}
    if case.target != "own":
        body["tenant_id"] = case.env.world(case.target).tenant_id
    return Call(f"{API}/auth/login", body, headers={})


# ----------------------------------------------------- calls of the configuration and planning features


def row_state(env: Env, model: Any, row_id: int) -> Callable[[], dict[str, Any] | None]:
    """Every column of one row (None once it is gone)."""

    def read() -> dict[str, Any] | None:
        with env.database.session() as s:
            row = s.get(model, row_id)
            return None if row is None else {a.key: getattr(row, a.key) for a in inspect(model).column_attrs}

    return read


def count_state(env: Env, model: Any, *where: ColumnElement[bool]) -> Callable[[], int]:
    def read() -> int:
        with env.database.session() as s:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return read


def config_call(
    path: str, model: Any, pick: Callable[[Fixtures], int], body: Any = None
) -> Callable[[Case], Call]:
    """A tenant-wide configuration row of the fixtures (the own tenant's, or another tenant's)."""

    def call(case: Case) -> Call:
        row_id = pick(case.env.fixtures(case.target))
        json = body(case) if callable(body) else body
        return Call(
            f"{API}{path.format(id=row_id)}", json, target_id=row_id, state=row_state(case.env, model, row_id)
        )

    return call


def fresh_call(
    path: str, model: Any, build: Callable[[Session, World, Fixtures], int], body: Any = None
) -> Callable[[Case], Call]:
    """A row made for this request alone (it is removed, archived, paused...), in the target's world."""

    def call(case: Case) -> Call:
        fixtures = case.env.fixtures(case.target)
        row_id = case.env.make(case.target, lambda s, w: build(s, w, fixtures))
        return Call(
            f"{API}{path.format(id=row_id)}", body, target_id=row_id, state=row_state(case.env, model, row_id)
        )

    return call


def spare_schedule(session: Session, world: World, fixtures: Fixtures) -> int:
    return sla.create_schedule(session, world.owner.actor, name="Spare", definition=OFFICE).id


def spare_rule(session: Session, world: World, fixtures: Fixtures) -> int:
    values = {"name": "Spare", "schedule_id": fixtures.schedule_id, "minutes": 30, "active": False}
    return sla.create_rule(session, world.owner.actor, values).id


def spare_field(session: Session, world: World, fixtures: Fixtures) -> int:
    code = f"spare_{uuid.uuid4().hex[:10]}"
    draft = DefinitionDraft(entity=FieldEntity.OBJECT, code=code, name="Spare", type="string")
    return create_definition(session, world.owner.actor, draft).id


def renamed(case: Case) -> dict[str, Any]:
    return {"name": f"Renamed {uuid.uuid4().hex[:8]}"}


def field_version(case: Case) -> dict[str, Any]:
    with case.env.database.session() as s:
        version = s.scalar(
            select(FieldDefinition.version).where(
                FieldDefinition.id == case.env.fixtures(case.target).field_ids[FieldEntity.OBJECT]
            )
        )
    return {"version": version, "name": f"Renamed {uuid.uuid4().hex[:8]}"}


def access_cells(case: Case) -> dict[str, Any]:
    tenant_id = case.env.world(case.target).tenant_id
    with case.env.database.session() as s:
        role_id = s.scalar(select(Role.id).where(Role.tenant_id == tenant_id, Role.code == "customer"))
        stage_id = s.scalar(select(Stage.id).where(Stage.tenant_id == tenant_id, Stage.name == "Новая"))
    return {"cells": [{"role_id": role_id, "stage_id": stage_id, "level": "read"}]}


def new_schedule_call(case: Case) -> Call:
    return Call(
        f"{API}/sla/schedules",
        {"name": "Night", "definition": OFFICE},
        state=count_state(case.env, ServiceSchedule),
    )


def new_rule_call(case: Case) -> Call:
    body = {
        "name": "New",
        "schedule_id": case.env.fixtures(case.target).schedule_id,
        "minutes": 90,
        "active": False,
    }
    return Call(f"{API}/sla/rules", body, state=count_state(case.env, SlaRule))


def new_field_call(case: Case) -> Call:
    body = {"entity": "object", "code": f"new_{uuid.uuid4().hex[:10]}", "name": "New", "type": "string"}
    return Call(f"{API}/fields", body, state=count_state(case.env, FieldDefinition))


def owner_fields_call(kind: str, model: Any, pick: Callable[[Env, str], int]) -> Callable[[Case], Call]:
    """PATCH the additional-field values of an object or a company."""

    def call(case: Case) -> Call:
        row_id = pick(case.env, case.target)
        case.extra["value"] = f"value {uuid.uuid4().hex[:8]}"
        return Call(
            f"{API}/{kind}/{row_id}/fields",
            {"fields": {FIELD_CODE: case.extra["value"]}},
            target_id=row_id,
            state=row_state(case.env, model, row_id),
        )

    return call


def plan_call(suffix: str = "", *, fresh: str | None = None, body: Any = None) -> Callable[[Case], Call]:
    """The plan on the target's object: the fixture's, or a new one in state ``fresh``."""

    def call(case: Case) -> Call:
        object_id = case.env.object_id(case.target)
        if fresh is None:
            plan_id = case.env.fixtures(case.target).plans[object_id]
        else:
            plan_id = case.env.make(case.target, lambda s, w: new_plan(s, w, object_id, state=fresh))
        return Call(
            f"{API}/plans/{plan_id}{suffix}",
            body,
            target_id=plan_id,
            state=row_state(case.env, Plan, plan_id),
        )

    return call


def new_plan_call(case: Case) -> Call:
    world = case.env.w1
    body = {
        "name": "New plan",
        "ticket_type_id": world.type_id,
        "work_type_id": world.work_type_id,
        "object_ids": [case.env.object_id(case.target)],
        "description": "Check the pump",
        "recurrence": {"freq": "weekly", "interval": 1, "weekdays": [1]},
        "first_local": first_local().isoformat(timespec="minutes"),
    }
    return Call(f"{API}/plans", body, state=count_state(case.env, Plan))


def qr_call(suffix: str, *, body: Any = None) -> Callable[[Case], Call]:
    def call(case: Case) -> Call:
        object_id = case.env.object_id(case.target)
        codes = count_state(case.env, ObjectQrCode, ObjectQrCode.object_id == object_id)
        return Call(f"{API}/objects/{object_id}/{suffix}", body, target_id=object_id, state=codes)

    return call


def revoke_qr_call(case: Case) -> Call:
    object_id = case.env.object_id(case.target)
    code_id = case.env.make(case.target, lambda s, w: create_qr(s, w.owner.actor, object_id).id)
    return Call(
        f"{API}/objects/{object_id}/qr/{code_id}",
        target_id=object_id,
        state=row_state(case.env, ObjectQrCode, code_id),
    )


def scan_call(case: Case) -> Call:
    token = case.env.fixtures(case.target).qr_tokens[case.env.object_id(case.target)]
    return Call(f"{API}/qr/{token}", probe=f"{API}/qr/{new_qr_token()}")


def new_member_call(case: Case) -> Call:
    body = {
        "email": f"new-{uuid.uuid4().hex[:10]}@example.test",
        "last_name": "New",
        "first_name": "Customer",
        "role_codes": ["customer"],
        "company_ids": [case.env.company_id(case.target)],
    }
    return Call(f"{API}/members", body, state=count_state(case.env, Member))


def invitation_call(case: Case) -> Call:
    member_id = case.env.invited_id(case.role, case.target)
    return Call(
        f"{API}/members/{member_id}/invitation",
        target_id=member_id,
        state=count_state(case.env, Invitation, Invitation.member_id == member_id),
    )


def person_of(case: Case) -> Any:
    return case.env.w1.people[PERSON[case.role]]


def preferences_call(case: Case) -> Call:
    current = case.env.client.get(f"{API}/me/preferences", headers=case.env.headers[case.role]).json()
    case.extra["email"] = not current["events"]["created"]["email"]
    return Call(
        f"{API}/me/preferences",
        {"events": {"created": {"email": case.extra["email"]}}},
        state=row_state(case.env, Member, person_of(case).id),
    )


def password_call(case: Case) -> Call:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return Call(
        f"{API}/me/password", body, state=row_state(case.env, Account, person_of(case).actor.account_id)
    )


def upload_call(case: Case) -> Call:
    return Call(
        f"{API}/attachments",
        files={"file": ("matrix.txt", UPLOAD, "text/plain")},
        state=count_state(case.env, Attachment),
    )


def file_call(case: Case) -> Call:
    attachment_id = case.env.ticket_file(_t(case))
    return Call(f"{API}/attachments/{attachment_id}", target_id=attachment_id)


def ticket_files_call(case: Case) -> Call:
    case.extra["file"] = case.env.ticket_file(_t(case))
    return Call(f"{API}/tickets/{_t(case).id}/attachments")


def attach_call(case: Case) -> Call:
    uploaded = case.env.client.post(
        f"{API}/attachments",
        files={"file": ("mine.txt", UPLOAD, "text/plain")},
        headers=case.env.headers[case.role],
    )
    assert uploaded.status_code == 201, uploaded.text
    case.extra["file"] = uploaded.json()["id"]
    return Call(f"{API}/tickets/{_t(case).id}/attachments", {"attachment_ids": [case.extra["file"]]})


# ------------------------------------------------------------------ checks of 2xx bodies


def check_listed(case: Case, response: Response) -> None:
    ids = {item["id"] for item in response.json()["items"]}
    assert (_t(case).id in ids) == ticket_visible(case.role, case.target)
    for item in response.json()["items"]:
        assert ("stage" in item) == (case.role in STAFF)


def check_counts(case: Case, response: Response) -> None:
    counts = response.json()
    headers = case.env.headers[case.role]
    for view in ("mine", "approval", "all", "favorites", "archive"):
        seen, cursor = 0, None
        while True:
            params: dict[str, Any] = {"view": view, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = case.env.client.get(f"{API}/tickets", params=params, headers=headers).json()
            seen += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert counts[view] == seen, view


def check_object_listed(case: Case, response: Response) -> None:
    ids = {item["id"] for item in response.json()["items"]}
    assert (case.env.object_id(case.target) in ids) == staff_visible(case.role, case.target)


def check_detail(case: Case, response: Response) -> None:
    body = response.json()
    assert body["id"] == _t(case).id
    assert ("stage" in body) == (case.role in STAFF)


def check_history(case: Case, response: Response) -> None:
    kinds = {row["kind"] for row in response.json()}
    assert {"created", "status_changed"} <= kinds
    assert ("stage_changed" in kinds) == (case.role in STAFF)  # stage moves are internal


def catalog_check(model: Any, *, paged: bool = False) -> Check:
    """A list holds rows of the caller's tenant only (``paged``: under ``items``)."""

    def check(case: Case, response: Response) -> None:
        with case.env.database.session() as s:
            mine = set(s.scalars(select(model.id).where(model.tenant_id == case.env.w1.tenant_id)))
        rows = response.json()["items"] if paged else response.json()
        ids = {row["id"] for row in rows}
        assert ids and ids <= mine, "rows of another tenant leaked"

    return check


def check_me(case: Case, response: Response) -> None:
    body = response.json()
    assert body["tenant"]["id"] == case.env.w1.tenant_id
    assert body["member"]["id"] == case.env.w1.people[PERSON[case.role]].id
    company_ids = {c["id"] for c in body["companies"]}
    assert case.env.w1.company_b not in company_ids
    assert body["roles"] == [case.role]


def check_revoked(case: Case, response: Response) -> None:
    used = {"Authorization": response.request.headers["authorization"]}
    assert case.env.client.get(f"{API}/me", headers=used).status_code == 401


def check_logged_in(case: Case, response: Response) -> None:
    body = response.json()
    assert body["member"]["id"] == case.env.w1.people[PERSON[case.role]].id
    assert body["token"]


def check_member(case: Case, response: Response) -> None:
    assert response.json()["id"] == case.env.member_id(case.role, case.target)


def check_id(pick: Callable[[Case], int]) -> Check:
    def check(case: Case, response: Response) -> None:
        assert response.json()["id"] == pick(case)

    return check


def check_field_value(case: Case, response: Response) -> None:
    assert response.json()["fields"][FIELD_CODE] == case.extra["value"]


def check_company_fields(case: Case, response: Response) -> None:
    assert FIELD_CODE in response.json()["fields"]


def check_plan_occurrences(case: Case, response: Response) -> None:
    items = response.json()["items"]
    plan_id = case.env.fixtures(case.target).plans[case.env.object_id(case.target)]
    assert items and {i["plan"]["id"] for i in items} == {plan_id}


def check_object_planned(case: Case, response: Response) -> None:
    items = response.json()["items"]
    assert items and {i["object"]["id"] for i in items} == {case.env.object_id(case.target)}
    if case.role in CUSTOMERS:
        assert all(i["ticket_id"] is None and i["reason"] is None for i in items)


def check_qr_codes(case: Case, response: Response) -> None:
    codes = response.json()
    assert codes and {c["object_id"] for c in codes} == {case.env.object_id(case.target)}


def check_svg(case: Case, response: Response) -> None:
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in response.content


def check_scanned(case: Case, response: Response) -> None:
    assert response.json()["object_id"] == case.env.object_id(case.target)


def check_invited(case: Case, response: Response) -> None:
    body = response.json()
    assert body["id"] == case.env.invited_id(case.role, case.target) and body["status"] == "invited"


def check_preferences(case: Case, response: Response) -> None:
    assert response.json()["events"]["created"]["email"] is case.extra["email"]


def check_password_changed(case: Case, response: Response) -> None:
    client, headers = case.env.client, case.env.headers[case.role]
    assert client.get(f"{API}/me", headers=headers).status_code == 200  # the changing session stays
    login(client, person_of(case), NEW_PASSWORD)
    # Back to the shared password: the other rows log this person in with it.
    body = {"current_password": NEW_PASSWORD, "new_password": PASSWORD}
    assert client.post(f"{API}/me/password", json=body, headers=headers).status_code == 204


def check_uploaded(case: Case, response: Response) -> None:
    body = response.json()
    assert body["size"] == len(UPLOAD) and body["filename"] == "matrix.txt"
    with case.env.database.session() as s:
        row = s.get(Attachment, body["id"])
        assert row is not None
        assert (row.tenant_id, row.uploaded_by, row.ticket_id) == (
            case.env.w1.tenant_id,
            person_of(case).id,
            None,
        )


def check_download(case: Case, response: Response) -> None:
    assert response.content == UPLOAD
    assert response.headers["x-content-type-options"] == "nosniff"


def check_ticket_files(case: Case, response: Response) -> None:
    assert case.extra["file"] in {a["id"] for a in response.json()}


def fixture_plan(case: Case) -> int:
    return case.env.fixtures(case.target).plans[case.env.object_id(case.target)]


def field_of(entity: FieldEntity) -> Callable[[Fixtures], int]:
    return lambda fixtures: fixtures.field_ids[entity]


def company_fields_call(case: Case) -> Call:
    company_id = case.env.company_id(case.target)
    return Call(f"{API}/companies/{company_id}/fields", target_id=company_id)


# fmt: off
ROWS: tuple[Row, ...] = (
    Row("login", "POST", "/auth/login", everyone(200), lambda r, t: t != "other_tenant", 401,
        call=login_call, check=check_logged_in),
    Row("logout", "POST", "/auth/logout", everyone(204), call=logout_call, check=check_revoked),
    Row("me", "GET", "/me", everyone(200), call=lambda c: Call(f"{API}/me"), check=check_me),
    Row("preferences", "GET", "/me/preferences", everyone(200), call=lambda c: Call(f"{API}/me/preferences")),
    Row("set-preferences", "PUT", "/me/preferences", everyone(200), call=preferences_call,
        check=check_preferences),
    Row("password", "POST", "/me/password", everyone(204), call=password_call, check=check_password_changed),
    Row("member", "GET", "/members/{member_id}", everyone(200), staff_visible,
        call=member_call, check=check_member),
    Row("members", "GET", "/members", only(STAFF, 200), call=lambda c: Call(f"{API}/members?limit=100"),
        check=catalog_check(Member, paged=True)),
    Row("add-member", "POST", "/members", only(MANAGERS, 201), refused_first(MANAGERS), 422,
        call=new_member_call, invalid_fields=("company_ids",)),
    Row("reinvite", "POST", "/members/{member_id}/invitation", only(MANAGERS, 202), staff_visible,
        call=invitation_call, check=check_invited),
    Row("ticket-types", "GET", "/ticket-types", everyone(200),
        call=lambda c: Call(f"{API}/ticket-types"), check=catalog_check(TicketType)),
    Row("work-types", "GET", "/work-types", everyone(200), staff_visible,
        call=object_call("/work-types?object_id={id}")),
    Row("criticalities", "GET", "/criticalities", everyone(200),
        call=lambda c: Call(f"{API}/criticalities"), check=catalog_check(Criticality)),
    Row("rating-criteria", "GET", "/rating-criteria", everyone(200),
        call=lambda c: Call(f"{API}/rating-criteria"), check=catalog_check(RatingCriterion)),
    Row("objects", "GET", "/objects", everyone(200),
        call=lambda c: Call(f"{API}/objects?limit=100"), check=check_object_listed),
    Row("object", "GET", "/objects/{object_id}", everyone(200), staff_visible,
        call=object_call("/objects/{id}")),
    Row("object-fields", "PATCH", "/objects/{object_id}/fields", only(MANAGERS, 200), staff_visible,
        call=owner_fields_call("objects", ServiceObject, Env.object_id), check=check_field_value),
    Row("object-planned", "GET", "/objects/{object_id}/planned", everyone(200), staff_visible,
        call=object_call("/objects/{id}/planned"), check=check_object_planned),
    Row("qr-codes", "GET", "/objects/{object_id}/qr", only(MANAGERS, 200), staff_visible,
        call=qr_call("qr"), check=check_qr_codes),
    Row("new-qr", "POST", "/objects/{object_id}/qr", only(MANAGERS, 201), staff_visible,
        call=qr_call("qr", body={}), check=check_scanned),
    # Anyone who sees the object may print its current code; only managers mint the first one.
    Row("qr-svg", "GET", "/objects/{object_id}/qr.svg", everyone(200), staff_visible,
        call=qr_call("qr.svg"), check=check_svg),
    Row("revoke-qr", "DELETE", "/objects/{object_id}/qr/{code_id}", only(MANAGERS, 204), staff_visible,
        call=revoke_qr_call),
    Row("scan-qr", "GET", "/qr/{token}", everyone(200), staff_visible, call=scan_call, check=check_scanned),
    Row("company-fields", "GET", "/companies/{company_id}/fields", everyone(200), staff_visible,
        call=company_fields_call, check=check_company_fields),
    Row("edit-company-fields", "PATCH", "/companies/{company_id}/fields", only(MANAGERS, 200), staff_visible,
        call=owner_fields_call("companies", Company, Env.company_id), check=check_field_value),
    Row("fields", "GET", "/fields", only(CONFIGURERS, 200), call=lambda c: Call(f"{API}/fields"),
        check=catalog_check(FieldDefinition)),
    Row("new-field", "POST", "/fields", only(CONFIGURERS, 201), call=new_field_call),
    Row("field", "GET", "/fields/{field_id}", only(CONFIGURERS, 200), in_tenant,
        call=config_call("/fields/{id}", FieldDefinition, field_of(FieldEntity.OBJECT))),
    Row("edit-field", "PATCH", "/fields/{field_id}", only(CONFIGURERS, 200), in_tenant,
        call=config_call("/fields/{id}", FieldDefinition, field_of(FieldEntity.OBJECT), field_version)),
    Row("archive-field", "POST", "/fields/{field_id}/archive", only(CONFIGURERS, 200), in_tenant,
        call=fresh_call("/fields/{id}/archive", FieldDefinition, spare_field)),
    Row("field-access", "GET", "/fields/{field_id}/access", only(CONFIGURERS, 200), in_tenant,
        call=config_call("/fields/{id}/access", FieldDefinition, field_of(FieldEntity.TICKET))),
    Row("set-field-access", "PUT", "/fields/{field_id}/access", only(CONFIGURERS, 200), in_tenant,
        call=config_call("/fields/{id}/access", FieldDefinition, field_of(FieldEntity.TICKET), access_cells)),
    Row("schedules", "GET", "/sla/schedules", only(CONFIGURERS, 200),
        call=lambda c: Call(f"{API}/sla/schedules"), check=catalog_check(ServiceSchedule)),
    Row("new-schedule", "POST", "/sla/schedules", only(CONFIGURERS, 201), call=new_schedule_call),
    Row("edit-schedule", "PATCH", "/sla/schedules/{schedule_id}", only(CONFIGURERS, 200), in_tenant,
        call=config_call("/sla/schedules/{id}", ServiceSchedule, lambda f: f.schedule_id, renamed)),
    Row("drop-schedule", "DELETE", "/sla/schedules/{schedule_id}", only(CONFIGURERS, 204), in_tenant,
        call=fresh_call("/sla/schedules/{id}", ServiceSchedule, spare_schedule)),
    Row("rules", "GET", "/sla/rules", only(CONFIGURERS, 200),
        call=lambda c: Call(f"{API}/sla/rules"), check=catalog_check(SlaRule)),
    Row("new-rule", "POST", "/sla/rules", only(CONFIGURERS, 201), refused_first(CONFIGURERS), 422,
        call=new_rule_call, invalid_fields=("schedule_id",)),
    Row("edit-rule", "PATCH", "/sla/rules/{rule_id}", only(CONFIGURERS, 200), in_tenant,
        call=config_call("/sla/rules/{id}", SlaRule, lambda f: f.rule_id, renamed)),
    Row("drop-rule", "DELETE", "/sla/rules/{rule_id}", only(CONFIGURERS, 204), in_tenant,
        call=fresh_call("/sla/rules/{id}", SlaRule, spare_rule)),
    Row("plans", "GET", "/plans", only(STAFF, 200), call=lambda c: Call(f"{API}/plans?limit=100"),
        check=catalog_check(Plan, paged=True)),
    Row("new-plan", "POST", "/plans", only(MANAGERS, 201), refused_first(MANAGERS), 422,
        call=new_plan_call, invalid_fields=("object_ids.0",)),
    Row("plan", "GET", "/plans/{plan_id}", everyone(200), plan_visible, call=plan_call(),
        check=check_id(fixture_plan)),
    Row("edit-plan", "PATCH", "/plans/{plan_id}", only(MANAGERS, 200), plan_visible,
        call=plan_call(fresh="active", body={"version": 1, "name": "Renamed plan"})),
    Row("drop-plan", "DELETE", "/plans/{plan_id}", only(MANAGERS, 204), plan_visible,
        call=plan_call(fresh="active")),
    Row("pause-plan", "POST", "/plans/{plan_id}/pause", only(MANAGERS, 200), plan_visible,
        call=plan_call("/pause", fresh="active")),
    Row("resume-plan", "POST", "/plans/{plan_id}/resume", only(MANAGERS, 200), plan_visible,
        call=plan_call("/resume", fresh="paused")),
    Row("plan-occurrences", "GET", "/plans/{plan_id}/occurrences", everyone(200), plan_visible,
        call=plan_call("/occurrences"), check=check_plan_occurrences),
    Row("list", "GET", "/tickets", everyone(200), stage="Новая",
        call=lambda c: Call(f"{API}/tickets?view=all&limit=100&q={_t(c).number}"), check=check_listed),
    Row("counts", "GET", "/tickets/counts", everyone(200), stage="Новая",
        call=lambda c: Call(f"{API}/tickets/counts"), check=check_counts),
    # Customers may not file tickets on objects they cannot see: a field error, as for an absent id.
    Row("create", "POST", "/tickets", everyone(201), staff_visible, 422, call=create_call),
    Row("detail", "GET", "/tickets/{ticket_id}", everyone(200), ticket_visible, stage="Новая",
        call=ticket_url(), check=check_detail),
    Row("edit", "PATCH", "/tickets/{ticket_id}", only(SEES_ALL_TICKETS, 200), ticket_visible,
        stage="Новая", call=patch_body(lambda c: {"description": "edited by matrix"})),
    Row("assign", "PATCH", "/tickets/{ticket_id}", only(SEES_ALL_TICKETS, 200), ticket_visible,
        stage="Новая", call=patch_body(lambda c: {"executor_ids": [_t(c).world.executor2.id]})),
    Row("delete", "DELETE", "/tickets/{ticket_id}", only({"owner", "admin"}, 204), ticket_visible,
        stage="Новая", call=ticket_url()),
    Row("transitions", "GET", "/tickets/{ticket_id}/transitions", everyone(200), ticket_visible,
        stage="Новая", call=ticket_url("/transitions")),
    Row("fire-main", "POST", "/tickets/{ticket_id}/transitions", only(SEES_ALL_TICKETS, 200),
        ticket_visible, stage="Новая", call=fire("Назначить")),
    Row("fire-executor", "POST", "/tickets/{ticket_id}/transitions", only(STAFF, 200),
        ticket_visible, stage="Назначена", call=fire("Принять")),
    Row("fire-customer", "POST", "/tickets/{ticket_id}/transitions", only(CUSTOMERS, 200),
        ticket_visible, stage="Новая", call=fire("Отменить заявку")),
    Row("works", "GET", "/tickets/{ticket_id}/works", everyone(200), ticket_visible, stage="Новая",
        call=ticket_url("/works")),
    Row("add-work", "POST", "/tickets/{ticket_id}/works", only({"executor"}, 201), ticket_visible,
        stage="В работе", call=work_call),
    Row("favorite", "PUT", "/tickets/{ticket_id}/favorite", everyone(204), ticket_visible,
        stage="Новая", call=ticket_url("/favorite")),
    Row("unfavorite", "DELETE", "/tickets/{ticket_id}/favorite", everyone(204), ticket_visible,
        stage="Новая", call=unfavorite_call),
    Row("rating", "GET", "/tickets/{ticket_id}/rating", everyone(200), ticket_visible, stage="Выполнена",
        call=ticket_url("/rating")),
    Row("rate", "PUT", "/tickets/{ticket_id}/rating", only(CUSTOMERS, 200), ticket_visible,
        stage="Выполнена", call=rating_call),
    Row("history", "GET", "/tickets/{ticket_id}/history", everyone(200), ticket_visible, stage="Назначена",
        call=ticket_url("/history"), check=check_history),
    Row("ticket-files", "GET", "/tickets/{ticket_id}/attachments", everyone(200), ticket_visible,
        stage="Новая", call=ticket_files_call, check=check_ticket_files),
    Row("attach", "POST", "/tickets/{ticket_id}/attachments", everyone(200), ticket_visible,
        stage="Новая", call=attach_call, check=check_ticket_files),
    Row("upload", "POST", "/attachments", everyone(201), call=upload_call, check=check_uploaded),
    Row("download", "GET", "/attachments/{attachment_id}", everyone(200), ticket_visible, stage="Новая",
        call=file_call, check=check_download),
)
# fmt: on


# --------------------------------------------------------------------------- helpers


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path
        if path and path.startswith(API + "/"):
            routes.update((method, path) for method in context.methods or () if method != "HEAD")
    return routes


def ticket_state(database: Database, ticket_id: int) -> tuple[Any, ...]:
    with database.session() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None

        def count(model: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(model.ticket_id == t.id)) or 0)

        executors = set(s.scalars(select(TicketExecutor.member_id).where(TicketExecutor.ticket_id == t.id)))
        return (
            t.version,
            t.stage_id,
            t.status_id,
            t.description,
            t.deleted_at,
            t.closed_at,
            t.rating_score,
            executors,
            count(TicketHistory),
            count(Favorite),
            count(Rating),
            count(TicketWork),
        )


def assert_problem(response: Response, status: int) -> None:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://") and body["title"] and body["detail"]


def fill_path(path: str) -> str:
    return "/".join("1" if p.startswith("{") and p.endswith("}") else p for p in path.split("/"))


def matrix_cases() -> list[Any]:
    """Every row × role × target; a known product bug is a strict xfail, so its fix is noticed."""
    cases = []
    for row in ROWS:
        for role in ROLES:
            for target in TARGETS:
                bug = row.bugs.get((role, target))
                marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
                cases.append(pytest.param(row, role, target, id=f"{row.name}-{role}-{target}", marks=marks))
    return cases


# --------------------------------------------------------------------------- tests


def test_matrix_covers_every_api_route(env: Env) -> None:
    app = env.client.app
    assert isinstance(app, FastAPI)
    routes = api_routes(app)
    covered = {row.key for row in ROWS} | TESTED_SEPARATELY
    assert not routes - covered, f"endpoints without authorization rows: {sorted(routes - covered)}"
    assert not covered - routes, f"rows for endpoints that no longer exist: {sorted(covered - routes)}"
    assert not {row.key for row in ROWS} & TESTED_SEPARATELY


def test_every_api_route_requires_a_token(env: Env) -> None:
    """Derived from the app itself, so a new endpoint is checked before anyone writes its row."""
    app = env.client.app
    assert isinstance(app, FastAPI)
    failures = []
    guarded = {
        (method, path)
        for method, path in api_routes(app) - PUBLIC_ROUTES
        if not path.startswith(PUBLIC_PREFIX) or (method, path) in NEEDS_TOKEN_UNDER_PUBLIC_PREFIX
    }
    assert ("POST", f"{API}/auth/logout") in guarded and ("GET", f"{API}/tickets") in guarded
    assert EVENTS_ROUTE in guarded and not guarded & PRE_LOGIN_ROUTES
    for method, path in sorted(guarded):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
            response = env.client.request(method, fill_path(path), json={}, headers=headers)
            if response.status_code != 401 or not response.headers["content-type"].startswith(
                "application/problem+json"
            ):
                failures.append((method, path, headers, response.status_code))
            elif response.headers.get("www-authenticate") != "Bearer":
                failures.append((method, path, headers, "no WWW-Authenticate"))
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize(("row", "role", "target"), matrix_cases())
def test_authorization(env: Env, row: Row, role: str, target: str) -> None:
    expected = row.expected(role, target)
    mutates = row.method != "GET"
    ticket = None
    if row.stage is not None:
        # A fresh ticket whenever the request may change it; shared tickets otherwise.
        ticket = env.ticket(role, target, row.stage, fresh=mutates and expected < 400)
    case = Case(env, role, target, ticket)
    call = row.call(case)
    before = ticket_state(env.database, ticket.id) if ticket is not None else None
    state_before = call.state() if call.state is not None else None
    headers = env.headers[role] if call.headers is None else call.headers

    def send(url: str) -> Response:
        sent: Response = env.client.request(
            row.method, url, json=call.json, files=call.files, headers=headers
        )
        return sent

    response = send(call.url)

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert_problem(response, expected)
    if expected == 404:
        # Not visible answers exactly like absent: ids cannot be probed.
        target_id = call.target_id or (ticket.id if ticket is not None else None)
        assert target_id is not None or call.probe is not None, "a 404 row must say which id it probes"
        probe = Call(call.url, target_id=target_id, probe=call.probe).absent()
        assert probe != call.url
        absent = send(probe)
        assert (absent.status_code, absent.json()) == (404, response.json())
    if expected == 403:
        assert response.json()["detail"] != "Forbidden"  # a message a person can act on
    if expected == 422 and row.invalid_fields:
        assert [e["field"] for e in response.json().get("errors", [])] == list(row.invalid_fields)
    if ticket is not None and (expected >= 400 or not mutates):
        assert ticket_state(env.database, ticket.id) == before, "a refused request changed the ticket"
    if ticket is not None and mutates and expected < 400:
        assert ticket_state(env.database, ticket.id) != before
    if call.state is not None:
        if expected >= 400 or not mutates:
            assert call.state() == state_before, "a refused request (or a read) changed something"
        else:
            assert call.state() != state_before, "an accepted request changed nothing"
    if row.key == ("POST", f"{API}/tickets") and expected >= 400:
        errors = response.json().get("errors", [])
        assert [e["field"] for e in errors] == ["object_id"]
        with env.database.session() as s:
            assert s.scalar(select(func.count()).where(Ticket.description == call.json["description"])) == 0
    if row.check is not None and expected < 400:
        row.check(case, response)


def test_logout_revokes_only_that_token(env: Env) -> None:
    own = login(env.client, env.w1.customer_a)
    assert env.client.post(f"{API}/auth/logout", headers=own).status_code == 204
    assert env.client.get(f"{API}/me", headers=own).status_code == 401
    assert env.client.get(f"{API}/me", headers=env.headers["customer"]).status_code == 200


def test_customer_admin_sees_company_tickets_but_customer_only_own(env: Env) -> None:
    """Same company, another customer's ticket: the company scope, not the own scope."""
    colleague = env.ticket("customer_admin", "own", "Новая", fresh=False)  # filed by customer_a2
    url = f"{API}/tickets/{colleague.id}"
    assert env.client.get(url, headers=env.headers["customer_admin"]).status_code == 200
    response = env.client.get(url, headers=env.headers["customer"])
    assert response.status_code == 404
    assert_problem(response, 404)


# ------------------------------------------------------------ routes outside the role matrix


def test_public_auth_flows_answer_without_a_token_and_never_tell_who_exists(env: Env) -> None:
    """Pre-login flows take no role: they answer without a token, the same for a login that exists
    and one that does not, and refuse a bad token or code with problem JSON."""
    client = env.client
    known_email = env.w1.customer_a.login
    unknown_email = f"nobody-{uuid.uuid4().hex[:10]}@example.test"
    unknown_phone = random_phone()
    wrong_code = "000000"

    def same_for_both(path: str, known: dict[str, Any], unknown: dict[str, Any], status: int) -> Response:
        first: Response = client.post(f"{API}{path}", json=known)  # no Authorization header at all
        second = client.post(f"{API}{path}", json=unknown)
        assert (first.status_code, second.status_code) == (status, status), (first.text, second.text)
        assert first.json() == second.json(), path
        if status >= 400:
            assert_problem(first, status)
        return first

    accepted = same_for_both("/auth/password-reset", {"login": known_email}, {"login": unknown_email}, 202)
    assert accepted.json()["expires_in_seconds"] > 0
    same_for_both("/auth/password-reset", {"login": env.phone}, {"login": unknown_phone}, 202)
    same_for_both("/auth/sms-code", {"phone": env.phone}, {"phone": unknown_phone}, 202)
    same_for_both(
        "/auth/login-code",
        {"phone": env.phone, "code": wrong_code},
        {"phone": unknown_phone, "code": wrong_code},
        401,
    )
    reset = {"code": wrong_code, "password": "a long new password"}
    same_for_both(
        "/auth/password-reset/confirm", {"phone": env.phone, **reset}, {"phone": unknown_phone, **reset}, 422
    )

    bad_token = secrets.token_urlsafe(32)
    for path, body in (
        ("/auth/password-reset/check", {"token": bad_token}),
        ("/auth/password-reset/confirm", {"token": bad_token, "password": "a long new password"}),
        ("/auth/invitations/accept", {"token": bad_token, "password": "a long new password"}),
    ):
        response = client.post(f"{API}{path}", json=body)
        assert response.status_code == 422, (path, response.text)
        assert_problem(response, 422)
        assert [e["field"] for e in response.json()["errors"]] == ["token"], path
    for path, body in (
        ("/auth/password-reset", {"login": "neither a phone nor an e-mail"}),
        ("/auth/sms-code", {"phone": "not a phone"}),
    ):
        response = client.post(f"{API}{path}", json=body)
        assert response.status_code == 422, (path, response.text)
        assert_problem(response, 422)
    # Nothing was spent or logged in: the account still logs in with its password.
    login(client, env.phone)


async def _first_bytes(app: Any, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Drive an endless ASGI response until its first body bytes, then disconnect like a browser."""
    status: list[int] = []
    headers: dict[str, str] = {}
    chunks: list[bytes] = []
    first = anyio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await first.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            headers.update({k.decode().lower(): v.decode() for k, v in message.get("headers", [])})
        elif message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])
            first.set()

    with anyio.fail_after(10):  # a stream that never starts, or never stops, fails instead of hanging
        await app(scope, receive, send)
    return status[0], headers, b"".join(chunks)


def test_event_stream_needs_a_token_and_starts_with_one(env: Env) -> None:
    path = EVENTS_ROUTE[1]
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        refused = env.client.get(path, headers=headers)
        assert refused.status_code == 401
        assert_problem(refused, 401)
    portal = env.client.portal
    assert portal is not None  # the module's client is open: its event loop runs the live hub
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"accept", b"text/event-stream"),
            (b"authorization", env.headers["customer"]["Authorization"].encode()),
        ],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": dict(env.client.app_state),
        "extensions": {},
    }
    status, headers, body = portal.call(_first_bytes, env.client.app, scope)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert b"event: ready" in body
