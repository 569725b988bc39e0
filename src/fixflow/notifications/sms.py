"""SMS: a gateway protocol, the default table-backed gateway, an HTTP gateway, and queueing."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol
from urllib.parse import quote

import httpx
from sqlalchemy.orm import Session

from fixflow.config import Settings
from fixflow.jobs.outbox import schedule_job
from fixflow.notifications.models import SmsMessage

log = logging.getLogger("fixflow.sms")

SEND_SMS = "send_sms"
HTTP_TIMEOUT_SECONDS = 10.0


class SmsGateway(Protocol):
    def send(self, phone_e164: str, text: str) -> None:
        """Deliver one message or raise (the job is then retried with back-off)."""


class OutboxSmsGateway:
    """Stores every message in ``sms_messages`` and logs it: for development, tests and demos."""

    def __init__(self, session: Session, *, tenant_id: int | None = None) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def send(self, phone_e164: str, text: str) -> None:
        self.session.add(SmsMessage(tenant_id=self.tenant_id, phone=phone_e164, text=text, status="stored"))
        self.session.flush()
        log.info("sms to %s: %s", phone_e164, text)


class HttpSmsGateway:
    """Calls a provider URL such as ``https://gw.example/send?to={phone}&text={text}``."""

    def __init__(
        self,
        url_template: str,
        method: str = "POST",
        *,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if "{phone}" not in url_template or "{text}" not in url_template:
            raise ValueError("sms_http_url_template needs the {phone} and {text} placeholders")
        self.url_template = url_template
        self.method = method
        self.timeout = timeout
        self.transport = transport

    def url_for(self, phone_e164: str, text: str) -> str:
        # Plain replacement, not str.format: provider URLs may contain other braces.
        return self.url_template.replace("{phone}", quote(phone_e164, safe="")).replace(
            "{text}", quote(text, safe="")
        )

    def send(self, phone_e164: str, text: str) -> None:
        with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
            response = client.request(self.method, self.url_for(phone_e164, text))
        response.raise_for_status()  # non-2xx → the job fails and is retried
        log.info("sms to %s accepted by the gateway (%s)", phone_e164, response.status_code)


def sms_gateway(session: Session, settings: Settings, *, tenant_id: int | None = None) -> SmsGateway:
    if settings.sms_provider == "http":
        return HttpSmsGateway(settings.sms_http_url_template, settings.sms_http_method)
    return OutboxSmsGateway(session, tenant_id=tenant_id)


def queue_sms(session: Session, *, phone: str, text: str, tenant_id: int | None = None) -> None:
    """Send after commit: a ``send_sms`` job in the caller's transaction."""
    key = f"{SEND_SMS}:{uuid.uuid4().hex}"
    schedule_job(
        session,
        kind=SEND_SMS,
        tenant_id=tenant_id,
        dedupe_key=key,
        payload={"phone": phone, "text": text, "tenant_id": tenant_id, "key": key},
    )
