"""Job handlers that deliver e-mail and SMS, and the deferred halves of the account-recovery requests.

Settings come from the environment (``get_settings``): the worker is its own process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fixflow.accounts.otp import LOGIN_CODE_REQUEST, deliver_login_code
from fixflow.accounts.recovery import PASSWORD_RESET_REQUEST, deliver_password_reset
from fixflow.config import get_settings
from fixflow.jobs.models import Job
from fixflow.jobs.registry import job_handler
from fixflow.notifications.email import SEND_EMAIL, EmailContent, send_email
from fixflow.notifications.sms import SEND_SMS, sms_gateway


def _redact(session: Session, payload: dict[str, Any], *keep: str) -> None:
    """Drop message bodies (links, codes) from the finished job: only hashes of secrets stay stored."""
    key = payload.get("key")
    if not key:
        return
    job = session.scalar(select(Job).where(Job.dedupe_key == key))
    if job is not None:
        job.payload = {k: payload[k] for k in (*keep, "key") if k in payload} | {"redacted": True}


@job_handler(SEND_EMAIL)
def run_send_email(session: Session, payload: dict[str, Any]) -> None:
    content = EmailContent(subject=payload["subject"], text=payload["text"], html=payload["html"])
    send_email(get_settings(), to=payload["to"], content=content)
    _redact(session, payload, "to", "subject")


@job_handler(SEND_SMS)
def run_send_sms(session: Session, payload: dict[str, Any]) -> None:
    tenant_id = payload.get("tenant_id")
    gateway = sms_gateway(session, get_settings(), tenant_id=int(tenant_id) if tenant_id else None)
    gateway.send(payload["phone"], payload["text"])
    _redact(session, payload, "phone")


@job_handler(PASSWORD_RESET_REQUEST)
def run_password_reset_request(session: Session, payload: dict[str, Any]) -> None:
    deliver_password_reset(session, payload)


@job_handler(LOGIN_CODE_REQUEST)
def run_login_code_request(session: Session, payload: dict[str, Any]) -> None:
    deliver_login_code(session, payload)
