"""Test fixtures: one migrated database per run (SQLite by default, PostgreSQL with
``FIXFLOW_TEST_DB=postgres``), rollback-per-test sessions, and API clients.

Tests that go through the HTTP stack commit for real; they stay independent because every test
builds its own tenant (see ``tests/builders.py``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from fixflow.app import create_app
from fixflow.config import Settings
from fixflow.core import security
from fixflow.core.db import Database
from fixflow.core.migrate import upgrade_database
from fixflow.features import load_features
from fixflow.models import Base
from querycount import QueryCounter

load_features()
# Production hashing parameters cost ~50 ms per hash; tests hash hundreds of passwords.
security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

BACKEND = os.environ.get("FIXFLOW_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "FIXFLOW_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def _fresh_database(tmp_dir: Path) -> Iterator[str]:
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_dir / 'test.db'}"
        return
    name = f"fixflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_database_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _fresh_database(tmp_path_factory.mktemp("db")) as url:
        upgrade_database(url)
        # Tables of features whose migration is not written yet; tests/test_migrations.py fails until
        # the migrations and the models agree, so this never hides a missing migration for long.
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session whose work is rolled back after the test (services only flush)."""
    connection = database.engine.connect()
    outer = connection.begin()
    sess = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield sess
    finally:
        sess.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        database_url=database_url,
        run_worker_in_process=False,
        login_failures_per_login=5,
        login_failures_per_ip=1000,
    )


@pytest.fixture
def app(settings: Settings, database: Database) -> Any:
    return create_app(settings, db=database)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def count_queries(database: Database) -> QueryCounter:
    return QueryCounter(database)


@pytest.fixture
def sworld(session: Session) -> Any:
    """A fresh tenant inside the rolled-back test session."""
    from builders import make_world

    return make_world(session)


@pytest.fixture
def world(database: Database) -> Any:
    """A fresh, committed tenant for tests that go through HTTP."""
    from builders import make_world

    with database.session(write=True) as s:
        return make_world(s)


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; the worker's settings point at it (tests/smtp.py)."""
    from smtp import running_smtp_server

    with running_smtp_server(monkeypatch) as server:
        yield server
