"""Reusable member predicates."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select

from fixflow.accounts.models import Member, MemberRole, Role


def eligible_executor() -> ColumnElement[bool]:
    """A field employee: flagged mobile, not deleted, and holding a staff role (the flag alone is not
    enough — anyone can carry it, customers included)."""
    staff_members = (
        select(MemberRole.member_id).join(Role, Role.id == MemberRole.role_id).where(Role.is_staff.is_(True))
    )
    return and_(Member.is_mobile.is_(True), Member.deleted_at.is_(None), Member.id.in_(staff_members))
