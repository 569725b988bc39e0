"""Migrations and models must agree: a database built only by Alembic equals ``Base.metadata``.

The session-wide test database adds tables without a migration through ``create_all`` (so features
work in tests before their migration exists); this test is the counterweight that fails until the
migration is written.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from pprint import pformat
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from builders import make_ticket, make_world
from fixflow.core.db import Database
from fixflow.core.migrate import alembic_config, objects_of_dialect, upgrade_database
from fixflow.models import Base
from fixflow.tickets.service import add_favorite, delete_ticket

# The same switches as tests/conftest.py (not imported: ``conftest`` is ambiguous as a module name).
BACKEND = os.environ.get("FIXFLOW_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "FIXFLOW_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A brand-new database on the current backend, dropped afterwards."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"fixflow_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_from_empty_database_match_the_models(tmp_path: Path) -> None:
    with empty_database(tmp_path) as url:
        upgrade_database(url)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                # The same comparison options as migrations/env.py uses for autogenerate.
                context = MigrationContext.configure(
                    conn, opts={"compare_type": True, "include_object": objects_of_dialect(conn.dialect.name)}
                )
                diff = compare_metadata(context, Base.metadata)
                tables = set(inspect(conn).get_table_names())
        finally:
            engine.dispose()
    assert "alembic_version" in tables
    assert {"tickets", "accounts", "tenants"} <= tables
    assert diff == [], "models and migrations differ; generate a migration:\n" + pformat(diff)


def test_migrated_indexes_include_what_the_models_include(tmp_path: Path) -> None:
    # Alembic's comparison ignores INCLUDE columns: a covering index that lost them would still
    # "match", and the index-only scans of the lists would silently become heap reads.
    if BACKEND == "sqlite":
        pytest.skip("INCLUDE is PostgreSQL's")
    expected = {
        str(index.name): list(index.dialect_options["postgresql"]["include"])
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["include"]
    }
    assert "ix_tickets_initiator_open" in expected
    with empty_database(tmp_path) as url:
        upgrade_database(url)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                definitions: dict[str, str] = dict(
                    conn.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all()
                )
        finally:
            engine.dispose()
    for name, columns in expected.items():
        assert f"INCLUDE ({', '.join(columns)})" in definitions[name], definitions[name]


def test_favourites_of_tickets_deleted_before_0012_get_the_deleted_mark(tmp_path: Path) -> None:
    """Migration 0012 fills ``favorites.ticket_deleted`` from the tickets it finds (and 0011 drops it)."""
    with empty_database(tmp_path) as url:
        upgrade_database(url)
        database = Database(url)
        try:
            with database.session(write=True) as s:
                world = make_world(s)
                kept, gone = make_ticket(s, world), make_ticket(s, world)
                for ticket in (kept, gone):
                    add_favorite(s, world.dispatcher.actor, ticket)
                delete_ticket(s, world.owner.actor, gone)
                ids = (kept.id, gone.id)
            command.downgrade(alembic_config(url), "0011")
            upgrade_database(url)
            with database.session() as s:
                marks: dict[int, Any] = dict(
                    s.execute(text("SELECT ticket_id, ticket_deleted FROM favorites")).all()
                )
        finally:
            database.dispose()
    assert {k: bool(v) for k, v in marks.items()} == {ids[0]: False, ids[1]: True}
