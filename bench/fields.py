"""List filtering by additional fields on a large dataset: the plans (EXPLAIN) and in-process timings.

Works on the tenant «bench» made by ``fixflow bench seed`` (seeded here with ``--seed N`` when the
database has none). Defines a few ticket fields on it, writes values into every ticket's ``fields``
document in one UPDATE (deterministic from the id, so selectivities are known), makes sure the GIN
index ``ix_tickets_fields_gin`` exists, then for each filter prints the plan of the list query and the
median / p95 of ``list_tickets`` (25 cards, a fresh unit of work per call, as a request runs it).

    .venv/bin/python bench/fields.py --url postgresql+psycopg://postgres@127.0.0.1:5432/fixflow_bench_fields \
        --seed 1000000                                    # dataset L
    .venv/bin/python bench/fields.py --url sqlite:///data/bench/fields.db --seed 100000   # dataset M

Selectivity of the seeded values (of all tickets): bench_kind=rare 0.1 %, bench_kind=kN ~12.5 % each;
bench_floor uniform 0..49; bench_due uniform over 1,000 days from 2024-01-01; bench_checked 1/3 true.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor, load_actor
from fixflow.accounts.models import Account, Member
from fixflow.benchseed import BenchSizes, analyze, customer_login, dispatcher_login, owner_login, seed_bench
from fixflow.core.db import Database
from fixflow.core.migrate import upgrade_database
from fixflow.features import load_features
from fixflow.fields.models import TICKET_FIELDS_GIN, FieldDefinition, FieldEntity
from fixflow.fields.service import DefinitionDraft, create_definition
from fixflow.models import Base
from fixflow.tenants.models import Tenant
from fixflow.tickets.extensions import EXTENSIONS
from fixflow.tickets.listing import TicketFilters, list_tickets
from fixflow.tickets.models import Ticket
from fixflow.tickets.queries import TicketView

KINDS = [{"value": f"k{i}", "label": f"Kind {i}"} for i in range(8)] + [{"value": "rare", "label": "Rare"}]
DEFINITIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("bench_kind", "choice", {"choices": KINDS}),
    ("bench_tags", "multichoice", {"choices": KINDS}),
    ("bench_floor", "integer", {}),
    ("bench_due", "date", {}),
    ("bench_checked", "boolean", {}),
]
FILL = {
    "postgresql": """
        UPDATE tickets SET fields = jsonb_build_object(
            'bench_kind', CASE WHEN id % 1000 = 0 THEN 'rare' ELSE 'k' || (id % 8) END,
            'bench_tags', jsonb_build_array('k' || (id % 8)),
            'bench_floor', id % 50,
            'bench_due', to_char(date '2024-01-01' + (id % 1000)::int, 'YYYY-MM-DD'),
            'bench_checked', id % 3 = 0)
        WHERE tenant_id = :tenant""",
    "sqlite": """
        UPDATE tickets SET fields = json_object(
            'bench_kind', CASE WHEN id % 1000 = 0 THEN 'rare' ELSE 'k' || (id % 8) END,
            'bench_tags', json_array('k' || (id % 8)),
            'bench_floor', id % 50,
            'bench_due', date('2024-01-01', '+' || (id % 1000) || ' days'),
            'bench_checked', json(CASE WHEN id % 3 = 0 THEN 'true' ELSE 'false' END))
        WHERE tenant_id = :tenant""",
}


@dataclass(frozen=True)
class Case:
    name: str
    who: str  # dispatcher | customer
    view: TicketView
    filters: dict[str, str]


CASES = [
    Case("no_filter", "dispatcher", TicketView.ALL, {}),
    Case("eq_rare", "dispatcher", TicketView.ALL, {"f.bench_kind": "rare"}),
    Case("eq_common", "dispatcher", TicketView.ALL, {"f.bench_kind": "k3"}),
    Case("any_of", "dispatcher", TicketView.ALL, {"f.bench_kind__in": "rare,k5"}),
    Case("multichoice_eq", "dispatcher", TicketView.ALL, {"f.bench_tags": "k2"}),
    Case("boolean_eq", "dispatcher", TicketView.ALL, {"f.bench_checked": "true"}),
    Case("int_range", "dispatcher", TicketView.ALL, {"f.bench_floor__gte": "10", "f.bench_floor__lte": "12"}),
    Case(
        "date_range_narrow",
        "dispatcher",
        TicketView.ALL,
        {"f.bench_due__gte": "2024-02-01", "f.bench_due__lte": "2024-02-03"},
    ),
    Case("archive_eq_rare", "dispatcher", TicketView.ARCHIVE, {"f.bench_kind": "rare"}),
    Case("archive_eq_common", "dispatcher", TicketView.ARCHIVE, {"f.bench_kind": "k3"}),
    Case("customer_eq_common", "customer", TicketView.ALL, {"f.bench_kind": "k3"}),
    Case("customer_archive_eq", "customer", TicketView.ARCHIVE, {"f.bench_kind": "k3"}),
]


@contextmanager
def capture(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def plan_of(session: Session, statement: str, parameters: Any) -> str:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        return "\n".join(str(r[0]) for r in rows)
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(r[-1]) for r in rows)


def actor_of(session: Session, tenant_id: int, login: str) -> Actor:
    member = session.scalar(
        select(Member)
        .join(Account, Account.id == Member.account_id)
        .where(Account.email == login, Member.tenant_id == tenant_id)
    )
    if member is None:
        sys.exit(f"no member {login} in the bench tenant")
    return load_actor(session, member)


def seed(url: str, tickets: int) -> None:
    upgrade_database(url)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    clock = time.perf_counter()
    with db.session(write=True) as session:
        seed_bench(session, BenchSizes.for_tickets(tickets), progress=print)
    analyze(url)
    print(f"seeded {tickets:,} tickets in {time.perf_counter() - clock:.0f} s")
    db.dispose()


def prepare(db: Database, tenant_id: int) -> None:
    """Definitions, values and the GIN index; each step is skipped when already done."""
    with db.session(write=True) as session:
        owner = actor_of(session, tenant_id, owner_login())
        existing = set(
            session.scalars(select(FieldDefinition.code).where(FieldDefinition.tenant_id == tenant_id))
        )
        for code, type_, extra in DEFINITIONS:
            if code not in existing:
                draft = DefinitionDraft(entity=FieldEntity.TICKET, code=code, name=code, type=type_, **extra)
                create_definition(session, owner, draft)
        filled = session.scalar(
            select(Ticket.id).where(Ticket.tenant_id == tenant_id, Ticket.fields != text("'{}'")).limit(1)
        )
        if filled is None:
            clock = time.perf_counter()
            session.execute(text(FILL[db.dialect]), {"tenant": tenant_id})
            print(f"filled tickets.fields in {time.perf_counter() - clock:.1f} s")
    if db.dialect == "postgresql":
        clock = time.perf_counter()
        TICKET_FIELDS_GIN.create(db.engine, checkfirst=True)
        print(f"GIN index ready in {time.perf_counter() - clock:.1f} s")
    analyze(db.url)
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            size = conn.execute(
                text("SELECT pg_size_pretty(pg_relation_size('ix_tickets_fields_gin'))")
            ).scalar()
        print(f"ix_tickets_fields_gin: {size}")


def run_case(db: Database, tenant_id: int, case: Case, repeat: int) -> dict[str, Any]:
    with db.session() as session:
        login = dispatcher_login() if case.who == "dispatcher" else customer_login(1)
        actor = actor_of(session, tenant_id, login)
    filters = TicketFilters(field_filters=case.filters)
    with db.session() as session, capture(db.engine) as statements:
        page = list_tickets(session, actor, case.view, filters, limit=25)
    with db.session() as session:
        main = [(s, p) for s, p in statements if re.search(r"FROM tickets\s+WHERE", s)]
        plan = plan_of(session, *main[0]) if main else "(no ticket query)"
    timings = []
    for _ in range(repeat + 3):
        clock = time.perf_counter()
        with db.session() as session:
            list_tickets(session, actor, case.view, filters, limit=25)
        timings.append((time.perf_counter() - clock) * 1000)
    timings = sorted(timings[3:])
    return {
        "items": len(page.items),
        "statements": len(statements),
        "median_ms": statistics.median(timings),
        "p95_ms": timings[max(0, int(len(timings) * 0.95) - 1)],
        "plan": plan,
        "sql": re.sub(r"\s+", " ", main[0][0]) if main else "",
    }


def detail_timing(db: Database, tenant_id: int, repeat: int) -> float:
    """Typed values of one ticket for the dispatcher (configuration load included, as in a request)."""
    with db.session() as session:
        actor = actor_of(session, tenant_id, dispatcher_login())
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.tenant_id == tenant_id).limit(1))
    timings = []
    for _ in range(repeat):
        with db.session() as session:
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            clock = time.perf_counter()
            EXTENSIONS.fields.api_values(session, actor, ticket)
            timings.append((time.perf_counter() - clock) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--seed", type=int, default=0, help="seed this many tickets when «bench» is absent")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    args = parser.parse_args()
    load_features()
    probe = create_engine(args.url)
    try:
        with probe.connect() as conn:
            has_tenant = conn.execute(text("SELECT id FROM tenants WHERE slug = 'bench'")).scalar()
    except Exception:
        has_tenant = None
    probe.dispose()
    if has_tenant is None:
        if not args.seed:
            sys.exit("no «bench» tenant: run `fixflow bench seed` first or pass --seed N")
        seed(args.url, args.seed)
    db = Database(args.url)
    Base.metadata.create_all(db.engine)  # tables of features whose migration is not written yet
    with db.session() as session:
        tenant_id = int(session.scalar(select(Tenant.id).where(Tenant.slug == "bench")) or 0)
        tickets = session.scalar(text("SELECT count(*) FROM tickets WHERE tenant_id = :t"), {"t": tenant_id})
    print(f"{db.dialect}: {tickets:,} tickets in the bench tenant")
    prepare(db, tenant_id)
    print(f"\n{'case':<22}{'items':>6}{'stmts':>6}{'median ms':>11}{'p95 ms':>9}  plan (main list query)")
    results = []
    for case in CASES:
        result = run_case(db, tenant_id, case, args.repeat)
        results.append((case, result))
        nodes = [
            line.strip()
            for line in result["plan"].splitlines()
            if "Scan" in line or "SCAN" in line or "SEARCH" in line or "Sort" in line or "Limit" in line
        ]
        summary = " | ".join(re.sub(r"\s*\(cost=.*?\)\s*", " ", n)[:70] for n in nodes[:4])
        print(
            f"{case.name:<22}{result['items']:>6}{result['statements']:>6}"
            f"{result['median_ms']:>11.2f}{result['p95_ms']:>9.2f}  {summary}"
        )
    print(
        f"\nticket detail, typed field values (dispatcher): median {detail_timing(db, tenant_id, 50):.2f} ms"
    )
    for case, result in results:
        if args.plans or case.name in (
            "eq_rare",
            "eq_common",
            "any_of",
            "int_range",
            "date_range_narrow",
            "customer_eq_common",
        ):
            print(f"\n=== {case.name} {case.filters}\n--- SQL: {result['sql']}\n{result['plan']}")
    db.dispose()


if __name__ == "__main__":
    main()
