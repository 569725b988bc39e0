"""Planned-ticket generation throughput and memory (spec/quality.md: ≥ 2,000 tickets/s, memory flat).

Seeds a fresh database in bulk with PLANS plans × OBJECTS objects (daily rule; objects alternate between
Moscow and Novosibirsk time), each with exactly one due occurrence, then times the generator in bounded
batches (one transaction each, as the worker runs it) and samples the process RSS as it goes. A second
run must create nothing (idempotence). Usage:

    .venv/bin/python bench/planning.py                       # SQLite in a temp dir
    .venv/bin/python bench/planning.py --backend postgres    # a scratch database on 127.0.0.1:5432
    .venv/bin/python bench/planning.py --plans 2000 --objects 5 --batch 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import String, cast, create_engine, func, insert, select, text, update
from sqlalchemy.orm import Session

from fixflow.accounts.service import add_member, create_account
from fixflow.catalogs.models import WorkType
from fixflow.core.db import Database
from fixflow.features import load_features
from fixflow.models import Base
from fixflow.objects.models import ObjectType, ServiceObject
from fixflow.planning.generation import generate_batch
from fixflow.planning.models import Plan, PlanObject, PlanOccurrence
from fixflow.tenants.models import Company, CompanyKind
from fixflow.tenants.service import create_tenant
from fixflow.tickets.models import Ticket

CREATED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)  # one occurrence (12:00 local) is due per object
ZONES = ("Europe/Moscow", "Asia/Novosibirsk")
ACCESS_WORD = "bench-planning-1"  # the seeded members never log in
PG_ADMIN_URL = os.environ.get(
    "FIXFLOW_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def rss_mb() -> float:
    with open("/proc/self/statm") as fp:
        pages = int(fp.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"fixflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(db: Database, plans: int, objects_per_plan: int) -> int:
    """Bulk-insert the dataset; returns the tenant id."""
    with db.session(write=True) as s:
        defaults = create_tenant(s, name="Bench planning", slug=f"bp-{uuid.uuid4().hex[:6]}")
        tid = defaults.tenant.id
        account = create_account(s, email=f"disp-{tid}@bench.test", password=ACCESS_WORD)
        author = add_member(
            s,
            tenant_id=tid,
            account=account,
            role_codes=["dispatcher"],
            company_ids=[defaults.own_company.id],
        )
        executor_account = create_account(s, email=f"exec-{tid}@bench.test", password=ACCESS_WORD)
        executor = add_member(
            s,
            tenant_id=tid,
            account=executor_account,
            role_codes=["executor"],
            company_ids=[defaults.own_company.id],
            is_mobile=True,
        )
        companies = [
            Company(tenant_id=tid, kind=CompanyKind.CUSTOMER, name=f"C{i}", code=f"C{i}") for i in range(100)
        ]
        s.add_all(companies)
        s.flush()
        site_type = s.scalar(
            select(ObjectType.id).where(ObjectType.tenant_id == tid, ObjectType.requires_address)
        )
        type_id, work_type_id = defaults.ticket_type.id, _work_type(s, tid)
        author_id, executor_id, company_ids = author.id, executor.id, [c.id for c in companies]
    total = plans * objects_per_plan
    with db.session(write=True) as s:
        for start in range(0, total, 20_000):
            s.execute(
                insert(ServiceObject),
                [
                    {
                        "tenant_id": tid,
                        "type_id": site_type,
                        "name": f"Site {i}",
                        "company_id": company_ids[i % 100],
                        "address": f"Street {i}",
                        "timezone": ZONES[i % 2],
                        "path": "/",
                        "published": True,
                        "fields": {},
                        "created_at": CREATED,
                    }
                    for i in range(start, min(total, start + 20_000))
                ],
            )
        s.execute(
            update(ServiceObject)
            .where(ServiceObject.tenant_id == tid)
            .values(path="/" + cast(ServiceObject.id, String) + "/")
        )
        object_ids = list(
            s.scalars(
                select(ServiceObject.id).where(ServiceObject.tenant_id == tid).order_by(ServiceObject.id)
            )
        )
        s.execute(
            insert(Plan),
            [
                {
                    "tenant_id": tid,
                    "name": f"Plan {p}",
                    "ticket_type_id": type_id,
                    "work_type_id": work_type_id,
                    "description": "Routine maintenance",
                    "criticality_id": None,
                    "executor_ids": [executor_id] if p % 2 else [],
                    "rrule": "FREQ=DAILY;INTERVAL=1",
                    "first_local": "2026-01-01T12:00",
                    "lead_minutes": 0,
                    "deadline_offset_minutes": 60,
                    "state": "active",
                    "author_id": author_id,
                    "created_at": CREATED,
                    "updated_at": CREATED,
                    "version": 1,
                }
                for p in range(plans)
            ],
        )
        plan_ids = list(s.scalars(select(Plan.id).where(Plan.tenant_id == tid).order_by(Plan.id)))
        rows = []
        for p, plan_id in enumerate(plan_ids):
            for k in range(objects_per_plan):
                i = p * objects_per_plan + k
                due = dt.datetime(2026, 1, 1, 9 if i % 2 == 0 else 5, tzinfo=dt.UTC)
                rows.append(
                    {
                        "tenant_id": tid,
                        "plan_id": plan_id,
                        "object_id": object_ids[i],
                        "added_at": CREATED,
                        "pending_from": CREATED,
                        "due_at": due,
                    }
                )
        for start in range(0, len(rows), 20_000):
            s.execute(insert(PlanObject), rows[start : start + 20_000])
    return tid


def _work_type(session: Session, tenant_id: int) -> int:
    value = session.scalar(select(WorkType.id).where(WorkType.tenant_id == tenant_id).order_by(WorkType.id))
    assert value is not None
    return int(value)


def run(db: Database, tenant_id: int, batch: int, expected: int) -> None:
    samples: list[tuple[int, float]] = []
    made = batches = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while True:
        if batches == 20:
            tracemalloc.start()
        with db.session(write=True) as session:
            result = generate_batch(session, now=NOW, limit=batch)  # all tenants, as the worker runs
        made += result.generated
        batches += 1
        if batches % 10 == 0:
            samples.append((made, rss_mb()))
        if batches == 25:
            traced_peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
        if not result.more:
            break
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"  generated {made:,} tickets in {batches} batches of ≤{batch}")
    print(f"  wall {elapsed:.1f} s → {made / elapsed:,.0f} tickets/s; this process's CPU {cpu:.1f} s")
    if samples:
        rss = [r for _, r in samples]
        print(
            f"  RSS while generating: first sample {rss[0]:.0f} MB, "
            f"min {min(rss):.0f}, max {max(rss):.0f}, last {rss[-1]:.0f} MB"
        )
        print(
            "  RSS samples (tickets made → MB): "
            + ", ".join(f"{m:,}→{r:.0f}" for m, r in samples[:: max(1, len(samples) // 8)])
        )
    if batches > 25:
        print(f"  tracemalloc peak over batches 21–25 (tracing slows them): {traced_peak:.1f} MB")
    print(f"  peak RSS of the process (ru_maxrss, includes seeding): {peak_rss_mb():.0f} MB")
    assert made == expected, (made, expected)
    with db.session() as session:
        tickets = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.tenant_id == tenant_id)
        )
        occ = session.scalar(
            select(func.count()).select_from(PlanOccurrence).where(PlanOccurrence.tenant_id == tenant_id)
        )
        numbers = session.scalar(
            select(func.count(func.distinct(Ticket.number))).where(Ticket.tenant_id == tenant_id)
        )
    assert tickets == occ == numbers == expected, (tickets, occ, numbers)
    started = time.perf_counter()
    with db.session(write=True) as session:
        again = generate_batch(session, now=NOW, limit=batch, tenant_id=tenant_id)
    took = time.perf_counter() - started
    print(f"  rerun: {again.generated} new tickets, {again.claimed} plan objects due ({took:.3f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    load_features()
    with scratch_database(args.backend) as url:
        # The schema straight from the models: a scratch database needs no migration history.
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        db = Database(url)
        started = time.perf_counter()
        tid = seed(db, args.plans, args.objects)
        took = time.perf_counter() - started
        print(f"{args.backend}: {args.plans:,} plans × {args.objects} objects seeded in {took:.1f} s")
        try:
            run(db, tid, args.batch, args.plans * args.objects)
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
