"""Uploads nobody attached are deleted after their lifetime, rows and files; nothing else is."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from builders import World, make_ticket
from fixflow.attachments import tasks
from fixflow.attachments.models import Attachment
from fixflow.attachments.service import attach_to_ticket, create_attachment, upload_root
from fixflow.attachments.storage import Storage
from fixflow.attachments.sweep import sweep_unbound_uploads
from fixflow.config import Settings
from fixflow.core.db import Database, utcnow
from fixflow.jobs.registry import PERIODIC_TASKS

DAY = dt.timedelta(hours=24)


def _upload(
    database: Database, world: World, storage: Storage, *, age: dt.timedelta, by: str = "customer_a"
) -> int:
    with database.session(write=True) as s:
        attachment = create_attachment(
            s, world.people[by].actor, storage, filename="photo.png", stream=io.BytesIO(b"x"), max_bytes=100
        )
        attachment.created_at = utcnow() - age
        return attachment.id


def _stored(database: Database, storage: Storage, ids: list[int]) -> dict[int, bool]:
    """Which of the ids still have a row and, for those, whether the file is there."""
    with database.session() as s:
        keys = dict(
            s.execute(select(Attachment.id, Attachment.storage_key).where(Attachment.id.in_(ids))).all()
        )
    return {i: i in keys and storage.path(keys[i]).exists() for i in ids}


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "uploads")


def test_only_uploads_left_unbound_past_their_lifetime_go_with_their_files(
    database: Database, world: World, storage: Storage
) -> None:
    stale = _upload(database, world, storage, age=DAY + dt.timedelta(minutes=1))
    fresh = _upload(database, world, storage, age=DAY - dt.timedelta(minutes=1))
    attached = _upload(database, world, storage, age=2 * DAY)
    with database.session(write=True) as s:
        ticket = make_ticket(s, world)
        attach_to_ticket(s, world.customer_a.actor, [attached], ticket)
        stale_key = s.get(Attachment, stale).storage_key  # type: ignore[union-attr]
    with database.session(write=True) as s:
        assert sweep_unbound_uploads(s, storage, now=utcnow()) == 1
        assert storage.path(stale_key).exists()  # not before the rows' deletion commits
    assert _stored(database, storage, [stale, fresh, attached]) == {stale: False, fresh: True, attached: True}
    assert not storage.path(stale_key).exists()


def test_a_sweep_rolled_back_deletes_no_file(database: Database, world: World, storage: Storage) -> None:
    stale = _upload(database, world, storage, age=2 * DAY)
    with pytest.raises(RuntimeError), database.session(write=True) as s:
        assert sweep_unbound_uploads(s, storage, now=utcnow()) == 1
        raise RuntimeError("the worker's transaction fails")
    assert _stored(database, storage, [stale]) == {stale: True}
    with database.session(write=True) as s:
        assert sweep_unbound_uploads(s, storage, now=utcnow()) == 1
    assert _stored(database, storage, [stale]) == {stale: False}


def test_a_run_deletes_a_batch_oldest_first(database: Database, world: World, storage: Storage) -> None:
    ids = [_upload(database, world, storage, age=DAY + dt.timedelta(hours=h)) for h in (1, 3, 2)]
    with database.session(write=True) as s:
        assert sweep_unbound_uploads(s, storage, now=utcnow(), batch=2) == 2
    assert _stored(database, storage, ids) == {ids[0]: True, ids[1]: False, ids[2]: False}


def test_the_worker_sweeps_the_configured_upload_folder_after_the_configured_hours(
    database: Database, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(env="test", data_dir=tmp_path / "data", unbound_upload_hours=2)
    storage = Storage(upload_root(settings.data_dir))
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    old = _upload(database, world, storage, age=dt.timedelta(hours=3))
    recent = _upload(database, world, storage, age=dt.timedelta(hours=1))
    every, task = PERIODIC_TASKS[tasks.SWEEP_TASK]
    assert every <= 3600
    with database.session(write=True) as s:
        task(s)
    assert _stored(database, storage, [old, recent]) == {old: False, recent: True}
    with database.session() as s:  # nothing else of the tenant was touched
        left = s.scalars(select(Attachment.id).where(Attachment.tenant_id == world.tenant_id)).all()
    assert left == [recent]
