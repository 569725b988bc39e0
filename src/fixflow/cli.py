"""The ``fixflow`` command line."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from fixflow.config import get_settings

if TYPE_CHECKING:
    from fixflow.core.db import Database

app = typer.Typer(help="fixflow — field-service management", no_args_is_help=True)
db_app = typer.Typer(help="Database commands", no_args_is_help=True)
user_app = typer.Typer(help="User accounts", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmark datasets", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(bench_app, name="bench")


def _database() -> Database:
    from fixflow.core.db import Database
    from fixflow.features import load_features

    load_features()
    return Database(get_settings().database_url)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from fixflow.core.migrate import upgrade_database

    upgrade_database(get_settings().database_url, revision)
    typer.echo("database is up to date")


@app.command()
def demo() -> None:
    """Create the demo tenant «Демо Сервис» with its people, objects and tickets (password: demo)."""
    from fixflow.core.migrate import upgrade_database
    from fixflow.demo import create_demo, demo_exists

    settings = get_settings()
    upgrade_database(settings.database_url)
    db = _database()
    with db.session(write=True) as session:
        if demo_exists(session):
            typer.echo("demo data already present")
            return
        create_demo(session)
    typer.echo("demo data created; every login's password is 'demo' (see README)")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    demo_data: Annotated[
        bool, typer.Option("--demo", help="create the demo data first if the database is empty")
    ] = False,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="do not run the background worker in-process")
    ] = False,
    reload: bool = False,
) -> None:
    """Run the web server (API, customer app, console) with uvicorn."""
    import uvicorn

    from fixflow.core.logging import configure_logging
    from fixflow.core.migrate import upgrade_database

    settings = get_settings()
    configure_logging()
    upgrade_database(settings.database_url)
    if demo_data:
        from fixflow.demo import create_demo, demo_exists

        db = _database()
        with db.session(write=True) as session:
            if not demo_exists(session):
                create_demo(session)
                logging.getLogger("fixflow").info("demo data created")
        db.dispose()
    if no_worker:
        os.environ["FIXFLOW_RUN_WORKER_IN_PROCESS"] = "false"
    uvicorn.run(
        "fixflow.asgi:app",
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
        proxy_headers=True,
        access_log=False,
    )


@app.command()
def worker() -> None:
    """Run the background worker (jobs, outbox delivery, periodic tasks) until interrupted."""
    from fixflow.core.logging import configure_logging
    from fixflow.jobs.worker import Worker

    configure_logging()
    settings = get_settings()
    stop = threading.Event()
    try:
        Worker(_database(), poll_seconds=settings.worker_poll_seconds).run_until(stop)
    except KeyboardInterrupt:
        stop.set()


@user_app.command("create")
def user_create(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    role: Annotated[list[str], typer.Option(help="role code; repeat for several")],
    email: str | None = None,
    phone: str | None = None,
    password: str | None = None,
    last_name: str = "",
    first_name: str = "",
    company: Annotated[list[int], typer.Option(help="company id; repeat for several")] = [],  # noqa: B006
    mobile: bool = False,
    invite: Annotated[
        bool, typer.Option("--invite", help="e-mail/SMS a link to set the password (72 h) after commit")
    ] = False,
) -> None:
    """Create a member (and its account if new). Without --password the member must be invited."""
    from sqlalchemy import select

    from fixflow.accounts.service import add_member, find_or_create_account, set_password
    from fixflow.core.errors import DomainError
    from fixflow.tenants.models import Tenant

    db = _database()
    try:
        with db.session(write=True) as session:
            tenant_row = session.scalar(select(Tenant).where(Tenant.slug == tenant))
            if tenant_row is None:
                raise typer.BadParameter(f"no tenant with slug {tenant!r}")
            account = find_or_create_account(session, email=email, phone=phone)
            if password:
                set_password(session, account, password)
            member = add_member(
                session,
                tenant_id=tenant_row.id,
                account=account,
                role_codes=role,
                company_ids=company,
                last_name=last_name,
                first_name=first_name,
                is_mobile=mobile,
            )
            if invite:
                from fixflow.accounts.invitations import invite_member

                invite_member(session, get_settings(), member)
            typer.echo(f"member {member.id} created in {tenant_row.name}")
    except DomainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _sqlite_path() -> str:
    url = get_settings().database_url
    if not url.startswith("sqlite:///"):
        typer.echo("backup/restore are for SQLite; use pg_dump/pg_restore for PostgreSQL", err=True)
        raise typer.Exit(2)
    return url.removeprefix("sqlite:///")


@app.command()
def backup(target: Annotated[str, typer.Argument(help="file to write the backup to")]) -> None:
    """Consistent online copy of the SQLite database (safe while the server runs)."""
    import sqlite3

    source = sqlite3.connect(_sqlite_path())
    dest = sqlite3.connect(target)
    with dest:
        source.backup(dest)
    dest.close()
    source.close()
    typer.echo(f"backup written to {target}")


@app.command()
def restore(
    source_file: Annotated[str, typer.Argument(help="a file written by `fixflow backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="replace the current database")] = False,
) -> None:
    """Replace the SQLite database with a backup (stop the server first)."""
    import sqlite3

    if not yes:
        typer.echo("restore replaces the current database; add --yes to proceed", err=True)
        raise typer.Exit(2)
    source = sqlite3.connect(source_file)
    if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
        typer.echo("the backup file is damaged", err=True)
        raise typer.Exit(1)
    dest = sqlite3.connect(_sqlite_path())
    with dest:
        source.backup(dest)
    dest.close()
    source.close()
    typer.echo("database restored")


@bench_app.command("seed")
def bench_seed(
    tickets: Annotated[int, typer.Option(help="tickets to create (M = 100000, L = 1000000)")],
    companies: Annotated[int | None, typer.Option(help="customer companies (default: scaled from L)")] = None,
    members: Annotated[int | None, typer.Option(help="customer members (default: scaled from L)")] = None,
    objects: Annotated[int | None, typer.Option(help="objects (default: scaled from L)")] = None,
    executors: Annotated[int | None, typer.Option(help="executors (default: scaled from L)")] = None,
    slug: str = "bench",
    seed: int = 1,
) -> None:
    """Create the benchmark tenant «bench» in bulk (spec/quality.md); password: bench-password."""
    import time

    from alembic import command
    from sqlalchemy import inspect

    from fixflow.benchseed import BenchSeedError, BenchSizes, analyze, seed_bench
    from fixflow.core.migrate import alembic_config, upgrade_database
    from fixflow.models import Base

    settings = get_settings()
    db = _database()
    if set(inspect(db.engine).get_table_names()) <= {"alembic_version"}:
        # An empty database gets the schema of the current models, stamped as migrated: the benchmark
        # measures this code even while the migrations lag behind the models.
        Base.metadata.create_all(db.engine)
        command.stamp(alembic_config(settings.database_url), "head")
    else:
        upgrade_database(settings.database_url)
        Base.metadata.create_all(db.engine)  # tables that have no migration yet, as the tests do
    sizes = BenchSizes.for_tickets(
        tickets, companies=companies, members=members, objects=objects, executors=executors
    )
    typer.echo(f"seeding {sizes} into {db.engine.url.render_as_string(hide_password=True)}")
    clock = time.perf_counter()
    try:
        with db.session(write=True) as session:
            report = seed_bench(session, sizes, slug=slug, seed=seed, progress=typer.echo)
            commit_clock = time.perf_counter()
        report.seconds["commit"] = round(time.perf_counter() - commit_clock, 2)
    except BenchSeedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    report.seconds["analyze"] = analyze(settings.database_url)
    report.seconds["total"] = round(time.perf_counter() - clock, 2)
    typer.echo(f"rows: {report.counts}")
    typer.echo(f"seconds: {report.seconds}")
    db.dispose()


if __name__ == "__main__":
    app()
