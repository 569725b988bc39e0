"""Ticket numbers from a type's mask, e.g. ``{YY}{MM}-{####}`` → ``2611-0042``."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fixflow.catalogs.models import TicketCounter
from fixflow.core.errors import ValidationFailed

_TOKEN = re.compile(r"\{(YYYY|YY|MM|DD|CODE|#+)\}")


def validate_mask(mask: str) -> None:
    if not re.search(r"\{#+\}", mask):
        raise ValidationFailed("A number mask needs a counter such as {####}")
    leftovers = _TOKEN.sub("", mask)
    if "{" in leftovers or "}" in leftovers:
        raise ValidationFailed("Unknown placeholder in the number mask")


def render_number(mask: str, counter: int, *, at: dt.datetime, company_code: str | None = None) -> str:
    def substitute(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("#"):
            return f"{counter:0{len(token)}d}"
        return {
            "YYYY": f"{at.year:04d}",
            "YY": f"{at.year % 100:02d}",
            "MM": f"{at.month:02d}",
            "DD": f"{at.day:02d}",
            "CODE": company_code or "",
        }[token]

    return _TOKEN.sub(substitute, mask)


def take_counters(session: Session, tenant_id: int, ticket_type_id: int, n: int = 1) -> int:
    """Atomically advance the (tenant, type) counter by ``n`` and return the last value taken.

    A batch takes its whole range in one statement. On PostgreSQL the counter advances in its own short
    transaction: numbers need not be gap-free, and holding the row lock until the request commits would
    queue every ticket creation of a tenant behind the slowest one. (SQLite serialises writers anyway.)
    """
    advance = (
        update(TicketCounter)
        .where(TicketCounter.tenant_id == tenant_id, TicketCounter.ticket_type_id == ticket_type_id)
        .values(value=TicketCounter.value + n)
        .returning(TicketCounter.value)
    )
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        with bind.begin() as connection:
            value = connection.scalar(advance)
        if value is not None:
            return int(value)
    value = session.scalar(advance)
    if value is None:
        session.add(TicketCounter(tenant_id=tenant_id, ticket_type_id=ticket_type_id, value=n))
        session.flush()
        return n
    return int(value)


def next_counter(session: Session, tenant_id: int, ticket_type_id: int) -> int:
    return take_counters(session, tenant_id, ticket_type_id, 1)
