"""Extension points that later features (additional fields, checklists, acts) plug into.

The ticket services call these instead of knowing about the features; a feature replaces the
default by assigning to ``EXTENSIONS`` when its module is imported (see ``fixflow.discovery``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from fixflow.core.errors import FieldProblem

if TYPE_CHECKING:
    from fixflow.accounts.actor import Actor
    from fixflow.tickets.models import Ticket


class TicketFieldsExtension(Protocol):
    def validate_create(
        self, session: Session, actor: Actor, ticket_type_id: int, start_stage_id: int, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        """The stored document for a new ticket, or problems keyed ``fields.<code>``."""

    def validate_update(
        self, session: Session, actor: Actor, ticket: Ticket, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        """The new stored document after applying ``raw`` (history is the caller's job)."""

    def missing_for_stage(self, session: Session, ticket: Ticket, to_stage_id: int) -> list[str]:
        """Names of fields required to enter the stage that are still empty."""

    def api_values(self, session: Session, actor: Actor, ticket: Ticket) -> dict[str, Any]:
        """Typed values the actor may see at the ticket's stage (hidden fields absent)."""

    def filter_terms(self, session: Session, actor: Actor, raw: dict[str, str]) -> list[ColumnElement[bool]]:
        """SQL terms for ``f.<code>…`` list filters the actor may use."""

    def form_widgets(
        self, session: Session, actor: Actor, ticket_type_id: int, ticket: Ticket | None
    ) -> list[dict[str, Any]]:
        """Inputs for an HTML form (creation when ``ticket`` is None): dicts with keys code, name, type,
        required, help, choices [(value, label)], value (stored form), readonly, min, max, max_length."""

    def display_items(self, session: Session, actor: Actor, ticket: Ticket) -> list[dict[str, Any]]:
        """Read-only values for the ticket profile: dicts with keys code, name, type, text."""


class NoTicketFields:
    """Before the fields feature: no additional fields exist, so any given value is unknown."""

    def validate_create(
        self, session: Session, actor: Actor, ticket_type_id: int, start_stage_id: int, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        return {}, [FieldProblem(f"fields.{code}", "Unknown field") for code in raw]

    def validate_update(
        self, session: Session, actor: Actor, ticket: Ticket, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        return dict(ticket.fields), [FieldProblem(f"fields.{code}", "Unknown field") for code in raw]

    def missing_for_stage(self, session: Session, ticket: Ticket, to_stage_id: int) -> list[str]:
        return []

    def api_values(self, session: Session, actor: Actor, ticket: Ticket) -> dict[str, Any]:
        return {}

    def filter_terms(self, session: Session, actor: Actor, raw: dict[str, str]) -> list[ColumnElement[bool]]:
        from fixflow.core.errors import ValidationFailed

        if raw:
            raise ValidationFailed("Unknown field filter: {names}", names=", ".join(sorted(raw)))
        return []

    def form_widgets(
        self, session: Session, actor: Actor, ticket_type_id: int, ticket: Ticket | None
    ) -> list[dict[str, Any]]:
        return []

    def display_items(self, session: Session, actor: Actor, ticket: Ticket) -> list[dict[str, Any]]:
        return []


@dataclass
class Extensions:
    fields: TicketFieldsExtension = field(default_factory=NoTicketFields)


EXTENSIONS = Extensions()
