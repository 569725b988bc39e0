"""The CLI on a throw-away SQLite database: demo data, user creation, backup and restore."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixflow.cli import app
from fixflow.config import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FIXFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FIXFLOW_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_demo_user_create_backup_restore(data_dir: Path) -> None:
    runner = CliRunner()
    db = data_dir / "fixflow.db"
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    stages = _count(
        db,
        "select count(distinct stage_id) from tickets t"
        " join tenants n on n.id = t.tenant_id where n.slug = 'demo'",
    )
    assert stages == 11  # every stage of the default lifecycle
    assert "already present" in runner.invoke(app, ["demo"]).output

    result = runner.invoke(
        app,
        [
            "user",
            "create",
            "--tenant",
            "demo",
            "--role",
            "customer",
            "--email",
            "New@X.test",
            "--password",
            "long enough",
            "--company",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert _count(db, "select count(*) from accounts where email='new@x.test'") == 1
    bad = runner.invoke(app, ["user", "create", "--tenant", "demo", "--role", "nope", "--email", "y@x.test"])
    assert bad.exit_code == 1 and "Unknown role" in bad.output

    backup = data_dir / "backup.db"
    assert runner.invoke(app, ["backup", str(backup)]).exit_code == 0
    tickets = _count(backup, "select count(*) from tickets")
    with sqlite3.connect(db) as conn:
        conn.execute("delete from favorites")
    assert runner.invoke(app, ["restore", str(backup)]).exit_code == 2  # needs --yes
    assert runner.invoke(app, ["restore", str(backup), "--yes"]).exit_code == 0
    assert _count(db, "select count(*) from tickets") == tickets
    assert _count(db, "select count(*) from favorites") > 0
