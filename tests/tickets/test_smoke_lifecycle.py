from __future__ import annotations

from sqlalchemy.orm import Session

from builders import STAGE_PATHS, ticket_in_stage
from fixflow.workflow.models import Stage


def test_every_stage_of_the_default_lifecycle_is_reachable(session: Session, sworld) -> None:  # type: ignore[no-untyped-def]
    for stage_name in STAGE_PATHS:
        ticket = ticket_in_stage(session, sworld, stage_name, approver="customer_a")
        stage = session.get(Stage, ticket.stage_id)
        assert stage is not None and stage.name == stage_name
