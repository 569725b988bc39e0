"""Uploads nobody attached: deleted, rows and files, once they are older than a day.

A file is stored as soon as it is chosen (the app's ticket form keeps it across a form that comes back
with errors; the API uploads first and attaches after), so an abandoned form or upload leaves an unbound
file behind. Only its uploader could ever see or attach it. After ``lifetime`` it goes: the rows in the
worker's transaction, the files once that transaction has committed, so a rolled-back sweep deletes
nothing and a file is never gone while its row is still there.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, delete, event, select
from sqlalchemy.orm import Session

from fixflow.attachments.models import Attachment
from fixflow.attachments.storage import Storage

UNBOUND_LIFETIME = dt.timedelta(hours=24)
SWEEP_BATCH = 500  # rows a run deletes at most: the transaction stays short, the next run goes on

_UNBOUND = and_(
    Attachment.ticket_id.is_(None), Attachment.object_id.is_(None), Attachment.company_id.is_(None)
)


def sweep_unbound_uploads(
    session: Session,
    storage: Storage,
    *,
    now: dt.datetime,
    lifetime: dt.timedelta = UNBOUND_LIFETIME,
    batch: int = SWEEP_BATCH,
) -> int:
    """Delete up to ``batch`` uploads still unbound ``lifetime`` after they were stored; their files
    are deleted when the session commits. Returns how many."""
    oldest = list(
        session.scalars(
            select(Attachment.id)
            .where(_UNBOUND, Attachment.created_at < now - lifetime)
            .order_by(Attachment.created_at)
            .limit(batch)
            .with_for_update(skip_locked=True)  # PostgreSQL: a row being attached right now is left alone
        )
    )
    if not oldest:
        return 0
    # The rows are locked now (PostgreSQL); the condition again all the same, for SQLite's sake. (As one
    # DELETE … IN (SELECT … LIMIT … FOR UPDATE SKIP LOCKED), PostgreSQL deleted more than the limit.)
    gone = delete(Attachment).where(Attachment.id.in_(oldest), _UNBOUND).returning(Attachment.storage_key)
    keys = list(session.scalars(gone, execution_options={"synchronize_session": False}))
    if keys:
        _delete_on_commit(session, storage, keys)
    return len(keys)


_PENDING = "fixflow.unbound_files"  # session.info: (storage, keys) to delete once the session commits


def _delete_on_commit(session: Session, storage: Storage, keys: list[str]) -> None:
    if not event.contains(session, "after_commit", _committed):
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)
    _storage, pending = session.info.get(_PENDING, (storage, []))
    session.info[_PENDING] = (storage, [*pending, *keys])


def _committed(session: Session) -> None:
    found = session.info.pop(_PENDING, None)
    if found is not None:
        _delete_files(*found)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)  # the rows are back, and so stay their files


def _delete_files(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        storage.delete(key)
