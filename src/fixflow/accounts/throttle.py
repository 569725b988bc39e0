"""Sliding-window throttling of failed attempts, kept in the database so every process shares it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fixflow.accounts.models import ThrottleHit
from fixflow.core.db import utcnow
from fixflow.core.errors import Throttled


def hits_in_window(session: Session, key: str, window: dt.timedelta) -> int:
    since = utcnow() - window
    return int(
        session.scalar(select(func.count()).where(ThrottleHit.key == key, ThrottleHit.at >= since)) or 0
    )


def check_throttle(session: Session, keys: dict[str, int], window: dt.timedelta) -> None:
    """Raise :class:`Throttled` if any key has reached its limit of failures within the window."""
    for key, limit in keys.items():
        if hits_in_window(session, key, window) >= limit:
            raise Throttled(
                "Too many attempts. Try again in {minutes} min.",
                retry_after=int(window.total_seconds()),
                minutes=max(1, int(window.total_seconds() // 60)),
            )


def record_hit(session: Session, *keys: str) -> None:
    now = utcnow()
    session.add_all(ThrottleHit(key=key, at=now) for key in keys)


def clear_hits(session: Session, key: str) -> None:
    session.execute(delete(ThrottleHit).where(ThrottleHit.key == key))


def purge_old_hits(session: Session, older_than: dt.timedelta) -> int:
    result = session.execute(delete(ThrottleHit).where(ThrottleHit.at < utcnow() - older_than))
    return int(getattr(result, "rowcount", 0) or 0)
