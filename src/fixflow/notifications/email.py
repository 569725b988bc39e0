"""E-mail: composing a plain-text + HTML message, queueing it, and sending it over SMTP."""

from __future__ import annotations

import asyncio
import html
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib
from sqlalchemy.orm import Session

from fixflow.config import Settings
from fixflow.jobs.outbox import schedule_job

SEND_EMAIL = "send_email"
LOCALES = ("ru", "en")
SMTP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def resolve_locale(*candidates: str | None) -> str:
    """The first supported locale among the candidates (member, tenant, request…), else Russian."""
    for candidate in candidates:
        if candidate:
            short = candidate.strip().lower()[:2]
            if short in LOCALES:
                return short
    return "ru"


def compose_email(
    *,
    subject: str,
    paragraphs: Sequence[str],
    link: str | None = None,
    link_label: str | None = None,
    footer: str = "",
) -> EmailContent:
    """A short message: paragraphs, an optional button-like link, a footer. All text is escaped."""
    text_parts = list(paragraphs)
    html_parts = [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    if link:
        text_parts.append(link)
        label = html.escape(link_label or link)
        html_parts.append(f'<p><a href="{html.escape(link, quote=True)}">{label}</a></p>')
        html_parts.append(f'<p style="color:#666;font-size:12px">{html.escape(link)}</p>')
    if footer:
        text_parts.append(footer)
        html_parts.append(f'<p style="color:#666;font-size:12px">{html.escape(footer)}</p>')
    body = "\n".join(html_parts)
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(subject)}</title></head>'
        f'<body style="font-family:sans-serif;line-height:1.5">{body}</body></html>'
    )
    return EmailContent(subject=subject, text="\n\n".join(text_parts) + "\n", html=page)


def queue_email(session: Session, *, to: str, content: EmailContent, tenant_id: int | None = None) -> None:
    """Send after commit: a ``send_email`` job in the caller's transaction."""
    key = f"{SEND_EMAIL}:{uuid.uuid4().hex}"
    schedule_job(
        session,
        kind=SEND_EMAIL,
        tenant_id=tenant_id,
        dedupe_key=key,
        payload={
            "to": to,
            "subject": content.subject,
            "text": content.text,
            "html": content.html,
            "key": key,
        },
    )


def build_message(settings: Settings, *, to: str, content: EmailContent) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = content.subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.smtp_from)[1].partition("@")[2] or "fixflow.local"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


def send_email(settings: Settings, *, to: str, content: EmailContent) -> None:
    """Deliver over SMTP or raise (the job is then retried). Runs in the worker, never in a request."""
    message = build_message(settings, to=to, content=content)
    asyncio.run(
        aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_tls,
            start_tls=settings.smtp_starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
    )
