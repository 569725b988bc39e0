"""Notification preferences (event × channel) and the language of a member (profile screen)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from fixflow.accounts.actor import Actor
from fixflow.accounts.models import Member
from fixflow.core.errors import NotFound, ValidationFailed
from fixflow.notifications.email import LOCALES
from fixflow.tenants.models import Tenant

EVENTS = ("created", "status_changed", "approval_requested", "work_submitted", "message_posted")
CHANNELS = ("in_app", "email", "sms")

# In the app for everything; e-mail when something waits for me or changes; SMS only when asked for.
DEFAULTS: dict[str, dict[str, bool]] = {
    "created": {"in_app": True, "email": False, "sms": False},
    "status_changed": {"in_app": True, "email": True, "sms": False},
    "approval_requested": {"in_app": True, "email": True, "sms": False},
    "work_submitted": {"in_app": True, "email": True, "sms": False},
    "message_posted": {"in_app": True, "email": False, "sms": False},
}


@dataclass(frozen=True)
class Preferences:
    events: dict[str, dict[str, bool]]
    locale: str  # the effective language (the member's choice, else the tenant's)
    locale_is_default: bool


def effective_events(stored: Mapping[str, object] | None) -> dict[str, dict[str, bool]]:
    """Defaults overlaid with what is stored; unknown keys in storage are ignored."""
    result = {event: dict(channels) for event, channels in DEFAULTS.items()}
    for event, channels in (stored or {}).items():
        if event in result and isinstance(channels, Mapping):
            for channel, value in channels.items():
                if channel in CHANNELS and isinstance(value, bool):
                    result[event][channel] = value
    return result


def wants(member: Member, event: str, channel: str) -> bool:
    """Whether this member wants ``event`` by ``channel`` (for whoever sends notifications)."""
    return effective_events(member.notification_prefs).get(event, {}).get(channel, False)


def _member(session: Session, actor: Actor) -> Member:
    member = session.get(Member, actor.member_id)
    if member is None:
        raise NotFound("Member not found")
    return member


def _preferences(session: Session, member: Member) -> Preferences:
    tenant = session.get(Tenant, member.tenant_id)
    fallback = tenant.default_locale if tenant and tenant.default_locale in LOCALES else "ru"
    return Preferences(
        events=effective_events(member.notification_prefs),
        locale=member.locale if member.locale in LOCALES else fallback,
        locale_is_default=member.locale not in LOCALES,
    )


def get_preferences(session: Session, actor: Actor) -> Preferences:
    return _preferences(session, _member(session, actor))


def update_preferences(
    session: Session,
    actor: Actor,
    *,
    events: Mapping[str, Mapping[str, bool]] | None = None,
    locale: str | None = None,
) -> Preferences:
    """Change the given events' channels (others stay) and/or the language."""
    member = _member(session, actor)
    if events:
        unknown = sorted(
            {e for e in events if e not in EVENTS}
            | {f"{e}.{c}" for e, chans in events.items() for c in chans if c not in CHANNELS}
        )
        if unknown:
            raise ValidationFailed("Unknown notification setting: {names}", names=", ".join(unknown))
        merged = effective_events(member.notification_prefs)
        for event, channels in events.items():
            merged[event].update({c: bool(v) for c, v in channels.items()})
        member.notification_prefs = merged  # a new dict, so the JSON column is seen as changed
    if locale is not None:
        if locale not in LOCALES:
            raise ValidationFailed("Unknown language: {locale}", locale=locale)
        member.locale = locale
    session.flush()
    return _preferences(session, member)
