"""A real SMTP server (aiosmtpd) in-process on 127.0.0.1 and a free port, plus delivery helpers.

Use the ``smtp_server`` fixture (tests/conftest.py wraps ``running_smtp_server``):
it points the worker's settings (``FIXFLOW_SMTP_*``) at the server, so ``drain_jobs`` delivers there.
SMS go to the ``outbox`` gateway; read them with ``sms_to``.
"""

from __future__ import annotations

import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from fixflow.accounts.models import Account
from fixflow.config import get_settings
from fixflow.core.db import Database
from fixflow.jobs.worker import claim_due_jobs, run_job
from fixflow.notifications.models import SmsMessage


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    def link(self, path: str) -> str:
        found = re.search(rf"https?://\S+{re.escape(path)}[A-Za-z0-9_\-]+", self.text)
        assert found, f"no {path} link in:\n{self.text}"
        return found.group(0)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname=self.host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._collector.lock:
            return list(self._collector.messages)

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def one_to(self, address: str) -> ReceivedMail:
        found = self.to(address)
        assert len(found) == 1, f"{len(found)} messages to {address}"
        return found[0]


def point_settings_at(monkeypatch: pytest.MonkeyPatch, host: str, port: int) -> None:
    monkeypatch.setenv("FIXFLOW_SMTP_HOST", host)
    monkeypatch.setenv("FIXFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("FIXFLOW_SMTP_STARTTLS", "false")
    monkeypatch.setenv("FIXFLOW_SMTP_TLS", "false")
    monkeypatch.setenv("FIXFLOW_SMS_PROVIDER", "outbox")
    get_settings.cache_clear()


@contextmanager
def running_smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """Start a server and point the worker's settings at it (the ``smtp_server`` fixture)."""
    server = SmtpServer()
    server.start()
    point_settings_at(monkeypatch, server.host, server.port)
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


def drain_jobs(database: Database, *, rounds: int = 20) -> int:
    """Run due jobs until none is left (a job may queue another, e.g. reset request → e-mail)."""
    done = 0
    for _ in range(rounds):
        ids = claim_due_jobs(database, "tests")
        if not ids:
            return done
        for job_id in ids:
            run_job(database, job_id)
            done += 1
    return done


def sms_to(database: Database, phone: str) -> list[str]:
    with database.session() as session:
        return list(
            session.scalars(select(SmsMessage.text).where(SmsMessage.phone == phone).order_by(SmsMessage.id))
        )


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, f"no code in {text!r}"
    return found.group(1)


def new_phone() -> str:
    """A valid, probably unused Russian mobile number in E.164."""
    return f"+7900{uuid.uuid4().int % 10**7:07d}"


def set_phone(database: Database, account_id: int, phone: str, *, verified: bool = True) -> None:
    with database.session(write=True) as session:
        account = session.get(Account, account_id)
        assert account is not None
        account.phone, account.phone_verified = phone, verified
