"""The platform-core benchmark (spec/quality.md, Performance).

    .venv/bin/python bench/run.py --dataset M          # SQLite, 100,000 tickets
    .venv/bin/python bench/run.py --dataset L          # PostgreSQL fixflow_bench, 1,000,000 tickets
    .venv/bin/python bench/run.py --dataset L --reuse  # skip drop + seed

Seeds a fresh database (drops it first), starts a real server process (``fixflow serve --workers 2
--no-worker``) on a free port of 127.0.0.1, logs the bench people in through the API, drives every
scenario with 16 keep-alive clients for a fixed time, then prints the plans of the list queries and a
per-request SQL profile. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from explain import CATEGORY_NAMES, print_plans, profile_requests  # noqa: E402
from loadgen import LoadResult, Req, ensure_wrk, run_python, run_wrk  # noqa: E402
from machine import CpuMeter  # noqa: E402
from scenarios import ALL_SCENARIOS, TARGETS, BenchContext, Scenario, make_context  # noqa: E402

DATASETS = {"M": ("sqlite", 100_000), "L": ("postgresql", 1_000_000)}
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "fixflow_bench"
SQLITE_PATH = REPO / "data" / "bench" / "bench.sqlite"
NOISY_CORES = 0.25
NOT_200 = "NOT 200 after the run:"
PROFILE_RUNS = 30
PROFILE_LINES = 40  # --top-for; BENCH_SORT=cumtime sorts by cumulative time instead of own time


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=sorted(DATASETS), default="M")
    p.add_argument("--tickets", type=int, help="override the dataset's ticket count")
    p.add_argument("--reuse", action="store_true", help="use the existing bench database (no drop, no seed)")
    p.add_argument("--seed-only", action="store_true", help="seed and stop")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per read scenario")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--only", default="", help="comma-separated scenario names or prefixes")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--no-explain", action="store_true", help="skip the profile and the plans")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="scheduling priority for the runner, the server and wrk (e.g. -10 as root on a shared machine)",
    )
    p.add_argument("--no-plans", action="store_true", help="skip the plans")
    p.add_argument(
        "--top-for", default="", help="print the costliest functions of these scenarios (comma list)"
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each scenario wait up to this many seconds for other processes to calm down",
    )
    p.add_argument(
        "--no-reference", action="store_true", help="skip the spec's bare endpoint (bench/reference.py)"
    )
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    return p.parse_args()


def database_url(backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{SQLITE_PATH}"
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"


def recreate_database(backend: str) -> None:
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{PG_BENCH_DB}"'))
    admin.dispose()


def catch_up_schema(url: str) -> None:
    """A reused bench database was built from the models and stamped; keep it stamped at the newest
    revision (and add new tables and indexes) so the server's start-up migration does not replay what
    exists. New columns on existing tables need a fresh seed."""
    from alembic import command
    from sqlalchemy import create_engine

    from fixflow.core.migrate import alembic_config
    from fixflow.features import load_features
    from fixflow.models import Base

    load_features()
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    for table in Base.metadata.sorted_tables:  # create_all adds no index to a table that exists
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    rebuild_changed_covering_indexes(engine)
    engine.dispose()
    command.stamp(alembic_config(url), "head")


def rebuild_changed_covering_indexes(engine: Any) -> None:
    """Indexes whose INCLUDE columns changed since the database was seeded (an index of that name exists,
    so ``checkfirst`` keeps the old one) are dropped and built again as the models define them."""
    from sqlalchemy import text

    from fixflow.models import Base

    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        definitions = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all())
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            include = index.dialect_options["postgresql"]["include"]
            found = definitions.get(str(index.name))
            if include and found is not None and f"INCLUDE ({', '.join(include)})" not in found:
                print(f"rebuilding {index.name} (its INCLUDE columns changed)", flush=True)
                index.drop(engine)
                index.create(engine)


def fixflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "fixflow.cli", *args]


def seed(url: str, tickets: int) -> float:
    env = {**os.environ, "FIXFLOW_DATABASE_URL": url}
    clock = time.perf_counter()
    subprocess.run(fixflow("bench", "seed", "--tickets", str(tickets)), env=env, check=True, cwd=REPO)
    return time.perf_counter() - clock


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(cmd: list[str], env: dict[str, str], log: Path, ready_path: str, port: int) -> Any:
    """Run a server process until the block ends, once ``ready_path`` answers 200; yields (base, pid)."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited; see {log}")
            try:
                if httpx.get(f"{base}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit(f"the server did not get ready; see {log}")
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server(url: str, port: int, log: Path) -> Any:
    env = {
        **os.environ,
        "FIXFLOW_DATABASE_URL": url,
        "FIXFLOW_ENV": "production",
        "FIXFLOW_SECRET_KEY": secrets.token_urlsafe(32),
        "FIXFLOW_DATA_DIR": str(SQLITE_PATH.parent),
    }
    cmd = fixflow("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-worker")
    return serving(cmd, env, log, "/readyz", port)


def reference_server(url: str, port: int, log: Path) -> Any:
    """bench/reference.py under uvicorn, 2 workers like fixflow's server."""
    env = {**os.environ, "REFERENCE_DSN": url.replace("postgresql+psycopg://", "postgresql://")}
    cmd = [sys.executable, "-m", "uvicorn", "reference:app", "--app-dir", str(HERE), "--workers", "2"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return serving(cmd, env, log, "/tab?tenant=0&member=0", port)


def measure_reference(
    url: str, ctx: BenchContext, args: argparse.Namespace, wrk: str | None
) -> dict[str, Any] | None:
    """The spec's bare endpoint on the same data, clients and load generator (bench/reference.py)."""
    if not url.startswith("postgresql"):
        return None
    from reference import DRIVER

    people = ctx.customers
    lists = [
        [Req("GET", f"/tab?tenant={ctx.tenant_id}&member={people[c % len(people)].member_id}", {})]
        for c in range(ctx.clients)
    ]
    with reference_server(url, free_port(), REPO / "data" / "bench" / "reference.log") as (base, _pid):
        if args.warmup > 0:
            drive(lists, base, args.warmup, wrk)
        result = drive(lists, base, args.duration, wrk)
    figures = {"rps": round(result.rps, 1), "p50_ms": round(result.p50_ms, 2)}
    figures["p99_ms"] = round(result.p99_ms, 2)
    print(
        f"\nreference (spec: bare Starlette + {DRIVER} + orjson, one indexed query, 25 rows): "
        f"{result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; "
        f"half of it: {result.rps / 2:,.0f} req/s (the spec's 2,600 is this machine on a fast day)"
    )
    return figures


def selected(only: str) -> list[Scenario]:
    if not only:
        return [s for s in ALL_SCENARIOS]
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    return [s for s in ALL_SCENARIOS if any(s.name == w or s.name.startswith(w) for w in wanted)]


def drive(lists: list[list[Req]], base: str, duration: float, wrk: str | None) -> LoadResult:
    if wrk:
        return run_wrk(wrk, base, lists, duration)
    return run_python(base, lists, duration)


def wait_idle(base: str, limit: float = 60.0) -> None:
    """Let the server finish what the previous scenario left in flight before measuring the next."""
    deadline, quick = time.monotonic() + limit, 0
    with httpx.Client(base_url=base, timeout=limit) as http:
        while quick < 3 and time.monotonic() < deadline:
            t0 = time.perf_counter()
            http.get("/healthz")
            quick = quick + 1 if time.perf_counter() - t0 < 0.02 else 0
            time.sleep(0.3)


def wrong_answers(base: str, scenario: Scenario, lists: list[list[Req]]) -> list[str]:
    """Each client's first request once, redirects not followed: anything but a 200 of the right type.

    wrk and the Python generator count only 4xx/5xx and failed connections as errors. A page whose
    session cookie stopped working answers 303 to the login screen, which they would count as
    successes, so the page scenarios (and, as cheap insurance, every read) are checked this way before
    and after the measurement. Each client acts as one person, so this covers every cookie in use.
    """
    expected = "text/html" if scenario.html else "application/json"
    problems = []
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as http:
        for reqs in lists:
            req = reqs[0]
            try:
                resp = http.request(req.method, req.path, headers=req.headers)
            except httpx.HTTPError as exc:
                problems.append(f"{req.method} {req.path}: {type(exc).__name__} {exc}")
                continue
            kind = resp.headers.get("content-type", "")
            if resp.status_code != 200 or not kind.startswith(expected):
                where = resp.headers.get("location")
                problems.append(
                    f"{req.method} {req.path}: {resp.status_code} {kind}" + (f" -> {where}" if where else "")
                )
    return problems


def verdict(scenario: Scenario, result: LoadResult) -> str:
    target = TARGETS[scenario.target]
    misses = []
    if target.min_rps is not None and result.rps < target.min_rps:
        misses.append(f"rps<{target.min_rps:.0f}")
    if result.p99_ms > target.max_p99_ms:
        misses.append(f"p99>{target.max_p99_ms:.0f}ms")
    if result.errors:
        misses.append("errors")
    if any(note.startswith(NOT_200) for note in result.notes):
        misses.append("not-200")
    return "ok" if not misses else "MISS " + ",".join(misses)


def run_load(
    ctx: BenchContext,
    scenarios: list[Scenario],
    base: str,
    args: argparse.Namespace,
    wrk: str | None,
    meter: CpuMeter,
    reference_rps: float | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Req], list[str]]:
    rows: list[dict[str, Any]] = []
    firsts: dict[str, Req] = {}
    failed: list[str] = []
    print(
        "\nbg cpu: cores used by other processes meanwhile; cpu ms: server + database CPU per request; "
        "ceil/s: 2 cores / cpu ms,\nthe most this machine could serve with nothing else running "
        "(load generator excluded);\nsplit: the server's CPU per worker process in % (uneven: keep-alive "
        "connections stuck on one worker);\nof ref: req/s as a share of the reference endpoint of this "
        "run (the spec asks for half of it)."
    )
    print(
        f"\n{'operation':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'requests':>10}"
        f"{'bg cpu':>8}{'cpu ms':>8}{'ceil/s':>8}{'split':>8}{'of ref':>8}  verdict"
    )
    for scenario in scenarios:
        lists = [lst for lst in scenario.build(ctx) if lst]
        ctx.session.rollback()  # no read transaction stays open while the server works
        if not lists:
            print(f"{scenario.name:<26} (no data for this scenario)")
            continue
        firsts[scenario.name] = lists[0][0]
        wait_idle(base)
        if not scenario.write:
            problems = wrong_answers(base, scenario, lists)
            if problems:
                failed.append(scenario.name)
                print(f"{scenario.name:<26} FAILED, not measured: " + "; ".join(problems[:3]), flush=True)
                continue
        if not scenario.write and args.warmup > 0:
            drive(lists, base, args.warmup, wrk)
            wait_idle(base)
        meter.wait_quiet(limit=args.quiet_wait)
        start = meter.snapshot()
        try:
            result = drive(lists, base, args.duration, wrk)
        except (RuntimeError, OSError) as exc:
            failed.append(scenario.name)
            print(f"{scenario.name:<26} FAILED: {exc}", flush=True)
            continue
        end = meter.snapshot()
        if not scenario.write:
            problems = wrong_answers(base, scenario, lists)
            if problems:
                failed.append(scenario.name)
                result.notes.append(f"{NOT_200} " + "; ".join(problems[:3]))
        background = meter.foreign_cores(start, end)
        cpu_per_request = meter.server_cpu_ms(start, end) / max(result.requests, 1)
        split = meter.worker_split(start, end)
        pool = sum(len(lst) for lst in lists)
        if scenario.write and scenario.name == "transition" and result.requests > pool:
            result.notes.append(f"pool of {pool} transitions exhausted: later requests fail by design")
        if background > NOISY_CORES:
            result.notes.append("NOISY: other processes used the CPU meanwhile")
        row = {
            "operation": scenario.name,
            "target": scenario.target,
            "rps": round(result.rps, 1),
            "p50_ms": round(result.p50_ms, 2),
            "p90_ms": round(result.p90_ms, 2),
            "p99_ms": round(result.p99_ms, 2),
            "max_ms": round(result.max_ms, 2),
            "errors": result.errors,
            "requests": result.requests,
            "background_cores": round(background, 2),
            "server_cpu_ms_per_request": round(cpu_per_request, 2),
            "worker_cpu_split_percent": split,
            # What 2 cores could serve if nothing but the server and its database used them.
            "cpu_bound_rps": round(2000 / cpu_per_request) if cpu_per_request else None,
            "tool": result.tool,
            "share_of_reference": round(result.rps / reference_rps, 3) if reference_rps else None,
            "verdict": verdict(scenario, result),
            "notes": result.notes,
        }
        rows.append(row)
        print(
            f"{scenario.name:<26}{row['rps']:>9.0f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{row['errors']:>8}{row['requests']:>10}{background:>8.2f}{cpu_per_request:>8.2f}"
            f"{row['cpu_bound_rps'] or 0:>8}{split:>8}"
            f"{format(row['share_of_reference'] or 0, '.0%') if reference_rps else '-':>8}"
            f"  {row['verdict']} " + " ".join(result.notes),
            flush=True,
        )
    return rows, firsts, failed


def analyze_sessions(url: str) -> None:
    """Statistics for the sessions the logins just made, as autovacuum's analyze would gather them.

    Seeded without sessions, the table's statistics say it is empty, and the page statements' generic
    plans then read it sequentially (each carries its cookie's check). A server with autovacuum off
    (this machine's PostgreSQL: a CI setting) never corrects that, nor any visibility map.
    """
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE auth_sessions"))
        if conn.execute(text("SHOW autovacuum")).scalar() == "off":
            print("PostgreSQL runs with autovacuum off: writes leave their pages to the reads after them")
    engine.dispose()


def pg_backends(url: str) -> Callable[[], set[int]]:
    """The PostgreSQL backends serving the bench database count as our own CPU."""
    if not url.startswith("postgresql"):
        return set
    from sqlalchemy import create_engine, text

    engine = create_engine(url, pool_size=1)

    def pids() -> set[int]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
            return {int(r[0]) for r in rows}

    return pids


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped on the way out
    args = parse_args()
    if args.nice:
        os.nice(args.nice)  # inherited by the server, its workers and wrk; not by PostgreSQL
    backend, default_tickets = DATASETS[args.dataset]
    tickets = args.tickets or default_tickets
    url = database_url(backend)
    figures: dict[str, Any] = {"dataset": args.dataset, "backend": backend, "tickets": tickets}
    if not args.reuse:
        recreate_database(backend)
        figures["seed_seconds"] = round(seed(url, tickets), 1)
        print(f"seeded {tickets:,} tickets in {figures['seed_seconds']} s (wall, incl. migrations)")
    else:
        catch_up_schema(url)
    if args.seed_only:
        return
    wrk = None if args.loadgen == "python" else ensure_wrk()
    if args.loadgen == "wrk" and not wrk:
        raise SystemExit("wrk is not available")
    print(
        f"load generator: {wrk or 'python asyncio + httpx'}; {args.clients} clients; "
        f"{args.duration:.0f} s each"
    )

    from fixflow.core.db import Database
    from fixflow.features import load_features

    load_features()
    db = Database(url)
    log = REPO / "data" / "bench" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with db.session_factory() as session, server(url, free_port(), log) as (base, server_pid):
        ctx = make_context(session, base, args.clients)
        session.commit()
        analyze_sessions(url)
        meter = CpuMeter(server_pid, pg_backends(url))
        reference = None if args.no_reference else measure_reference(url, ctx, args, wrk)
        figures["reference"] = reference
        ref_rps = reference["rps"] if reference else None
        rows, firsts, failed = run_load(ctx, selected(args.only), base, args, wrk, meter, ref_rps)
        session.commit()
        ctx.session.expire_all()
        for scenario in ALL_SCENARIOS:  # the profile covers every scenario, run or not
            if scenario.name not in firsts or scenario.name == "transition":  # transitions: unused ones
                lists = [lst for lst in scenario.build(ctx) if lst]
                if lists:
                    firsts[scenario.name] = lists[0][0]
        session.rollback()
    figures["operations"] = rows
    figures["failed"] = failed
    if not args.no_explain:
        top_for = {n.strip() for n in args.top_for.split(",") if n.strip()}
        report_profile(ctx, db, url, firsts, top_for, args.no_plans)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    db.dispose()
    if failed:  # after the profile and the plans, which are still worth having
        raise SystemExit(f"failed: {', '.join(failed)}")


def report_profile(
    ctx: BenchContext, db: Any, url: str, firsts: dict[str, Req], top_for: set[str], no_plans: bool
) -> None:
    from fixflow.app import create_app
    from fixflow.config import Settings

    print(
        "\n#### Per request, in process (no HTTP server, one client): statements, median wall ms, the "
        "application's own CPU ms,\nms inside cursor.execute (PostgreSQL: whole queries; SQLite: up to the "
        "first row), and cProfile own time by package\n(GETs; the profiler inflates Python-heavy parts)"
    )
    app = create_app(Settings(database_url=url, run_worker_in_process=False), db=db)
    header = "".join(f"{name:>11}" for name in CATEGORY_NAMES)
    print(f"{'operation':<26}{'statements':>11}{'ms':>8}{'app cpu':>8}{'sql ms':>8}{'status':>7}{header}")
    profiles = profile_requests(app, db, firsts)
    for p in profiles:
        shares = "".join(f"{p.shares[name]:>10.0%} " for name in CATEGORY_NAMES) if p.shares else ""
        print(
            f"{p.name:<26}{p.statements:>11}{p.total_ms:>8.1f}{p.cpu_ms:>8.1f}{p.sql_ms:>8.1f}{p.status:>7}"
            + shares
        )
    for p in profiles:
        if p.stats is not None and p.name in top_for:
            print(f"\n#### Costliest functions of {p.name} (own time, {PROFILE_RUNS} requests)")
            p.stats.sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(PROFILE_LINES)
    if no_plans:
        return
    print("\n#### Plans of the ticket queries, as fixflow.tickets.listing builds them")
    people = {"customer": ctx.customers[0], "admin": ctx.admins[0], "dispatcher": ctx.dispatcher}
    print_plans(db.engine, db.session_factory, people)


if __name__ == "__main__":
    main()
