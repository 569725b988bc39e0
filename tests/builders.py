"""Small typed builders: a whole tenant with every role, and tickets driven to any stage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor, load_actor
from fixflow.accounts.models import Member
from fixflow.accounts.service import add_member, create_account
from fixflow.catalogs.models import WorkType
from fixflow.objects.models import ObjectType
from fixflow.objects.service import create_object
from fixflow.tenants.models import Company, CompanyKind
from fixflow.tenants.service import create_tenant
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import TicketDraft, create_ticket, update_ticket
from fixflow.tickets.transitions import available_transitions_for, transition_ticket
from fixflow.tickets.works import WorkDraft, add_work

PASSWORD = "correct horse"


@dataclass
class Person:
    actor: Actor
    login: str

    @property
    def id(self) -> int:
        return self.actor.member_id


@dataclass
class World:
    tenant_id: int
    slug: str
    type_id: int
    company_a: int
    company_b: int
    own_company: int
    people: dict[str, Person]
    objects_a: list[int]
    objects_b: list[int]
    site_a: int
    site_b: int
    work_type_id: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Person:
        people = self.__dict__.get("people", {})
        if name in people:
            return people[name]  # type: ignore[no-any-return]
        raise AttributeError(name)


ROLES = {
    "owner": (["owner"], "own", False),
    "admin": (["admin"], "own", False),
    "dispatcher": (["dispatcher"], "own", False),
    "executor": (["executor"], "own", True),
    "executor2": (["executor"], "own", True),
    "cadmin_a": (["customer_admin"], "a", False),
    "customer_a": (["customer"], "a", False),
    "customer_a2": (["customer"], "a", False),
    "customer_b": (["customer"], "b", False),
    "cadmin_b": (["customer_admin"], "b", False),
}


def make_world(session: Session, *, password: str = PASSWORD) -> World:
    suffix = uuid.uuid4().hex[:8]
    defaults = create_tenant(session, name=f"Сервис {suffix}", slug=f"t-{suffix}")
    tid = defaults.tenant.id
    company_a = Company(tenant_id=tid, kind=CompanyKind.CUSTOMER, name=f"Альфа {suffix}", code="AL")
    company_b = Company(tenant_id=tid, kind=CompanyKind.CUSTOMER, name=f"Бета {suffix}", code="BE")
    session.add_all([company_a, company_b])
    session.flush()
    companies = {"own": defaults.own_company.id, "a": company_a.id, "b": company_b.id}
    members: dict[str, tuple[Member, str]] = {}
    for key, (roles, company, mobile) in ROLES.items():
        email = f"{key}-{suffix}@example.test"
        account = create_account(session, email=email, password=password)
        member = add_member(
            session,
            tenant_id=tid,
            account=account,
            role_codes=roles,
            company_ids=[companies[company]],
            last_name=key.capitalize(),
            first_name="Test",
            is_mobile=mobile,
        )
        members[key] = (member, email)
    # Actors after everyone exists: an actor knows its colleagues as of when it was loaded.
    people = {key: Person(load_actor(session, member), email) for key, (member, email) in members.items()}
    types = {t.name: t.id for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == tid))}
    site_a = create_object(
        session,
        tenant_id=tid,
        name="Site A",
        type_id=types["Площадка"],
        company_id=company_a.id,
        address="Addr A",
    )
    site_b = create_object(
        session,
        tenant_id=tid,
        name="Site B",
        type_id=types["Площадка"],
        company_id=company_b.id,
        address="Addr B",
    )
    eq_a = create_object(
        session,
        tenant_id=tid,
        name="Pump A",
        type_id=types["Оборудование"],
        company_id=company_a.id,
        parent_id=site_a.id,
    )
    eq_b = create_object(
        session,
        tenant_id=tid,
        name="Pump B",
        type_id=types["Оборудование"],
        company_id=company_b.id,
        parent_id=site_b.id,
    )
    work_type = session.scalars(
        select(WorkType).where(WorkType.tenant_id == tid).order_by(WorkType.id)
    ).first()
    assert work_type is not None
    session.flush()
    return World(
        tenant_id=tid,
        slug=defaults.tenant.slug,
        type_id=defaults.ticket_type.id,
        company_a=company_a.id,
        company_b=company_b.id,
        own_company=defaults.own_company.id,
        people=people,
        objects_a=[site_a.id, eq_a.id],
        objects_b=[site_b.id, eq_b.id],
        site_a=site_a.id,
        site_b=site_b.id,
        work_type_id=work_type.id,
    )


def make_ticket(
    session: Session, world: World, *, by: str = "customer_a", object_id: int | None = None, **overrides: Any
) -> Ticket:
    actor = world.people[by].actor
    default_object = world.objects_b[1] if actor.company_ids == {world.company_b} else world.objects_a[1]
    draft = TicketDraft(
        type_id=overrides.pop("type_id", world.type_id),
        object_id=object_id or default_object,
        description=overrides.pop("description", "Broken pump"),
        **overrides,
    )
    return create_ticket(session, actor, draft)


def fire(
    session: Session, world: World, ticket: Ticket, who: str, label: str, comment: str | None = None
) -> Ticket:
    actor = world.people[who].actor
    offered = {t.label: t.id for t in available_transitions_for(session, actor, ticket)}
    if label not in offered:
        raise AssertionError(f"{label!r} not offered to {who}: {sorted(offered)}")
    return transition_ticket(
        session, actor, ticket, transition_id=offered[label], version=ticket.version, comment=comment
    )


def assign(session: Session, world: World, ticket: Ticket, *executors: str) -> None:
    ids = [world.people[e].id for e in executors or ("executor",)]
    update_ticket(
        session, world.dispatcher.actor, ticket, version=ticket.version, changes={"executor_ids": ids}
    )


def add_some_work(session: Session, world: World, ticket: Ticket, who: str = "executor") -> None:
    add_work(
        session,
        world.people[who].actor,
        ticket,
        WorkDraft(work_type_id=world.work_type_id, quantity=Decimal("1")),
    )


STAGE_PATHS: dict[str, list[tuple[str, str, str | None]]] = {
    "Новая": [],
    "Назначена": [("dispatcher", "Назначить", None)],
    "Принята": [("dispatcher", "Назначить", None), ("executor", "Принять", None)],
    "В работе": [
        ("dispatcher", "Назначить", None),
        ("executor", "Принять", None),
        ("executor", "Начать работу", None),
    ],
    "Отказ исполнителя": [("dispatcher", "Назначить", None), ("executor", "Отказаться", "no parts")],
    "Отказ заказчика": [("initiator", "Отменить заявку", None)],
}
STAGE_PATHS["Согласование"] = [*STAGE_PATHS["В работе"], ("executor", "На согласование", None)]
STAGE_PATHS["Не согласована"] = [
    *STAGE_PATHS["Согласование"],
    ("approver", "Не согласовывать", "too expensive"),
]
STAGE_PATHS["Работы выполнены"] = [*STAGE_PATHS["В работе"], ("executor", "Завершить работы", None)]
STAGE_PATHS["Выполнена"] = [*STAGE_PATHS["Работы выполнены"], ("initiator", "Принять работы", None)]
STAGE_PATHS["Закрыта"] = [*STAGE_PATHS["Выполнена"], ("dispatcher", "Закрыть", None)]


def ticket_in_stage(
    session: Session, world: World, stage: str, *, by: str = "customer_a", approver: str | None = None
) -> Ticket:
    ticket = make_ticket(session, world, by=by)
    approver = approver or by
    for who, label, comment in STAGE_PATHS[stage]:
        if label in ("Назначить",):
            assign(session, world, ticket)
        if label == "На согласование":
            update_ticket(
                session,
                world.dispatcher.actor,
                ticket,
                version=ticket.version,
                changes={"approver_member_id": world.people[approver].id},
            )
        if label == "Завершить работы":
            add_some_work(session, world, ticket)
        actor_key = {"initiator": by, "approver": approver}.get(who, who)
        fire(session, world, ticket, actor_key, label, comment)
    return ticket


def login(client: TestClient, person: Person | str, password: str = PASSWORD) -> dict[str, str]:
    login_value = person.login if isinstance(person, Person) else person
    response = client.post("/api/v1/auth/login", json={"login": login_value, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def member(session: Session, person: Person) -> Member:
    found = session.get(Member, person.id)
    assert found is not None
    return found
