"""Live-update benchmark (spec/quality.md: live update p99 ≤ 200 ms with 1,000 open streams).

    .venv/bin/python bench/live.py                       # SQLite, 1,000 streams, 1 server process
    .venv/bin/python bench/live.py --backend postgresql  # PostgreSQL database fixflow_bench_live
    .venv/bin/python bench/live.py --workers 2 --redis redis://127.0.0.1:6379/0

Seeds a fresh tenant: one customer company, N·(1 − staff share) customers who each initiated one open
ticket, and dispatchers for the rest of the streams. Starts a real server process on a free port, opens
N SSE streams (``/api/v1/events``, one per person — every customer is a distinct actor, so the hub
checks visibility for N distinct predicates), then a dispatcher changes random tickets through the API
at a fixed rate. Each change must reach the ticket's customer and every dispatcher stream.

Reported per receiving stream:
* **request → screen**: from just before the dispatcher's PATCH is sent until the event is read on
  the stream (the whole path: HTTP write, commit, publish, visibility check, SSE);
* **commit → screen**: from the server's publish time stamp (right after commit) to the read.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "fixflow_bench_live"
SQLITE_PATH = REPO / "data" / "bench" / "live.sqlite"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--staff-share", type=float, default=0.05, help="share of streams held by dispatchers")
    p.add_argument("--events", type=int, default=300, help="ticket changes to make")
    p.add_argument("--rate", type=float, default=10.0, help="changes per second")
    p.add_argument("--warmup", type=int, default=20, help="changes made first and not measured")
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--workers", type=int, default=1, help="server processes (more than 1 needs --redis)")
    p.add_argument("--redis", default="", help="Redis URL for the bus (required with --workers > 1)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    if args.workers > 1 and not args.redis:
        p.error("--workers > 1 needs --redis: without it only one process's streams get the events")
    return args


# -- seeding -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    url: str
    customer_tokens: list[str]
    staff_tokens: list[str]
    dispatcher_token: str
    tickets: dict[int, int]  # ticket id -> index of its customer's stream
    versions: dict[int, int] = field(default_factory=dict)


def database_url(backend: str) -> str:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{SQLITE_PATH}"
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"


def seed(url: str, customers: int, staff: int) -> Seeded:
    from sqlalchemy import create_engine, select

    from fixflow.accounts.actor import load_actor
    from fixflow.accounts.service import add_member, create_account, issue_session
    from fixflow.config import Settings
    from fixflow.core.db import Database
    from fixflow.core.migrate import upgrade_database
    from fixflow.features import load_features
    from fixflow.models import Base
    from fixflow.objects.models import ObjectType
    from fixflow.objects.service import create_object
    from fixflow.tenants.models import Company, CompanyKind
    from fixflow.tenants.service import create_tenant
    from fixflow.tickets.service import TicketDraft, create_ticket

    load_features()
    upgrade_database(url)
    engine = create_engine(url)
    Base.metadata.create_all(engine)  # tables of features whose migration is not written yet
    engine.dispose()
    db = Database(url)
    settings = Settings(env="test", database_url=url)
    suffix = uuid.uuid4().hex[:6]
    with db.session(write=True) as s:
        defaults = create_tenant(s, name=f"Live bench {suffix}", slug=f"live-{suffix}")
        tid = defaults.tenant.id
        company = Company(tenant_id=tid, kind=CompanyKind.CUSTOMER, name="Заказчик", code="LB")
        s.add(company)
        s.flush()
        site_type = s.scalar(
            select(ObjectType.id).where(ObjectType.tenant_id == tid, ObjectType.name == "Площадка")
        )
        assert site_type is not None
        site = create_object(
            s, tenant_id=tid, name="Site", type_id=site_type, company_id=company.id, address="A"
        )
        seeded = Seeded(url, [], [], "", {})

        def person(n: str, roles: list[str], company_id: int) -> Any:
            account = create_account(s, email=f"{n}-{suffix}@bench.test")
            return add_member(s, tenant_id=tid, account=account, role_codes=roles, company_ids=[company_id])

        for i in range(customers):
            member = person(f"c{i}", ["customer"], company.id)
            ticket = create_ticket(
                s,
                load_actor(s, member),
                TicketDraft(type_id=defaults.ticket_type.id, object_id=site.id, description="x"),
            )
            seeded.tickets[ticket.id] = i
            seeded.versions[ticket.id] = ticket.version
            seeded.customer_tokens.append(issue_session(s, settings, member).token)
        if not customers:  # broadcast run: tickets of a customer who holds no stream
            member = person("nobody", ["customer"], company.id)
            for _ in range(500):
                draft = TicketDraft(type_id=defaults.ticket_type.id, object_id=site.id, description="x")
                ticket = create_ticket(s, load_actor(s, member), draft)
                seeded.tickets[ticket.id] = -1
                seeded.versions[ticket.id] = ticket.version
        for i in range(staff + 1):
            member = person(f"d{i}", ["dispatcher"], defaults.own_company.id)
            token = issue_session(s, settings, member).token
            if i == staff:
                seeded.dispatcher_token = token  # the one making changes holds no stream
            else:
                seeded.staff_tokens.append(token)
    db.dispose()
    return seeded


# -- server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(url: str, workers: int, redis: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "FIXFLOW_DATABASE_URL": url,
        "FIXFLOW_ENV": "test",
        "FIXFLOW_DATA_DIR": str(SQLITE_PATH.parent),
        "FIXFLOW_REDIS_URL": redis,
        "FIXFLOW_LIVE_CHANNEL": f"fixflow-bench:{uuid.uuid4().hex}",
    }
    log = SQLITE_PATH.parent / "live-server.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "fixflow.asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "3",
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not get ready; see {log}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- clients -----------------------------------------------------------------------------------


@dataclass
class Measure:
    sent_at: dict[int, float] = field(default_factory=dict)  # ticket id -> perf_counter at send
    end_to_end_ms: list[float] = field(default_factory=list)
    publish_ms: list[float] = field(default_factory=list)
    received: int = 0
    ready: int = 0
    resyncs: int = 0


async def stream(port: int, token: str, measure: Measure, ready: asyncio.Event, stop: asyncio.Event) -> None:
    """A bare-bones SSE client on asyncio streams (light enough to run 1,000 of them in one process)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    writer.write(
        f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    name, data = "", ""
    try:
        while not stop.is_set():
            line = (await reader.readline()).decode().rstrip("\r\n")
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and name:
                if name == "ready":
                    measure.ready += 1
                    ready.set()
                elif name == "ticket":
                    now, wall = time.perf_counter(), time.time()
                    event = json.loads(data)
                    sent = measure.sent_at.get(event["ticket_id"])
                    if sent is not None:
                        measure.end_to_end_ms.append((now - sent) * 1000)
                        measure.publish_ms.append((wall - event["at"]) * 1000)
                        measure.received += 1
                elif name == "resync":
                    measure.resyncs += 1
                name, data = "", ""
            elif line.startswith(":") or line.startswith("id:") or line.startswith("retry:"):
                continue
    finally:
        writer.close()


async def drive(base: str, seeded: Seeded, args: argparse.Namespace) -> Measure:
    port = int(base.rsplit(":", 1)[1])
    measure = Measure()
    stop = asyncio.Event()
    tokens = seeded.customer_tokens + seeded.staff_tokens
    tasks = []
    opened = time.perf_counter()
    for chunk in range(0, len(tokens), 100):
        readies = []
        for token in tokens[chunk : chunk + 100]:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(stream(port, token, measure, ready, stop)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    print(f"{measure.ready} streams open in {time.perf_counter() - opened:.1f}s")
    await asyncio.sleep(1.0)

    tickets = list(seeded.tickets)
    random.Random(7).shuffle(tickets)
    headers = {"Authorization": f"Bearer {seeded.dispatcher_token}"}
    interval = 1.0 / args.rate
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        started = time.perf_counter()
        for n in range(args.warmup + args.events):
            ticket_id = tickets[n % len(tickets)]
            due = started + n * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if n < args.warmup:
                measure.sent_at.pop(ticket_id, None)
            else:
                measure.sent_at[ticket_id] = time.perf_counter()
            body = {"version": seeded.versions[ticket_id], "description": f"change {n}"}
            response = await client.patch(f"/api/v1/tickets/{ticket_id}", json=body)
            if response.status_code != 200:
                raise SystemExit(f"PATCH failed: {response.status_code} {response.text[:300]}")
            seeded.versions[ticket_id] = response.json()["version"]
    await asyncio.sleep(3.0)  # let the last events arrive
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return measure


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    staff = round(args.streams * args.staff_share)
    customers = args.streams - staff
    url = database_url(args.backend)
    clock = time.perf_counter()
    seeded = seed(url, customers, staff)
    took = time.perf_counter() - clock
    print(f"seeded {customers} customers (one ticket each) and {staff} dispatchers in {took:.1f}s")
    with server(url, args.workers, args.redis) as base:
        measure = asyncio.run(drive(base, seeded, args))
    expected = args.events * ((1 if customers else 0) + staff)
    figures = {
        "backend": args.backend,
        "server_processes": args.workers,
        "bus": "redis" if args.redis else "in-process",
        "streams": args.streams,
        "distinct_actors": customers + (1 if staff else 0),
        "events": args.events,
        "rate_per_s": args.rate,
        "deliveries_expected": expected,
        "deliveries_received": measure.received,
        "resyncs": measure.resyncs,
        "request_to_screen_ms": {
            "p50": round(percentile(measure.end_to_end_ms, 0.50), 1),
            "p99": round(percentile(measure.end_to_end_ms, 0.99), 1),
            "max": round(max(measure.end_to_end_ms, default=float("nan")), 1),
        },
        "commit_to_screen_ms": {
            "p50": round(percentile(measure.publish_ms, 0.50), 1),
            "p99": round(percentile(measure.publish_ms, 0.99), 1),
            "mean": round(statistics.fmean(measure.publish_ms), 1) if measure.publish_ms else None,
        },
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
