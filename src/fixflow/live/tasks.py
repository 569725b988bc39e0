"""Live updates: the outbox consumer (the safety net) and the commit hook (the fast path).

See :mod:`fixflow.live.publishing` for why there are two paths.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from fixflow.jobs.models import OutboxEvent
from fixflow.jobs.registry import event_consumer
from fixflow.live import publishing

publishing.install()


@event_consumer
def republish_live(session: Session, event: OutboxEvent) -> None:
    """Re-publish every committed ticket event when the worker's dispatch transaction commits.

    Usually the commit hook already sent it and hubs drop this copy by event id; it matters when
    the committing process could not publish (crash, bus down, a separate worker process).
    """
    publishing.remember(session, event)
