"""Benchmark datasets (spec/quality.md, Performance): a separate tenant «bench», large and quick to make.

The tenant comes from the real provisioning (:func:`create_tenant`: roles, catalogues, the default
lifecycle). The volume — people, objects, tickets and what hangs off them — is written in bulk (COPY on
PostgreSQL, ``executemany`` on SQLite) with ids allocated here, because a million tickets through the
services would take hours. The rows follow what the services write (statuses per stage, requirements met
before a stage, history kinds, stamps, versions), since the list queries under test filter on exactly
those columns. Every login's password is :data:`BENCH_PASSWORD`; it is hashed once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, Table, create_engine, func, select, text, update
from sqlalchemy.orm import Session

from fixflow.accounts.permissions import RoleCode
from fixflow.catalogs.models import Criticality, RatingCriterion, TicketCounter, TicketType, WorkType
from fixflow.catalogs.numbering import render_number
from fixflow.core.db import UTCDateTime, utcnow
from fixflow.core.security import hash_password
from fixflow.models import Base
from fixflow.objects.models import ObjectType
from fixflow.tenants.models import CompanyKind, Tenant
from fixflow.tenants.service import create_tenant
from fixflow.tickets.history import HistoryKind
from fixflow.workflow.models import Stage, Transition

BENCH_SLUG = "bench"
BENCH_DOMAIN = "bench.test"
BENCH_PASSWORD = "bench-password"  # noqa: S105 (documented benchmark credential)
L_TICKETS = 1_000_000
L_SHAPE = {"companies": 2_000, "members": 20_000, "objects": 100_000, "executors": 300}
CHUNK = 20_000
SPAN = dt.timedelta(days=3 * 365)


class BenchSeedError(RuntimeError):
    pass


def customer_login(n: int, domain: str = BENCH_DOMAIN) -> str:
    """Plain customer n (1-based); dealt round-robin, so n and n+1 belong to different companies."""
    return f"bench-customer-{n}@{domain}"


def customer_admin_login(company_n: int, domain: str = BENCH_DOMAIN) -> str:
    return f"bench-customer-admin-{company_n}@{domain}"


def executor_login(n: int, domain: str = BENCH_DOMAIN) -> str:
    return f"bench-executor-{n}@{domain}"


def dispatcher_login(domain: str = BENCH_DOMAIN) -> str:
    return f"bench-dispatcher@{domain}"


def owner_login(domain: str = BENCH_DOMAIN) -> str:
    return f"bench-owner@{domain}"


@dataclass(frozen=True)
class BenchSizes:
    tickets: int
    companies: int
    members: int  # customer members, one customer_admin per company included
    objects: int
    executors: int

    @classmethod
    def for_tickets(
        cls,
        tickets: int,
        *,
        companies: int | None = None,
        members: int | None = None,
        objects: int | None = None,
        executors: int | None = None,
    ) -> BenchSizes:
        """The L shape scaled to ``tickets``; explicit counts win."""
        if tickets < 1:
            raise BenchSeedError("at least one ticket")
        scale = tickets / L_TICKETS

        def scaled(key: str, given: int | None, minimum: int) -> int:
            return given if given is not None else max(minimum, round(L_SHAPE[key] * scale))

        n_companies = scaled("companies", companies, 2)
        return cls(
            tickets=tickets,
            companies=n_companies,
            members=max(scaled("members", members, 2 * n_companies), n_companies),
            objects=max(scaled("objects", objects, 5 * n_companies), n_companies),
            executors=max(scaled("executors", executors, 3), 1),
        )


@dataclass
class BenchReport:
    tenant_id: int
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- sinks


def _sqlite_dt(value: dt.datetime) -> str:
    # SQLAlchemy's SQLite DATETIME text format; lists compare these strings, so it must match exactly.
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class _Sink:
    """Bulk writer bound to the session's connection, so the load is part of its transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self.raw: Any = session.connection().connection.driver_connection
        self.rows: dict[str, int] = {}

    def write(self, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names, extra = _complete_columns(table, columns)
        self.rows[table.name] = self.rows.get(table.name, 0) + len(rows)
        if self.dialect == "postgresql":
            with (
                self.raw.cursor() as cur,
                cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as cp,
            ):
                for row in rows:
                    cp.write_row(row + extra)
            return
        convert = _sqlite_converters(table, names)
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608 (own names)
        if convert:
            out = []
            for row in rows:
                values = list(row + extra)
                for i, fn in convert:
                    if values[i] is not None:
                        values[i] = fn(values[i])
                out.append(values)
            self.raw.cursor().executemany(sql, out)
        else:
            self.raw.cursor().executemany(sql, [row + extra for row in rows])

    def reserve_ids(self, table: Table, count: int) -> int:
        """The first of ``count`` unused ids; the sequence is moved past them afterwards (:meth:`sync`)."""
        top = int(self.session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0)
        if self.dialect == "postgresql":
            seq = self.session.scalar(text(f"SELECT pg_get_serial_sequence('{table.name}', 'id')"))
            if seq:
                last = self.session.scalar(text(f"SELECT last_value FROM {seq}"))  # noqa: S608
                top = max(top, int(last or 0))
        return top + 1

    def sync(self, table: Table) -> None:
        if self.dialect == "postgresql":
            name = table.name  # from our metadata, never user input
            top = f"(SELECT GREATEST(MAX(id), 1) FROM {name})"  # noqa: S608
            self.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), {top})"))

    def skip_fk_triggers(self) -> bool:
        """On PostgreSQL as a superuser, skip per-row foreign-key triggers (the generator keeps them true)."""
        if self.dialect != "postgresql":
            return False
        if self.session.scalar(text("SELECT current_setting('is_superuser')")) != "on":
            return False
        self.session.execute(text("SET LOCAL session_replication_role = replica"))
        return True


def _complete_columns(table: Table, given: Sequence[str]) -> tuple[list[str], tuple[Any, ...]]:
    """Columns the generator does not set get their model default, so new columns don't break seeding."""
    unknown = set(given) - set(table.c.keys())
    if unknown:
        raise BenchSeedError(f"{table.name}: unknown columns {sorted(unknown)}")
    names, extra = list(given), []
    for col in table.columns:
        if col.name in given or col.server_default is not None or col.nullable:
            continue
        default = col.default
        if default is None or not hasattr(default, "arg"):
            raise BenchSeedError(f"{table.name}.{col.name} is required and the generator does not set it")
        value = default.arg(None) if default.is_callable else default.arg
        names.append(col.name)
        extra.append(json.dumps(value) if isinstance(value, dict | list) else value)
    return names, tuple(extra)


def _sqlite_converters(table: Table, names: list[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        col_type = table.c[name].type
        if isinstance(col_type, UTCDateTime):
            out.append((i, _sqlite_dt))
        elif isinstance(col_type, Numeric) and col_type.asdecimal is not False:
            out.append((i, lambda v: str(v) if isinstance(v, Decimal) else v))
    return out


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


# ------------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class _Step:
    to_stage: int
    status: int | None
    actor: str  # dispatcher | executor | initiator | approver
    requirements: tuple[str, ...]
    entry_action: str | None
    comment: str | None


# Paths from the start stage through the default lifecycle (workflow/defaults.py), by stage name.
_WORK = ["Новая", "Назначена", "Принята", "В работе"]
_DONE = [*_WORK, "Работы выполнены", "Выполнена"]
_REJECTED = [*_WORK, "Согласование", "Не согласована"]
OPEN_PLANS: list[tuple[int, list[str]]] = [
    (20, _WORK[:1]),
    (15, _WORK[:2]),
    (10, _WORK[:3]),
    (25, _WORK),
    (5, [*_WORK, "Согласование"]),
    (2, _REJECTED),
    (10, _DONE[:-1]),
    (10, _DONE),
    (3, [*_WORK[:2], "Отказ исполнителя"]),
]
CLOSED_PLANS: list[tuple[int, list[str]]] = [
    (87, [*_DONE, "Закрыта"]),
    (3, [*_REJECTED, "Закрыта"]),
    (10, ["Новая", "Отказ заказчика"]),
]
DESCRIPTIONS = [
    "Не включается оборудование, нет индикации питания",
    "Течёт вода из-под корпуса, на полу лужа",
    "Посторонний шум при работе компрессора",
    "Не держит температуру, в камере +12",
    "Ошибка E12 на дисплее после перезапуска",
    "Плановая проверка после ремонта",
    "Искрит розетка у кассовой зоны",
    "Не работает вытяжка на кухне",
    "Сломан замок входной двери",
    "Мигает освещение в торговом зале",
    "Кондиционер дует тёплым воздухом",
    "Засор канализации в санузле",
]
LAST_NAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов"]
FIRST_NAMES = ["Анна", "Иван", "Мария", "Олег", "Дарья", "Пётр", "Елена", "Сергей"]
EQUIPMENT = ["Кофемашина", "Холодильная витрина", "Кондиционер", "Пароконвектомат", "Вентиляция"]


@dataclass
class _Catalog:
    tenant_id: int
    own_company_id: int
    roles: dict[str, int]
    type_id: int
    type_mask: str
    type_minutes: int
    start_stage: int
    start_status: int
    work_types: list[tuple[int, int, Decimal]]  # id, closing minutes, price
    criticalities: list[int]
    criteria: list[int]
    site_type: int
    equipment_type: int
    open_plans: list[tuple[int, list[_Step]]]
    closed_plans: list[tuple[int, list[_Step]]]


def _load_catalog(session: Session, tenant_id: int, own_company_id: int, roles: dict[str, int]) -> _Catalog:
    ticket_type = session.scalars(select(TicketType).where(TicketType.tenant_id == tenant_id)).one()
    stages = {
        s.name: s
        for s in session.scalars(select(Stage).where(Stage.lifecycle_id == ticket_type.lifecycle_id))
    }
    moves = {
        (t.from_stage_id, t.to_stage_id): t
        for t in session.scalars(
            select(Transition).where(Transition.lifecycle_id == ticket_type.lifecycle_id)
        )
    }

    def steps(path: list[str]) -> list[_Step]:
        out = []
        for a, b in itertools.pairwise(path):
            if a not in stages or b not in stages or (stages[a].id, stages[b].id) not in moves:
                raise BenchSeedError(f"the lifecycle has no transition {a} → {b}; update benchseed paths")
            t = moves[(stages[a].id, stages[b].id)]
            actor = {"customer": "initiator", "approval": "approver"}.get(t.branch)
            if actor is None:
                actor = "dispatcher" if not t.roles or "dispatcher" in t.roles else "executor"
            target = stages[b]
            comment = "Причина указана исполнителем" if t.requires_comment else None
            out.append(
                _Step(
                    target.id,
                    t.set_status_id,
                    actor,
                    tuple(target.requirements),
                    target.entry_action,
                    comment,
                )
            )
        return out

    types = {
        t.requires_address: t.id
        for t in session.scalars(select(ObjectType).where(ObjectType.tenant_id == tenant_id))
    }
    lifecycle_start = next(s for s in stages.values() if s.is_start)
    from fixflow.workflow.models import Lifecycle

    lifecycle = session.get(Lifecycle, ticket_type.lifecycle_id)
    assert lifecycle is not None
    return _Catalog(
        tenant_id=tenant_id,
        own_company_id=own_company_id,
        roles=roles,
        type_id=ticket_type.id,
        type_mask=ticket_type.number_mask,
        type_minutes=ticket_type.closing_minutes,
        start_stage=lifecycle_start.id,
        start_status=lifecycle.start_status_id,
        work_types=[
            (w.id, w.closing_minutes, w.price)
            for w in session.scalars(
                select(WorkType).where(WorkType.tenant_id == tenant_id).order_by(WorkType.id)
            )
        ],
        criticalities=list(
            session.scalars(
                select(Criticality.id)
                .where(Criticality.tenant_id == tenant_id)
                .order_by(Criticality.sort_order)
            )
        ),
        criteria=list(
            session.scalars(select(RatingCriterion.id).where(RatingCriterion.tenant_id == tenant_id))
        ),
        site_type=types[True],
        equipment_type=types[False],
        open_plans=[(w, steps(p)) for w, p in OPEN_PLANS],
        closed_plans=[(w, steps(p)) for w, p in CLOSED_PLANS],
    )


# ---------------------------------------------------------------------------------------------- people


@dataclass
class _People:
    owner: int
    dispatcher: int
    executors: list[int]
    company_ids: list[int]
    members_of: list[list[int]]  # per company: its customer_admin first, then its customers


def _seed_people(
    sink: _Sink, cat: _Catalog, sizes: BenchSizes, domain: str, now: dt.datetime, rng: random.Random
) -> _People:
    password_hash = hash_password(BENCH_PASSWORD)  # once: argon2 costs ~50 ms a hash
    companies, accounts, t_companies = [], [], _table("companies")
    first_company = sink.reserve_ids(t_companies, sizes.companies)
    company_ids = [first_company + c for c in range(sizes.companies)]
    for c, cid in enumerate(company_ids, start=1):
        companies.append(
            (
                cid,
                cat.tenant_id,
                CompanyKind.CUSTOMER.value,
                f"Bench Заказчик {c:04d}",
                f"ООО «Бенч {c}»",
                f"B{c}",
                f"bench-{c}@{domain}",
                f"Москва, ул. Бенчмарковая, {c}",
                now,
            )
        )
    sink.write(
        t_companies,
        ["id", "tenant_id", "kind", "name", "legal_name", "code", "email", "address", "created_at"],
        companies,
    )
    people: list[tuple[str, str, bool, int | None]] = [  # login, role, mobile, company index
        (owner_login(domain), RoleCode.OWNER, False, None),
        (dispatcher_login(domain), RoleCode.DISPATCHER, False, None),
        *((executor_login(n, domain), RoleCode.EXECUTOR, True, None) for n in range(1, sizes.executors + 1)),
        *(
            (customer_admin_login(c + 1, domain), RoleCode.CUSTOMER_ADMIN, False, c)
            for c in range(sizes.companies)
        ),
        *(
            (customer_login(k + 1, domain), RoleCode.CUSTOMER, False, k % sizes.companies)
            for k in range(sizes.members - sizes.companies)
        ),
    ]
    first_account = sink.reserve_ids(_table("accounts"), len(people))
    first_member = sink.reserve_ids(_table("members"), len(people))
    members, member_roles, member_companies = [], [], []
    members_of: list[list[int]] = [[] for _ in company_ids]
    for k, (login, role, mobile, company) in enumerate(people):
        mid = first_member + k
        accounts.append((first_account + k, login, password_hash, True, now))
        members.append(
            (
                mid,
                cat.tenant_id,
                first_account + k,
                rng.choice(LAST_NAMES),
                rng.choice(FIRST_NAMES),
                "Инженер" if mobile else "",
                mobile,
                now,
            )
        )
        member_roles.append((cat.tenant_id, mid, cat.roles[role]))
        member_companies.append(
            (cat.tenant_id, mid, cat.own_company_id if company is None else company_ids[company])
        )
        if company is not None:
            members_of[company].append(mid)
    sink.write(_table("accounts"), ["id", "email", "password_hash", "email_verified", "created_at"], accounts)
    sink.write(
        _table("members"),
        ["id", "tenant_id", "account_id", "last_name", "first_name", "position", "is_mobile", "created_at"],
        members,
    )
    sink.write(_table("member_roles"), ["tenant_id", "member_id", "role_id"], member_roles)
    sink.write(_table("member_companies"), ["tenant_id", "member_id", "company_id"], member_companies)
    return _People(
        owner=first_member,
        dispatcher=first_member + 1,
        executors=[first_member + 2 + n for n in range(sizes.executors)],
        company_ids=company_ids,
        members_of=members_of,
    )


@dataclass
class _Objects:
    sites_of: list[list[tuple[int, str]]]  # per company: (id, address)
    equipment_of: list[list[tuple[int, str]]]  # per company: (id, the site's address)


def _seed_objects(
    sink: _Sink, cat: _Catalog, sizes: BenchSizes, people: _People, now: dt.datetime
) -> _Objects:
    """Per company: sites (one in five objects) with the equipment spread over them as children."""
    table = _table("objects")
    next_id = sink.reserve_ids(table, sizes.objects)
    rows: list[tuple[Any, ...]] = []
    result = _Objects([], [])
    per, extra = divmod(sizes.objects, sizes.companies)
    for c, company_id in enumerate(people.company_ids):
        count = per + (1 if c < extra else 0)
        n_sites = max(1, round(count / 5))
        sites, equipment = [], []
        for s in range(n_sites):
            address = f"Москва, ул. Бенчмарковая, {c + 1}, стр. {s + 1}"
            rows.append(
                (
                    next_id,
                    cat.tenant_id,
                    None,
                    f"/{next_id}/",
                    cat.site_type,
                    f"Площадка {c + 1}-{s + 1}",
                    "Площадка",
                    company_id,
                    address,
                    "",
                    now,
                )
            )
            sites.append((next_id, address))
            next_id += 1
        for e in range(count - n_sites):
            site_id, address = sites[e % n_sites]
            rows.append(
                (
                    next_id,
                    cat.tenant_id,
                    site_id,
                    f"/{site_id}/{next_id}/",
                    cat.equipment_type,
                    f"{EQUIPMENT[e % len(EQUIPMENT)]} №{e + 1}",
                    "Оборудование",
                    company_id,
                    "",
                    f"SN-{next_id:08d}",
                    now,
                )
            )
            equipment.append((next_id, address))
            next_id += 1
        result.sites_of.append(sites)
        result.equipment_of.append(equipment)
    sink.write(
        table,
        [
            "id",
            "tenant_id",
            "parent_id",
            "path",
            "type_id",
            "name",
            "object_class",
            "company_id",
            "address",
            "serial_number",
            "created_at",
        ],
        rows,
    )
    return result


# --------------------------------------------------------------------------------------------- tickets


def _names(spaced: str) -> list[str]:
    return spaced.split()


TICKET_COLUMNS = _names(
    "id tenant_id number type_id criticality_id description company_id object_id address "
    "work_type_id initiator_id created_by_id approver_member_id stage_id status_id deadline "
    "deadline_manual created_at updated_at stage_entered_at completed_at closed_at source fields "
    "rating_score version deleted_at"
)
HISTORY_COLUMNS = _names("id tenant_id ticket_id at actor_id kind field old new comment")
WORK_COLUMNS = _names(
    "id tenant_id ticket_id work_type_id member_id duration_minutes quantity price comment "
    "created_by_id created_at"
)
RATING_COLUMNS = _names("id tenant_id ticket_id rater_id scores score comment created_at updated_at")
SOURCES = (("app", 60), ("web", 20), ("email", 10), ("api", 10))


def _js(value: Any) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, int) else json.dumps(value, ensure_ascii=False)


@dataclass
class _Chunk:
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    executors: list[tuple[Any, ...]] = field(default_factory=list)
    works: list[tuple[Any, ...]] = field(default_factory=list)
    ratings: list[tuple[Any, ...]] = field(default_factory=list)
    favorites: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class _Ids:
    ticket: int
    history: int
    work: int
    rating: int


class _TicketMaker:
    """One ticket at a time, walking a lifecycle path the way the services would have."""

    def __init__(
        self,
        cat: _Catalog,
        people: _People,
        objects: _Objects,
        ids: _Ids,
        n: int,
        now: dt.datetime,
        seed: int,
    ) -> None:
        self.cat, self.people, self.objects, self.ids, self.n, self.now = cat, people, objects, ids, n, now
        self.rng = random.Random(seed)
        self.start = now - SPAN
        self.step = SPAN / n
        self.open_plans = [p for _, p in cat.open_plans]
        self.open_cum = _cumulative([w for w, _ in cat.open_plans])
        self.closed_plans = [p for _, p in cat.closed_plans]
        self.closed_cum = _cumulative([w for w, _ in cat.closed_plans])
        self.source_names = [s for s, _ in SOURCES]
        self.source_cum = _cumulative([w for _, w in SOURCES])

    def later(self, at: dt.datetime) -> dt.datetime:
        minutes = self.rng.randint(5, 600) + (
            self.rng.randint(2, 5) * 1440 if self.rng.random() < 0.05 else 0
        )
        return min(at + dt.timedelta(minutes=minutes), self.now)

    def history(
        self,
        chunk: _Chunk,
        tid: int,
        at: dt.datetime,
        actor: int | None,
        kind: str,
        fld: str | None = None,
        old: Any = None,
        new: Any = None,
        comment: str | None = None,
    ) -> None:
        chunk.history.append(
            (self.ids.history, self.cat.tenant_id, tid, at, actor, kind, fld, _js(old), _js(new), comment)
        )
        self.ids.history += 1

    def make(self, i: int, chunk: _Chunk) -> None:
        rng, cat, people = self.rng, self.cat, self.people
        tid = self.ids.ticket + i
        created = self.start + self.step * (i + rng.random())
        c = rng.randrange(len(people.company_ids))
        members = people.members_of[c]
        initiator = rng.choice(members)
        pool = self.objects.equipment_of[c] if self.objects.equipment_of[c] and rng.random() < 0.75 else None
        object_id, address = rng.choice(pool or self.objects.sites_of[c])
        r = i / self.n
        p_open = 0.15 if r < 0.6 else 0.15 + 0.8 * (r - 0.6) / 0.4
        if rng.random() < p_open:
            steps = rng.choices(self.open_plans, cum_weights=self.open_cum)[0]
        else:
            steps = rng.choices(self.closed_plans, cum_weights=self.closed_cum)[0]
        source = rng.choices(self.source_names, cum_weights=self.source_cum)[0]
        created_by = people.dispatcher if source in ("web", "email") and rng.random() < 0.5 else initiator
        work_type = rng.choice(cat.work_types) if rng.random() < 0.7 else None
        minutes = min(cat.type_minutes, work_type[1]) if work_type else cat.type_minutes
        number = render_number(cat.type_mask, i + 1, at=created, company_code=f"B{c + 1}")
        self.history(chunk, tid, created, created_by, HistoryKind.CREATED, new={"number": number})
        s = _State(stage=cat.start_stage, status=cat.start_status, at=created, entered=created)
        executor = rng.choice(people.executors)
        for step in steps:
            self.walk(
                chunk,
                tid,
                s,
                step,
                initiator=initiator,
                executor=executor,
                admin=members[0],
                work_type=work_type,
            )
        if rng.random() < 0.002:
            s.at = self.later(s.at)
            s.deleted = s.at
            s.version += 1
            self.history(chunk, tid, s.at, people.owner, HistoryKind.DELETED)
        chunk.executors.extend((cat.tenant_id, tid, m) for m in s.executors)
        self.favorites(chunk, tid, created, initiator, s.executors, deleted=s.deleted is not None)
        crit = rng.choice(cat.criticalities) if rng.random() < 0.3 else cat.criticalities[1]
        chunk.tickets.append(
            (
                tid,
                cat.tenant_id,
                number,
                cat.type_id,
                crit,
                rng.choice(DESCRIPTIONS),
                people.company_ids[c],
                object_id,
                address,
                work_type[0] if work_type else None,
                initiator,
                created_by,
                s.approver,
                s.stage,
                s.status,
                created + dt.timedelta(minutes=minutes),
                False,
                created,
                s.at,
                s.entered,
                s.completed,
                s.closed,
                source,
                "{}",
                s.rating,
                s.version,
                s.deleted,
            )
        )

    def walk(
        self,
        chunk: _Chunk,
        tid: int,
        s: _State,
        step: _Step,
        *,
        initiator: int,
        executor: int,
        admin: int,
        work_type: tuple[int, int, Decimal] | None,
    ) -> None:
        rng, dispatcher = self.rng, self.people.dispatcher
        s.at = self.later(s.at)
        if "executor_set" in step.requirements and not s.executors:
            s.executors = [executor] if rng.random() < 0.9 else [executor, rng.choice(self.people.executors)]
            s.executors = sorted(set(s.executors))
            for m in s.executors:
                self.history(chunk, tid, s.at, dispatcher, HistoryKind.EXECUTOR_ADDED, "executor", new=m)
            s.version += 1
        if "approver_set" in step.requirements and s.approver is None:
            s.approver = admin if rng.random() < 0.7 else initiator
            self.history(
                chunk, tid, s.at, dispatcher, HistoryKind.FIELD_CHANGED, "approver_member_id", new=admin
            )
            s.version += 1
        worker = s.executors[0] if s.executors else executor
        if "works_entered" in step.requirements and not s.worked:
            s.worked = True
            self.work(chunk, tid, s.at, worker, work_type or rng.choice(self.cat.work_types))
        actor = {
            "dispatcher": dispatcher,
            "executor": worker,
            "initiator": initiator,
            "approver": s.approver or initiator,
        }[step.actor]
        self.history(
            chunk, tid, s.at, actor, HistoryKind.STAGE_CHANGED, "stage", s.stage, step.to_stage, step.comment
        )
        if step.status is not None and step.status != s.status:
            self.history(chunk, tid, s.at, actor, HistoryKind.STATUS_CHANGED, "status", s.status, step.status)
            s.status = step.status
        s.stage, s.entered = step.to_stage, s.at
        s.version += 1
        if step.entry_action == "complete":
            s.completed = s.at
            if self.cat.criteria and rng.random() < 0.4:
                self.rate(chunk, tid, s, initiator)
        elif step.entry_action == "close":
            s.closed = s.at
        elif step.entry_action == "unassign":
            for m in s.executors:
                self.history(chunk, tid, s.at, actor, HistoryKind.EXECUTOR_REMOVED, "executor", old=m)
            s.executors = []

    def work(
        self, chunk: _Chunk, tid: int, at: dt.datetime, member: int, work_type: tuple[int, int, Decimal]
    ) -> None:
        wid = self.ids.work
        self.ids.work += 1
        chunk.works.append(
            (
                wid,
                self.cat.tenant_id,
                tid,
                work_type[0],
                member,
                self.rng.randint(15, 240),
                Decimal("1"),
                work_type[2],
                "Выполнено",
                member,
                at,
            )
        )
        self.history(
            chunk,
            tid,
            at,
            member,
            HistoryKind.WORK_ADDED,
            "work",
            new={"work_id": wid, "work_type_id": work_type[0], "quantity": "1"},
        )

    def rate(self, chunk: _Chunk, tid: int, s: _State, rater: int) -> None:
        s.at = self.later(s.at)
        scores = {str(c): self.rng.choice((3, 4, 5, 5, 5)) for c in self.cat.criteria}
        s.rating = round(sum(scores.values()) / len(scores), 4)
        chunk.ratings.append(
            (self.ids.rating, self.cat.tenant_id, tid, rater, json.dumps(scores), s.rating, "", s.at, s.at)
        )
        self.ids.rating += 1
        self.history(
            chunk,
            tid,
            s.at,
            rater,
            HistoryKind.RATED,
            "rating",
            new={"scores": scores, "score": s.rating, "comment": ""},
        )

    def favorites(
        self, chunk: _Chunk, tid: int, at: dt.datetime, initiator: int, executors: list[int], *, deleted: bool
    ) -> None:
        rng, tenant = self.rng, self.cat.tenant_id
        if rng.random() < 0.05:
            chunk.favorites.append((tenant, initiator, tid, at, deleted))
        if executors and rng.random() < 0.01:
            chunk.favorites.append((tenant, executors[0], tid, at, deleted))
        if rng.random() < 0.0005:
            chunk.favorites.append((tenant, self.people.dispatcher, tid, at, deleted))


@dataclass
class _State:
    stage: int
    status: int
    at: dt.datetime
    entered: dt.datetime
    executors: list[int] = field(default_factory=list)
    approver: int | None = None
    worked: bool = False
    completed: dt.datetime | None = None
    closed: dt.datetime | None = None
    deleted: dt.datetime | None = None
    rating: float | None = None
    version: int = 1


def _cumulative(weights: list[int]) -> list[int]:
    out, total = [], 0
    for w in weights:
        total += w
        out.append(total)
    return out


# ------------------------------------------------------------------------------------------------ seed


def seed_bench(
    session: Session,
    sizes: BenchSizes,
    *,
    slug: str = BENCH_SLUG,
    domain: str = BENCH_DOMAIN,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Create tenant ``slug`` with the ``sizes`` volume in the session's transaction (the caller commits)."""
    say = progress or (lambda _msg: None)
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise BenchSeedError(f"tenant {slug!r} already exists; use a fresh database")
    clock = time.perf_counter()
    now = utcnow().replace(microsecond=0)
    rng = random.Random(seed)
    defaults = create_tenant(session, name="Bench Сервис", slug=slug)
    session.flush()
    cat = _load_catalog(
        session,
        defaults.tenant.id,
        defaults.own_company.id,
        {code: role.id for code, role in defaults.roles.items()},
    )
    report = BenchReport(tenant_id=defaults.tenant.id)
    sink = _Sink(session)
    report.counts["fk_triggers_skipped"] = int(sink.skip_fk_triggers())
    people = _seed_people(sink, cat, sizes, domain, now, rng)
    objects = _seed_objects(sink, cat, sizes, people, now)
    report.seconds["people_objects"] = round(time.perf_counter() - clock, 2)
    say(f"people and objects: {report.seconds['people_objects']} s")
    clock = time.perf_counter()
    ids = _Ids(
        ticket=sink.reserve_ids(_table("tickets"), sizes.tickets),
        history=sink.reserve_ids(_table("ticket_history"), 0),
        work=sink.reserve_ids(_table("ticket_works"), 0),
        rating=sink.reserve_ids(_table("ratings"), 0),
    )
    maker = _TicketMaker(cat, people, objects, ids, sizes.tickets, now, seed)
    for chunk in _chunks(maker, sizes.tickets):
        _write_chunk(sink, chunk)
        done = sink.rows.get("tickets", 0)
        say(f"tickets {done:,}/{sizes.tickets:,} ({time.perf_counter() - clock:.0f} s)")
    for name in (
        "companies",
        "accounts",
        "members",
        "objects",
        "tickets",
        "ticket_history",
        "ticket_works",
        "ratings",
    ):
        sink.sync(_table(name))
    session.execute(
        update(TicketCounter)
        .where(TicketCounter.tenant_id == cat.tenant_id, TicketCounter.ticket_type_id == cat.type_id)
        .values(value=sizes.tickets)
    )
    report.seconds["tickets"] = round(time.perf_counter() - clock, 2)
    report.counts.update(sink.rows)
    return report


def _chunks(maker: _TicketMaker, n: int) -> Iterator[_Chunk]:
    for start in range(0, n, CHUNK):
        chunk = _Chunk()
        for i in range(start, min(n, start + CHUNK)):
            maker.make(i, chunk)
        yield chunk


def _write_chunk(sink: _Sink, chunk: _Chunk) -> None:
    sink.write(_table("tickets"), TICKET_COLUMNS, chunk.tickets)
    sink.write(_table("ticket_history"), HISTORY_COLUMNS, chunk.history)
    sink.write(_table("ticket_executors"), ["tenant_id", "ticket_id", "member_id"], chunk.executors)
    sink.write(_table("ticket_works"), WORK_COLUMNS, chunk.works)
    sink.write(_table("ratings"), RATING_COLUMNS, chunk.ratings)
    sink.write(
        _table("favorites"),
        ["tenant_id", "member_id", "ticket_id", "created_at", "ticket_deleted"],
        chunk.favorites,
    )


def analyze(url: str) -> float:
    """Fresh planner statistics; on PostgreSQL VACUUM too, so index-only scans see a set visibility map.

    A plain engine in autocommit mode: VACUUM refuses a transaction, and fixflow's SQLite engine
    would wrap ANALYZE in one of its own.
    """
    clock = time.perf_counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)" if engine.dialect.name == "postgresql" else "ANALYZE")
    finally:
        engine.dispose()
    return round(time.perf_counter() - clock, 2)
