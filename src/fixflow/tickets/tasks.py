"""Background jobs of the tickets feature."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from fixflow.jobs.registry import job_handler
from fixflow.tickets.transitions import fire_auto_transition


@job_handler("auto_transition")
def run_auto_transition(session: Session, payload: dict[str, Any]) -> None:
    fire_auto_transition(
        session,
        ticket_id=int(payload["ticket_id"]),
        transition_id=int(payload["transition_id"]),
        entered_at=str(payload["entered_at"]),
    )
