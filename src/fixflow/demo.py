"""Demo data: «Демо Сервис» with every role, two customer companies, objects and tickets in every stage.

Everything is created through the same services the API uses, so the history and events are real.
Every login's password is ``demo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor, load_actor
from fixflow.accounts.models import Member
from fixflow.accounts.service import add_member, create_account
from fixflow.catalogs.models import WorkType
from fixflow.objects.models import ObjectType
from fixflow.objects.service import create_object
from fixflow.ratings.service import active_criteria, rate_ticket
from fixflow.tenants.models import Company, CompanyKind, Tenant
from fixflow.tenants.service import create_tenant
from fixflow.tickets.models import Ticket
from fixflow.tickets.service import TicketDraft, add_favorite, create_ticket, update_ticket
from fixflow.tickets.transitions import available_transitions_for, transition_ticket
from fixflow.tickets.works import WorkDraft, add_work

DEMO_SLUG = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 (documented demo credential)


@dataclass
class DemoPeople:
    owner: Actor
    dispatcher: Actor
    executor1: Actor
    executor2: Actor
    romashka_admin: Actor
    anna: Actor
    apteka: Actor


def demo_exists(session: Session) -> bool:
    return session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG)) is not None


def _person(
    session: Session,
    tenant_id: int,
    *,
    email: str | None = None,
    phone: str | None = None,
    roles: list[str],
    last: str,
    first: str,
    patronymic: str = "",
    position: str = "",
    companies: list[int] | None = None,
    mobile: bool = False,
) -> Actor:
    account = create_account(session, email=email, phone=phone, password=DEMO_PASSWORD)
    account.email_verified = bool(email)
    account.phone_verified = bool(phone)
    member = add_member(
        session,
        tenant_id=tenant_id,
        account=account,
        role_codes=roles,
        company_ids=companies or [],
        last_name=last,
        first_name=first,
        patronymic=patronymic,
        position=position,
        is_mobile=mobile,
    )
    return load_actor(session, member)


def _objects(
    session: Session, tenant_id: int, company: Company, sites: list[tuple[str, str, list[str]]]
) -> list[int]:
    types = {
        t.name: t.id for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == tenant_id))
    }
    ids: list[int] = []
    for site_name, address, equipment in sites:
        site = create_object(
            session,
            tenant_id=tenant_id,
            name=site_name,
            type_id=types["Площадка"],
            company_id=company.id,
            address=address,
            object_class="Площадка",
        )
        for i, item in enumerate(equipment, start=1):
            eq = create_object(
                session,
                tenant_id=tenant_id,
                name=item,
                type_id=types["Оборудование"],
                company_id=company.id,
                parent_id=site.id,
                object_class="Оборудование",
                serial_number=f"SN-{site.id:03d}-{i:02d}",
            )
            ids.append(eq.id)
    return ids


def _go(session: Session, actor: Actor, ticket: Ticket, label: str, comment: str | None = None) -> None:
    offered = {t.label: t.id for t in available_transitions_for(session, actor, ticket)}
    transition_ticket(
        session, actor, ticket, transition_id=offered[label], version=ticket.version, comment=comment
    )


# The path from «Новая» to each stage, as (who, button label, comment).
PATHS: dict[str, list[tuple[str, str, str | None]]] = {
    "Новая": [],
    "Назначена": [("dispatcher", "Назначить", None)],
    "Принята": [("dispatcher", "Назначить", None), ("executor", "Принять", None)],
    "В работе": [
        ("dispatcher", "Назначить", None),
        ("executor", "Принять", None),
        ("executor", "Начать работу", None),
    ],
    "Отказ исполнителя": [
        ("dispatcher", "Назначить", None),
        ("executor", "Отказаться", "Нет нужной запчасти"),
    ],
    "Отказ заказчика": [("customer", "Отменить заявку", None)],
}
_WORKING = PATHS["В работе"]
PATHS["Согласование"] = [*_WORKING, ("executor", "На согласование", None)]
PATHS["Не согласована"] = [*PATHS["Согласование"], ("approver", "Не согласовывать", "Слишком дорого")]
PATHS["Работы выполнены"] = [*_WORKING, ("executor", "Завершить работы", None)]
PATHS["Выполнена"] = [*PATHS["Работы выполнены"], ("customer", "Принять работы", None)]
PATHS["Закрыта"] = [*PATHS["Выполнена"], ("dispatcher", "Закрыть", None)]


def _ticket_to_stage(
    session: Session,
    people: DemoPeople,
    *,
    initiator: Actor,
    object_id: int,
    stage: str,
    description: str,
    executor: Actor,
    approver: Actor | None = None,
    type_id: int,
) -> Ticket:
    ticket = create_ticket(
        session,
        initiator,
        TicketDraft(type_id=type_id, object_id=object_id, description=description, source="app"),
    )
    steps = PATHS[stage]
    if steps and steps[0][1] == "Назначить":
        update_ticket(
            session,
            people.dispatcher,
            ticket,
            version=ticket.version,
            changes={"executor_ids": [executor.member_id]},
        )
    for who, label, comment in steps:
        if label == "На согласование":
            update_ticket(
                session,
                people.dispatcher,
                ticket,
                version=ticket.version,
                changes={"approver_member_id": (approver or initiator).member_id},
            )
        if label == "Завершить работы":
            wt = session.scalars(select(WorkType).where(WorkType.tenant_id == ticket.tenant_id)).first()
            assert wt is not None
            add_work(
                session,
                executor,
                ticket,
                WorkDraft(
                    work_type_id=wt.id, duration_minutes=90, quantity=Decimal("1"), comment="Заменён узел"
                ),
            )
        actor = {
            "dispatcher": people.dispatcher,
            "executor": executor,
            "customer": initiator,
            "approver": approver or initiator,
        }[who]
        _go(session, actor, ticket, label, comment)
    return ticket


def create_demo(session: Session) -> DemoPeople:
    defaults = create_tenant(session, name="Демо Сервис", slug=DEMO_SLUG)
    tid = defaults.tenant.id
    romashka = Company(
        tenant_id=tid,
        kind=CompanyKind.CUSTOMER,
        name="Кафе Ромашка",
        legal_name="ООО «Ромашка»",
        code="RM",
        phone="+74950000011",
        email="info@romashka.test",
        address="Москва, ул. Цветочная, 1",
    )
    apteka = Company(
        tenant_id=tid,
        kind=CompanyKind.CUSTOMER,
        name="Аптека Здоровье",
        legal_name="ООО «Здоровье»",
        code="AZ",
        phone="+74950000021",
        email="info@apteka.test",
        address="Москва, пр. Мира, 10",
    )
    session.add_all([romashka, apteka])
    session.flush()
    own = defaults.own_company.id
    people = DemoPeople(
        owner=_person(
            session,
            tid,
            email="owner@demo.fixflow",
            roles=["owner"],
            last="Владимиров",
            first="Олег",
            position="Руководитель",
            companies=[own],
        ),
        dispatcher=_person(
            session,
            tid,
            email="dispatcher@demo.fixflow",
            roles=["dispatcher"],
            last="Диспетчерова",
            first="Дарья",
            position="Диспетчер",
            companies=[own],
        ),
        executor1=_person(
            session,
            tid,
            phone="+7 900 000-00-01",
            roles=["executor"],
            last="Иванов",
            first="Иван",
            patronymic="Петрович",
            position="Инженер",
            companies=[own],
            mobile=True,
        ),
        executor2=_person(
            session,
            tid,
            phone="+7 900 000-00-02",
            roles=["executor"],
            last="Петров",
            first="Пётр",
            patronymic="Сергеевич",
            position="Инженер",
            companies=[own],
            mobile=True,
        ),
        romashka_admin=_person(
            session,
            tid,
            phone="+7 900 000-00-11",
            roles=["customer_admin"],
            last="Ромашкина",
            first="Раиса",
            position="Управляющая",
            companies=[romashka.id],
        ),
        anna=_person(
            session,
            tid,
            email="anna@romashka.test",
            roles=["customer"],
            last="Смирнова",
            first="Анна",
            position="Администратор зала",
            companies=[romashka.id],
        ),
        apteka=_person(
            session,
            tid,
            phone="+7 900 000-00-21",
            roles=["customer"],
            last="Здоровцев",
            first="Захар",
            position="Заведующий",
            companies=[apteka.id],
        ),
    )
    _multi_tenant_account(session, own_company_id=own)
    rm_objects = _objects(
        session,
        tid,
        romashka,
        [
            (
                "Кафе на Цветочной",
                "Москва, ул. Цветочная, 1",
                ["Кофемашина La Marzocco", "Холодильная витрина", "Посудомоечная машина"],
            ),
            ("Кафе на Садовой", "Москва, ул. Садовая, 5", ["Кондиционер Daikin", "Пароконвектомат"]),
        ],
    )
    az_objects = _objects(
        session,
        tid,
        apteka,
        [
            ("Аптека на Мира", "Москва, пр. Мира, 10", ["Холодильник для вакцин", "Кассовый терминал"]),
            ("Аптека на Ленина", "Москва, ул. Ленина, 3", ["Вентиляция", "Кондиционер Mitsubishi"]),
        ],
    )
    type_id = defaults.ticket_type.id
    stages = list(PATHS)
    romashka_tickets: dict[str, Ticket] = {}
    for i, stage in enumerate(stages):
        initiator = people.anna if i % 3 != 2 else people.romashka_admin
        romashka_tickets[stage] = _ticket_to_stage(
            session,
            people,
            initiator=initiator,
            object_id=rm_objects[i % len(rm_objects)],
            stage=stage,
            description=f"{DESCRIPTIONS[i % len(DESCRIPTIONS)]} (Ромашка, {stage.lower()})",
            executor=people.executor1 if i % 2 == 0 else people.executor2,
            type_id=type_id,
            approver=people.anna,
        )
        _ticket_to_stage(
            session,
            people,
            initiator=people.apteka,
            object_id=az_objects[i % len(az_objects)],
            stage=stage,
            description=f"{DESCRIPTIONS[(i + 3) % len(DESCRIPTIONS)]} (Аптека, {stage.lower()})",
            executor=people.executor2 if i % 2 == 0 else people.executor1,
            type_id=type_id,
            approver=people.apteka,
        )
    _ratings_and_favorites(session, people, romashka_tickets)
    return people


def _ratings_and_favorites(session: Session, people: DemoPeople, tickets: dict[str, Ticket]) -> None:
    criteria = active_criteria(session, people.anna.tenant_id)
    for stage, stars in (("Выполнена", 5), ("Закрыта", 4)):
        ticket = tickets[stage]
        rater = people.anna if ticket.initiator_id == people.anna.member_id else people.romashka_admin
        rate_ticket(session, rater, ticket, scores={c.id: stars for c in criteria}, comment="Спасибо!")
    for stage in ("Новая", "Закрыта", "Согласование"):
        ticket = tickets[stage]
        viewer = people.anna if ticket.initiator_id == people.anna.member_id else people.romashka_admin
        add_favorite(session, viewer, ticket)


def _multi_tenant_account(session: Session, *, own_company_id: int) -> None:
    """``multi@demo.fixflow`` is a dispatcher in «Демо Сервис» and in «Второй Сервис»."""
    account = create_account(session, email="multi@demo.fixflow", password=DEMO_PASSWORD)
    account.email_verified = True
    demo_tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
    assert demo_tenant is not None
    add_member(
        session,
        tenant_id=demo_tenant.id,
        account=account,
        role_codes=["dispatcher"],
        company_ids=[own_company_id],
        last_name="Многоликий",
        first_name="Максим",
    )
    second = create_tenant(session, name="Второй Сервис", slug="second")
    add_member(
        session,
        tenant_id=second.tenant.id,
        account=account,
        role_codes=["dispatcher"],
        company_ids=[second.own_company.id],
        last_name="Многоликий",
        first_name="Максим",
    )


DESCRIPTIONS = [
    "Не включается оборудование, нет индикации питания",
    "Течёт вода из-под корпуса",
    "Посторонний шум при работе",
    "Не держит температуру",
    "Ошибка E12 на дисплее",
    "Плановая проверка после ремонта",
]


def demo_member(session: Session, email_or_phone: str) -> Member | None:
    from fixflow.accounts.logins import parse_login
    from fixflow.accounts.models import Account

    login = parse_login(email_or_phone)
    column = Account.email if login.kind == "email" else Account.phone
    return session.scalar(
        select(Member).join(Account, Account.id == Member.account_id).where(column == login.value)
    )
