"""``Idempotency-Key`` support for create requests: a retried request gets the first response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.core.errors import Conflict, ValidationFailed
from fixflow.tickets.models import IdempotencyRecord


def request_fingerprint(method: str, path: str, body: Any) -> str:
    raw = json.dumps([method, path, body], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def find_replay(session: Session, actor: Actor, key: str, fingerprint: str) -> IdempotencyRecord | None:
    if not key or len(key) > 200:
        raise ValidationFailed("Idempotency-Key must be 1–200 characters")
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == actor.tenant_id,
            IdempotencyRecord.member_id == actor.member_id,
            IdempotencyRecord.key == key,
        )
    )
    if record is not None and record.request_hash != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different request")
    return record


def remember(
    session: Session, actor: Actor, key: str, fingerprint: str, status_code: int, response: dict[str, Any]
) -> None:
    session.add(
        IdempotencyRecord(
            tenant_id=actor.tenant_id,
            member_id=actor.member_id,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response=response,
        )
    )
    session.flush()


def create_once(
    session: Session,
    actor: Actor,
    key: str | None,
    *,
    path: str,
    body: dict[str, Any],
    create: Callable[[], dict[str, Any]],
) -> tuple[int, dict[str, Any]]:
    """Run ``create`` (returning the response payload) unless this key already did; (status, payload)."""
    fingerprint = request_fingerprint("POST", path, body)
    if key is not None:
        replay = find_replay(session, actor, key, fingerprint)
        if replay is not None:
            return replay.status_code, replay.response
    payload = create()
    if key is not None:
        remember(session, actor, key, fingerprint, 201, payload)
    return 201, payload
